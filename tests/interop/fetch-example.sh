#!/usr/bin/env bash
# Runs examples/fetch against the fixture (started by with-servers.sh) with each backend given:
# nghttpd_alpn must be fetched over h2 and nginx_h1 over HTTP/1.1, both confirmed by ALPN.
# Usage: with-servers.sh fetch-example.sh FETCH_BINARY BACKEND...
set -euo pipefail
fetch=$1
shift
env_file=${CONNMATRIX_FIXTURE_DIR:?run through tests/interop/with-servers.sh}/servers.env
get() { grep "^$1=" "$env_file" | head -n 1 | cut -d= -f2-; }
ca=$(get CA_FILE)
hello=$(get HELLO_PATH)
failed=0
for backend in "$@"; do
  for case in "nghttpd_alpn h2" "nginx_h1 http/1.1"; do
    read -r server proto <<<"$case"
    up=${server^^}
    url=$(get "${up}_URL")
    url=${url%/}$hello
    expected="status 200
protocol $proto
alpn $proto
backend $backend

$(get "${up}_BODY")"
    if out=$("$fetch" "$url" "$backend" alpn "$ca" 2>&1) && [ "$out" = "$expected" ]; then
      echo "ok: fetch $url with $backend: $proto"
    else
      echo "FAILED: fetch $url $backend alpn: expected"
      echo "$expected" | sed 's/^/    /'
      echo "  got"
      echo "$out" | sed 's/^/    /'
      failed=1
    fi
  done
done
exit $failed
