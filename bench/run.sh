#!/usr/bin/env bash
# Benchmarks connmatrix against h2load (nghttp2's own load client) in the same run, against the
# same local nghttpd, with the same shape: N requests on one connection, M in flight. Reports
# each backend's requests/s as a ratio of h2load's. Numbers from one noisy 2-core machine:
# compare ratios within a run, not absolute values across runs.
#
#   bench/run.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
n=${2:-20000}
scripts/deps.sh nghttp2-client
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" bench/bench_client >/dev/null
certs=$(mktemp -d)
state=$(mktemp -d)
trap 'bash tests/interop/servers.sh stop "$state" >/dev/null 2>&1 || true; rm -rf "$certs" "$state"' EXIT
sh tests/certs/gen-certs.sh "$certs" >/dev/null
CONNMATRIX_CERT_DIR=$certs bash tests/interop/servers.sh start "$state" >/dev/null
url=$(grep '^NGHTTPD_ALPN_URL=' "$state/servers.env" | cut -d= -f2-)hello.txt
backends=$("$build/examples/tls_matrix" "$certs" | head -1 | sed 's/.*backends: //; s/ (default.*//')

printf '%-22s %10s %10s %10s %8s\n' "client (m in flight)" "req/s" "p50 us" "p99 us" "ratio"
for m in 1 100; do
  # h2load: -c 1 connection, -m streams in flight; its "finished in ... N req/s" line.
  h2=$(h2load -n "$n" -c 1 -m "$m" "$url" 2>/dev/null | awk '/^finished in/ {for (i=1;i<=NF;i++) if ($i ~ /req\/s/) print $(i-1)}' | tr -d ',')
  printf '%-22s %10.0f %10s %10s %8s\n' "h2load (m=$m)" "$h2" "-" "-" "1.00"
  for b in $backends; do
    line=$("$build/bench/bench_client" throughput "$url" "$b" alpn "$certs/ca.pem" "$n" "$m")
    rps=$(sed 's/.*req_per_s=\([0-9.]*\).*/\1/' <<<"$line")
    p50=$(sed 's/.*p50_us=\([0-9]*\).*/\1/' <<<"$line")
    p99=$(sed 's/.*p99_us=\([0-9]*\).*/\1/' <<<"$line")
    ratio=$(awk -v a="$rps" -v b="$h2" 'BEGIN { printf "%.2f", a / b }')
    printf '%-22s %10.0f %10s %10s %8s\n' "connmatrix $b (m=$m)" "$rps" "$p50" "$p99" "$ratio"
  done
done
