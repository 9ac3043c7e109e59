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

# chromium: the cli_probe_html test renders probe --html's page in it (headless, offline).
# libcurl4-openssl-dev: bench/curl_peer, libcurl as the peer of the bench_smoke test (bench/).
# ccache: the single-backend configurations compile mostly the very files the first one did
# (Meson picks ccache up by itself); the cache lives in the checkout, beside the build dirs.
scripts/deps.sh chromium ccache libcurl4-openssl-dev
export CCACHE_DIR=${CCACHE_DIR:-$root/build-ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1

configs=(
  "all:-Dopenssl=enabled -Dgnutls=enabled -Dmbedtls=enabled"
  "openssl-only:-Dopenssl=enabled -Dgnutls=disabled -Dmbedtls=disabled"
  "gnutls-only:-Dopenssl=disabled -Dgnutls=enabled -Dmbedtls=disabled"
  "mbedtls-only:-Dopenssl=disabled -Dgnutls=disabled -Dmbedtls=enabled"
)
[ "${1:-}" = "--quick" ] && configs=("${configs[0]}")

# shellcheck source=scripts/test-config.sh
. scripts/test-config.sh
passed=0 failed=0 skipped=0
# Every failure is listed again just above the summary line, where a log's tail shows it.
# (.ci/run passes its own file, to list the failures of all its stages together.)
own_failures=
if [ -z "${FAILURES_FILE:-}" ]; then
  FAILURES_FILE=$(mktemp) own_failures=1
fi
export FAILURES_FILE
# -O2 with assertions, without debug info: these builds are for running tests, and -g costs
# about a third of their compile time (the sanitizer build in .ci/run keeps it, for its reports).
for entry in "${configs[@]}"; do
  name=${entry%%:*}
  test_config "$name" "$root/build-test-$name" "${entry#*:} -Ddebug=false" all
done
if [ -n "$own_failures" ]; then
  [ -s "$FAILURES_FILE" ] && { echo "--- failures:"; cat "$FAILURES_FILE"; }
  rm -f "$FAILURES_FILE"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
