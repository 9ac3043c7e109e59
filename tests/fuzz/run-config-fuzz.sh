#!/usr/bin/env bash
# Fuzz the configuration loader for a bounded time.
#   tests/fuzz/run-config-fuzz.sh BUILD_DIR [SECONDS=60]
# BUILD_DIR must be (or will be) a clang build with -Dfuzzing=true; when it does not exist yet it
# is set up with CXX=clang++-14 and -Dtests=false. Seeds: configs/*.json and
# tests/configs/invalid/*.json (copied: libFuzzer writes new inputs only to
# BUILD_DIR/fuzz/config_loader/corpus, never into the source tree). A finding is saved under
# BUILD_DIR/fuzz/config_loader/artifacts/ and makes the script fail.
set -euo pipefail

build=${1:?usage: run-config-fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=tests/fuzz/config_loader_fuzz

if [ ! -f "$build/build.ninja" ]; then
    CXX=${CXX:-clang++-14} meson setup "$build" "$src" -Dfuzzing=true -Dtests=false
fi
if ! ninja -C "$build" -t query "$target" >/dev/null 2>&1; then
    echo "run-config-fuzz.sh: $build has no $target: configure it with clang and -Dfuzzing=true" >&2
    exit 2
fi
ninja -C "$build" "$target"

work="$build/fuzz/config_loader"
mkdir -p "$work/corpus" "$work/artifacts"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cp "$src"/configs/*.json "$src"/tests/configs/invalid/*.json "$seeds"/

echo "fuzzing the config loader for ${seconds}s (corpus: $work/corpus)"
status=0
"$build/$target" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -max_len=16384 \
    -dict="$src/tests/fuzz/config.dict" \
    -artifact_prefix="$work/artifacts/" \
    -print_final_stats=1 \
    "$work/corpus" "$seeds" || status=$?

if [ "$status" -ne 0 ]; then
    echo "run-config-fuzz.sh: the fuzzer found a problem (exit $status); inputs:" >&2
    ls -l "$work/artifacts" >&2 || true
    exit "$status"
fi
echo "run-config-fuzz.sh: no finding in ${seconds}s"
