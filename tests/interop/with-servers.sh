#!/usr/bin/env bash
# Runs one command with the interop servers up: starts them (servers.sh) in a fresh state
# directory, exports CONNMATRIX_FIXTURE_DIR (where servers.env is), runs the command, then stops
# every server -- also when the command fails or this script gets INT/TERM/HUP (a Meson test
# timeout) -- and exits with the command's status. CONNMATRIX_KEEP_FIXTURE=1 keeps the logs.
# Usage: tests/interop/with-servers.sh [--certs CERT_DIR] COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
certs=${CONNMATRIX_CERT_DIR:-}
if [ "${1:-}" = --certs ]; then
  [ $# -ge 2 ] || { sed -n '6p' "$0" | sed 's/^# //' >&2; exit 2; }
  certs=$2
  shift 2
fi
[ $# -ge 1 ] || { sed -n '6p' "$0" | sed 's/^# //' >&2; exit 2; }
state=$(mktemp -d /tmp/connmatrix-fixture.XXXXXX)
child=
cleanup() {
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null || true
  "$here/servers.sh" stop "$state" || true
  if [ -n "${CONNMATRIX_KEEP_FIXTURE:-}" ]; then
    echo "with-servers.sh: logs kept in $state/logs" >&2
  else
    rm -rf "$state"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Ports are picked free just before each server binds them, so another process can take one in
# between (tinyproxy then says "Could not create listening sockets"): one more try, on fresh ports.
if ! "$here/servers.sh" start "$state" "$certs"; then
  echo "with-servers.sh: the fixture did not come up; trying once more on fresh ports" >&2
  "$here/servers.sh" stop "$state" || true
  "$here/servers.sh" start "$state" "$certs"
fi
export CONNMATRIX_FIXTURE_DIR=$state
# In the background and waited for, so a signal runs the traps at once.
"$@" &
child=$!
rc=0
wait "$child" || rc=$?
child=
exit $rc
