# Sourced by test.sh and .ci/run: builds one configuration and runs its tests, adding the
# outcome to the caller's `passed`, `failed` and `skipped` counters.
#
#   test_config NAME DIR "MESON OPTIONS" all|needed [meson test arguments...]
#
# `all` builds the whole tree first (a build error counts as one failure); `needed` builds only
# what the selected tests need. When SANITIZER_REPORTS names a directory, the sanitizer
# runtimes' log_path points there (the caller sets ASAN_OPTIONS etc. to say so): any report
# written into it, by a test or by a program a test started, counts as one more failure, and is
# printed.
# When FAILURES_FILE names a file, each failure (a test, a build, warnings, sanitizer reports)
# adds a line "config: what: result" to it, so the caller can list them next to its summary.
note_failure() {
    [ -n "${FAILURES_FILE:-}" ] && echo "$1" >>"$FAILURES_FILE"
    return 0
}

# The number of lines of FILE matching the extended regex PATTERN; 0 (not a failure, which
# `set -e` would end the caller on, as grep -c does) when none match.
count_lines() {
    grep -cE -- "$1" "$2" || true
}

test_config() {
    local name=$1 dir=$2 opts=$3 build=$4
    shift 4
    local jobs
    jobs=$(nproc 2>/dev/null || echo 2)
    echo "=== $name: $opts"
    # shellcheck disable=SC2086
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" $opts >/dev/null
    else
        meson setup "$dir" $opts --buildtype=debugoptimized >/dev/null
    fi
    local targets=()
    if [ "$build" = needed ]; then
        # The files of every target the selected tests depend on.
        mapfile -t targets < <(python3 - "$dir" "$@" <<'PY'
import json, os, subprocess, sys
d, args = sys.argv[1], sys.argv[2:]
suites = [args[i + 1] for i, a in enumerate(args) if a == "--suite"]
tests = json.loads(subprocess.check_output(["meson", "introspect", "--tests", d]))
targets = {t["id"]: t["filename"] for t in
           json.loads(subprocess.check_output(["meson", "introspect", "--targets", d]))}
want = set()
for t in tests:
    # Meson names a suite "project:suite" here.
    if not suites or any(x.split(":")[-1] in suites for x in t["suite"]):
        for dep in t["depends"]:
            want.update(targets.get(dep, []))
for f in sorted(want):
    print(os.path.relpath(f, d))
PY
)
        [ ${#targets[@]} -eq 0 ] && { echo "no tests selected in $name"; note_failure "$name: no tests"; failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" -j "$jobs" "${targets[@]}" >"$dir/build-output.txt" 2>&1; then
        tail -n 60 "$dir/build-output.txt"
        echo "build failed for $name"
        note_failure "$name: build"
        failed=$((failed + 1))
        return
    fi
    # The tree builds warning-free with GCC 12 and clang 14: a warning counts as a failure.
    # (Only what this run compiled is seen: each configuration is built from scratch in CI.)
    if grep -q "warning:" "$dir/build-output.txt"; then
        echo "--- $name: compiler warnings:"
        grep -A3 "warning:" "$dir/build-output.txt" | head -n 60
        note_failure "$name: compiler warnings"
        failed=$((failed + 1))
    fi
    if [ -n "${SANITIZER_REPORTS:-}" ]; then
        rm -rf "$SANITIZER_REPORTS" && mkdir -p "$SANITIZER_REPORTS"
    fi
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" "$@" || true
    local p f s
    read -r p f s < <(python3 - "$dir/meson-logs/testlog.json" "$name" "${FAILURES_FILE:-/dev/null}" <<'PY'
import json, sys
p = f = s = 0
with open(sys.argv[1]) as fh, open(sys.argv[3], "a") as out:
    for line in fh:
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else:
            f += 1
            out.write(f"{sys.argv[2]}: {t['name']}: {r}\n")
print(p, f, s)
PY
)
    if [ -n "${SANITIZER_REPORTS:-}" ] && [ -n "$(ls -A "$SANITIZER_REPORTS")" ]; then
        echo "--- $name: sanitizer reports:"
        for r in "$SANITIZER_REPORTS"/*; do
            echo "### $r"
            head -n 80 "$r"
        done
        note_failure "$name: sanitizer reports"
        f=$((f + 1))
    fi
    echo "--- $name: $p passed, $f failed, $s skipped"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
