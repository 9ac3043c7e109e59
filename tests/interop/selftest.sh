#!/usr/bin/env bash
# Self-test of the interop fixture: start every server, probe each with check-servers.sh, stop,
# and verify that nothing the fixture started is left running. Exit 0 when all of that holds.
# Usage: tests/interop/selftest.sh [CERT_DIR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$(mktemp -d /tmp/connmatrix-fixture.XXXXXX)
trap '"$here/servers.sh" stop "$state"; rm -rf "$state"' EXIT
"$here/servers.sh" start "$state" "${1:-${CONNMATRIX_CERT_DIR:-}}"
pids=$(cat "$state"/pids/*.pid)
rc=0
"$here/check-servers.sh" "$state" || rc=1
"$here/servers.sh" stop "$state"
sleep 0.2
for pid in $pids; do
  if ps -e -o pgid=,stat= | awk -v g="$pid" '$1 == g && $2 !~ /^Z/' | grep -q .; then
    echo "selftest: process group $pid still running after stop" >&2
    rc=1
  fi
done
[ $rc -eq 0 ] && echo "selftest: fixture ok"
exit $rc
