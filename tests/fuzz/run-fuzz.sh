#!/usr/bin/env bash
# Fuzz one libFuzzer target for a bounded time (tests/fuzz/README.md).
#   tests/fuzz/run-fuzz.sh BUILD_DIR TARGET [SECONDS=60]
# TARGET: config_loader, tls_hello, http1_response, h2_client, host_pattern or
# tls_client_<backend> (openssl, gnutls, mbedtls: those the build has). BUILD_DIR must be (or
# will be) a clang build with -Dfuzzing=true; when it does not exist yet it is set up with
# CXX=clang++-14. Seeds are copied (libFuzzer writes new inputs only to
# BUILD_DIR/fuzz/TARGET/corpus, never into the source tree): config_loader takes configs/*.json
# and tests/configs/invalid/*.json, http1_response tests/http1/corpus/, the others
# tests/fuzz/corpus/TARGET/. A dictionary is used when there is one: tests/fuzz/TARGET.dict
# (config_loader: config.dict; http1_response: tests/http1/http1.dict; tls_client_*:
# tls_client.dict). A finding is saved under BUILD_DIR/fuzz/TARGET/artifacts/ and makes the
# script fail; the last lines of the run say how far it got (cov, ft, corpus, execs).
set -euo pipefail

build=${1:?usage: run-fuzz.sh BUILD_DIR TARGET [SECONDS]}
name=${2:?usage: run-fuzz.sh BUILD_DIR TARGET [SECONDS]}
seconds=${3:-60}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=tests/fuzz/${name}_fuzz

if [ ! -f "$build/build.ninja" ]; then
    CXX=${CXX:-clang++-14} meson setup "$build" "$src" -Dfuzzing=true
fi
if ! ninja -C "$build" -t query "$target" >/dev/null 2>&1; then
    echo "run-fuzz.sh: $build has no $target: configure it with clang and -Dfuzzing=true" >&2
    exit 2
fi
ninja -C "$build" -j "$(nproc 2>/dev/null || echo 2)" "$target"

work="$build/fuzz/$name"
mkdir -p "$work/corpus" "$work/artifacts"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
dict=()
case "$name" in
    config_loader)
        cp "$src"/configs/*.json "$src"/tests/configs/invalid/*.json "$seeds"/
        dict=(-dict="$src/tests/fuzz/config.dict")
        ;;
    http1_response)
        cp "$src"/tests/http1/corpus/* "$seeds"/
        dict=(-dict="$src/tests/http1/http1.dict")
        ;;
    tls_client_*)
        cp "$src"/tests/fuzz/corpus/"$name"/* "$seeds"/
        dict=(-dict="$src/tests/fuzz/tls_client.dict")
        ;;
    *)
        cp "$src"/tests/fuzz/corpus/"$name"/* "$seeds"/
        [ -f "$src/tests/fuzz/$name.dict" ] && dict=(-dict="$src/tests/fuzz/$name.dict")
        ;;
esac

echo "fuzzing $name for ${seconds}s (corpus: $work/corpus)"
status=0
"$build/$target" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -max_len=16384 \
    "${dict[@]}" \
    -artifact_prefix="$work/artifacts/" \
    -print_final_stats=1 \
    "$work/corpus" "$seeds" || status=$?

if [ "$status" -ne 0 ]; then
    echo "run-fuzz.sh: the $name fuzzer found a problem (exit $status); inputs:" >&2
    ls -l "$work/artifacts" >&2 || true
    exit "$status"
fi
echo "run-fuzz.sh: $name: no finding in ${seconds}s"
