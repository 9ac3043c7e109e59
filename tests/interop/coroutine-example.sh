#!/usr/bin/env bash
# Runs examples/coroutine_client (100 coroutines, the Client on the example's own io_context)
# against the fixture (started by with-servers.sh): all 100 must succeed, over h2 on
# nghttpd_alpn (on one connection: 99 reused) and over HTTP/1.1 on nginx_h1.
# Usage: with-servers.sh coroutine-example.sh COROUTINE_CLIENT_BINARY
set -euo pipefail
client=$1
env_file=${CONNMATRIX_FIXTURE_DIR:?run through tests/interop/with-servers.sh}/servers.env
get() { grep "^$1=" "$env_file" | head -n 1 | cut -d= -f2-; }
ca=$(get CA_FILE)
hello=$(get HELLO_PATH)
failed=0
for case in "nghttpd_alpn h2" "nginx_h1 http/1.1"; do
  read -r server proto <<<"$case"
  up=${server^^}
  url=$(get "${up}_URL")
  url=${url%/}$hello
  if out=$(timeout 60 "$client" "$url" "$ca" 2>&1) &&
    grep -q '^100 of 100 ok in [0-9]* ms, [0-9]* on a reused connection$' <<<"$out" &&
    grep -qx "  $proto: 100" <<<"$out" &&
    { [ "$proto" != h2 ] || grep -q ' 99 on a reused connection$' <<<"$out"; }; then
    echo "ok: coroutine_client $url: 100 over $proto"
  else
    echo "FAILED: coroutine_client $url: expected 100 of 100 ok over $proto$([ "$proto" = h2 ] && echo ', 99 reused'); got"
    echo "$out" | sed 's/^/    /'
    failed=1
  fi
done
exit $failed
