#!/usr/bin/env bash
# Runs every connmatrix test: installs what is missing (Debian 12), builds with all three TLS
# backends and runs the suites, then builds and tests each single-backend configuration, so a
# consumer's one-backend build is proven too. Ends with one line: "N passed, N failed".
#
# Usage: ./test.sh            (all configurations)
#        ./test.sh --quick    (the all-backends configuration only)
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD

scripts/deps.sh

configs=(
  "all:-Dopenssl=enabled -Dgnutls=enabled -Dmbedtls=enabled"
  "openssl-only:-Dopenssl=enabled -Dgnutls=disabled -Dmbedtls=disabled"
  "gnutls-only:-Dopenssl=disabled -Dgnutls=enabled -Dmbedtls=disabled"
  "mbedtls-only:-Dopenssl=disabled -Dgnutls=disabled -Dmbedtls=enabled"
)
[ "${1:-}" = "--quick" ] && configs=("${configs[0]}")

jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 skipped=0
for entry in "${configs[@]}"; do
  name=${entry%%:*}
  opts=${entry#*:}
  dir="$root/build-test-$name"
  echo "=== $name: $opts"
  # shellcheck disable=SC2086
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" $opts >/dev/null
  else
    meson setup "$dir" $opts --buildtype=debugoptimized >/dev/null
  fi
  if ! ninja -C "$dir" -j "$jobs" >"$dir/build-output.txt" 2>&1; then
    tail -n 60 "$dir/build-output.txt"
    echo "build failed for $name"
    failed=$((failed + 1))
    continue
  fi
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" || true
  read -r p f s < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
with open(sys.argv[1]) as fh:
    for line in fh:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
print(p, f, s)
PY
)
  echo "--- $name: $p passed, $f failed, $s skipped"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
