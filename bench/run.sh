#!/usr/bin/env bash
# The benchmark suite: connmatrix against h2load (nghttp2's own load client, the practical
# floor) and libcurl (bench/curl_peer) in the same run, against the same local nghttpd, and
# writes bench/RESULTS.md (machine, versions, the exact commands, tables of ratios) and its
# charts (gnuplot SVGs next to it). Every number in RESULTS.md comes from the run that wrote it.
#
#   bench/run.sh [BUILD_DIR] [--rounds R] [--n N] [--out DIR]
#   bench/run.sh --smoke [--build BUILD_DIR] [--out DIR]
#
# Builds bench_client and curl_peer in BUILD_DIR (default build-bench: a release build with
# every backend found, made if missing; CONNMATRIX_JOBS=N limits ninja's jobs, default 2),
# makes test certificates, starts nghttpd over TLS (ECDSA and RSA leaves) and, for mode
# prior-knowledge (nghttpd closes TLS connections that did not select h2), stunnel in front of
# nghttpd --no-tls, which answers no ALPN. With 2 or more CPUs the servers run on the last one
# and every client on CPU 0 (taskset). Then, R rounds (default 3), every peer once per round
# in the same order (A B C A B C ..., medians over the rounds):
#   - throughput over one warm h2 connection, N requests (default 20000; 10 x N with 10 and
#     100 in flight) at 1, 10 and 100 in flight: h2load -c1 -m M, libcurl multi
#     (CURLPIPE_MULTIPLEX, one connection), connmatrix send_async() per backend (its own I/O thread, and on the benchmark's io_context:
#     ClientOptions::executor), and with 1 in flight send() per backend and libcurl easy (one
#     reused handle): requests/s, client CPU µs/request, p50/p99 latency;
#   - connection setup: new TCP + full TLS handshake + first response, one after another, per
#     backend x mode x server key, against libcurl (OpenSSL; GnuTLS when Debian's
#     libcurl3-gnutls is installed): wall time and client CPU per connection.
# The server's CPU during every run is recorded: a row whose server was busy 90% or more of
# the wall time is marked, its rate is the server's, not the client's.
#
# --smoke: a few requests, 1 round, every peer and every path once, RESULTS.md and charts
# written to a temporary directory (or --out); fails if a peer fails or prints no numbers.
# No time is asserted. The meson test bench_smoke (suite bench) runs it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

build=build-bench
rounds=3
n=20000
setup_n=100
smoke=0
out=
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
if [ $smoke -eq 1 ]; then
  rounds=1 n=60 setup_n=3
fi
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { echo "run.sh: $*" >&2; exit 1; }

# --- what it needs, and the build ------------------------------------------------------------
"$repo/scripts/deps.sh" nghttp2-server nghttp2-client stunnel4 libcurl4-openssl-dev gnuplot-nox >&2
cd "$repo"
t_build=$(date +%s)
if [ $smoke -eq 0 ]; then
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release -Dtests=false >/dev/null
  fi
  targets=(bench/bench_client bench/curl_peer)
  ninja -C "$build" -t targets all 2>/dev/null | grep -q '^bench/curl_peer_gnutls:' &&
    targets+=(bench/curl_peer_gnutls)
  ninja -C "$build" -j "${CONNMATRIX_JOBS:-2}" "${targets[@]}" >/dev/null
fi
build_seconds=$(($(date +%s) - t_build))
bc=$build/bench/bench_client
[ -x "$bc" ] || die "$bc is not built"
[ -x "$build/bench/curl_peer" ] ||
  die "$build/bench/curl_peer is not built: it needs libcurl4-openssl-dev when $build is configured"
curls=(curl_peer)
[ -x "$build/bench/curl_peer_gnutls" ] && curls+=(curl_peer_gnutls)
read -r -a backends <<<"$("$bc" backends)"
[ ${#backends[@]} -gt 0 ] || die "bench_client names no backend"

# --- servers ----------------------------------------------------------------------------------
certs=$work/certs
sh "$repo/tests/certs/gen-certs.sh" "$certs" >/dev/null
mkdir -p "$work/www"
printf 'hello\n' >"$work/www/hello.txt"
if [ "$(nproc)" -ge 2 ]; then
  server_cpu=$(($(nproc) - 1))
  pin_server=(taskset -c "$server_cpu")
  pin_client=(taskset -c 0)
  pinning="servers on CPU $server_cpu, clients on CPU 0 (taskset)"
else
  pin_server=() pin_client=() pinning="none (1 CPU)"
fi
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start() { # name command... ; remembers the pid in $last_pid (the command runs in its own group)
  local name=$1
  shift
  setsid "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  pids+=("$!")
  last_pid=$!
}
wait_port() { # name port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "run.sh: $1 is not listening on $2; its stderr:" >&2
  sed 's/^/    /' "$work/$1.err" >&2
  exit 1
}
declare -A url server_pid
for key in ec rsa; do
  port=$(free_port)
  start "nghttpd-$key" "${pin_server[@]}" nghttpd -a 127.0.0.1 -d "$work/www" "$port" \
    "$certs/localhost-$key.key" "$certs/localhost-$key.pem"
  server_pid[nghttpd-$key]=$last_pid
  wait_port "nghttpd-$key" "$port"
  url[nghttpd-$key]=https://localhost:$port/hello.txt
done
h2c_port=$(free_port)
start nghttpd-h2c "${pin_server[@]}" nghttpd -a 127.0.0.1 --no-tls -d "$work/www" "$h2c_port"
wait_port nghttpd-h2c "$h2c_port"
{
  printf 'foreground = yes\npid =\nsyslog = no\ndebug = notice\n'
  for key in ec rsa; do
    port=$(free_port)
    url[stunnel-$key]=https://localhost:$port/hello.txt
    printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\nTIMEOUTclose = 0\n' \
      "$key" "$port" "$h2c_port" "$certs/localhost-$key.pem" "$certs/localhost-$key.key"
  done
} >"$work/stunnel.conf"
start stunnel "${pin_server[@]}" stunnel4 "$work/stunnel.conf"
server_pid[stunnel-ec]=$last_pid server_pid[stunnel-rsa]=$last_pid
for key in ec rsa; do
  p=${url[stunnel-$key]#https://localhost:}
  wait_port stunnel "${p%%/*}"
done
ca=$certs/ca.pem

# --- one measurement --------------------------------------------------------------------------
# CPU ticks (user + sys) of a process and its threads, from /proc.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
raw=$work/raw.tsv
commands=$work/commands.txt
failures=0
# measure SECTION PEER BACKEND MODE KEY M ROUND SERVER command...: runs the client pinned,
# parses its line (or h2load's output), appends one row to $raw with the server's CPU share.
measure() {
  local section=$1 peer=$2 backend=$3 mode=$4 key=$5 m=$6 round=$7 server=$8
  shift 8
  local spid=${server_pid[$server]} s0 s1 t0 t1 line rc=0
  [ "$round" = 1 ] && echo "${pin_client[*]} $*" | sed "s|$work|\$WORK|g" >>"$commands"
  s0=$(ticks "$spid")
  t0=$(date +%s%N)
  if [ "$peer" = h2load ]; then
    # h2load prints no CPU: its rusage, taken by its parent, less that of the same command
    # with -n 1 (its start-up: exec, libraries, the TLS handshake; some 50 ms of CPU, which
    # over 20,000 requests would add 2.5 us to each, more than h2load's whole cost per
    # request with 100 in flight), over the requests beyond that one.
    line=$(python3 -c '
import resource, subprocess, sys
def cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime
args = sys.argv[1:]
one = list(args)
one[one.index("-n") + 1] = "1"
subprocess.run(one, capture_output=True)
startup = cpu()
p = subprocess.run(args, capture_output=True, text=True)
spent = cpu() - startup
fin = [l for l in p.stdout.splitlines() if l.startswith("finished in")]
req = [l for l in p.stdout.splitlines() if l.startswith("requests:")]
if p.returncode != 0 or not fin or not req:
    sys.stderr.write(p.stdout + p.stderr); sys.exit(1)
n = int(req[0].split()[1]); ok = int(req[0].split()[7])
rps = float(fin[0].split(",")[1].split()[0])
per = max(0.0, (spent - startup) * 1e6 / max(1, n - 1))
print("requests=%d failed=%d seconds=%.3f req_per_s=%.0f cpu_us_per_req=%.1f p50_us=0 p99_us=0 protocol=h2"
      % (n, n - ok, n / rps, rps, per))
' "${pin_client[@]}" "$@" 2>"$work/last.err") || rc=$?
  else
    line=$("${pin_client[@]}" "$@" 2>"$work/last.err") || rc=$?
  fi
  t1=$(date +%s%N)
  s1=$(ticks "$spid")
  if [ $rc -ne 0 ] || [[ $line != requests=*req_per_s=* ]]; then
    echo "run.sh: FAILED ($rc): $*" >&2
    sed 's/^/    /' "$work/last.err" | head -n 5 >&2
    failures=$((failures + 1))
    return 0
  fi
  local rps cpu p50 p99 srv
  rps=$(sed 's/.*req_per_s=\([0-9.]*\).*/\1/' <<<"$line")
  cpu=$(sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' <<<"$line")
  p50=$(sed 's/.*p50_us=\([0-9]*\).*/\1/' <<<"$line")
  p99=$(sed 's/.*p99_us=\([0-9]*\).*/\1/' <<<"$line")
  # the server's CPU as a share of the wall time of the whole run (process start included)
  srv=$(awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
    'BEGIN { printf "%.0f", 100 * (b - a) / hz / ((t1 - t0) / 1e9) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$peer" "$backend" "$mode" \
    "$key" "$m" "$round" "$rps" "$cpu" "$p50" "$p99" "$srv" >>"$raw"
  [ $smoke -eq 1 ] && printf '  %-12s %-18s %-8s %-22s %-4s m=%-4s %s\n' "$section" "$peer" \
    "$backend" "$mode" "$key" "$m" "$line" >&2
  return 0
}

# --- the run ----------------------------------------------------------------------------------
echo "run.sh: ${backends[*]}; ${curls[*]}; $rounds round(s), N=$n; pinning: $pinning" >&2
u=${url[nghttpd-ec]}
t_bench=$(date +%s)
for round in $(seq "$rounds"); do
  for m in 1 10 100; do
    # 10 x N with 10 and 100 in flight: h2load's CPU there is a few ms per 20,000 requests,
    # within the kernel's CPU accounting's grain (its start-up, subtracted, varies as much).
    nm=$n
    [ "$m" != 1 ] && nm=$((n * 10))
    [ $smoke -eq 1 ] && [ "$m" = 100 ] && nm=200
    measure throughput h2load - - ec "$m" "$round" nghttpd-ec h2load -n "$nm" -c 1 -m "$m" "$u"
    for c in "${curls[@]}"; do
      measure throughput "$c multi" - - ec "$m" "$round" nghttpd-ec \
        "$build/bench/$c" multi "$u" "$ca" "$nm" "$m"
    done
    for b in "${backends[@]}"; do
      measure throughput "connmatrix async" "$b" alpn ec "$m" "$round" nghttpd-ec \
        "$bc" throughput "$u" "$b" alpn "$ca" "$nm" "$m" async
    done
    for b in "${backends[@]}"; do
      measure throughput "connmatrix executor" "$b" alpn ec "$m" "$round" nghttpd-ec \
        "$bc" throughput "$u" "$b" alpn "$ca" "$nm" "$m" executor
    done
    if [ "$m" = 1 ]; then
      for c in "${curls[@]}"; do
        measure throughput "$c easy" - - ec 1 "$round" nghttpd-ec "$build/bench/$c" easy "$u" "$ca" "$nm"
      done
      for b in "${backends[@]}"; do
        measure throughput "connmatrix blocking" "$b" alpn ec 1 "$round" nghttpd-ec \
          "$bc" throughput "$u" "$b" alpn "$ca" "$nm" 1 blocking
      done
    fi
  done
  for key in ec rsa; do
    for c in "${curls[@]}"; do
      measure setup "$c" - alpn "$key" 1 "$round" "nghttpd-$key" \
        "$build/bench/$c" setup "${url[nghttpd-$key]}" "$ca" "$setup_n"
    done
    for b in "${backends[@]}"; do
      for sm in nghttpd:alpn nghttpd:prior-knowledge-alpn stunnel:prior-knowledge stunnel:prior-knowledge-alpn; do
        srv=${sm%%:*} mode=${sm#*:}
        measure setup "connmatrix/$srv" "$b" "$mode" "$key" 1 "$round" "$srv-$key" \
          "$bc" setup "${url[$srv-$key]}" "$b" "$mode" "$ca" "$setup_n"
      done
    done
  done
done
bench_seconds=$(($(date +%s) - t_bench))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report -------------------------------------------------------------------------------
[ -s "$raw" ] || die "no measurement produced numbers"
if [ -z "$out" ]; then
  if [ $smoke -eq 1 ]; then out=$work/results; else out=$here; fi
fi
mkdir -p "$out"
dpkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }
meta=$out/RESULTS.meta
{
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "kernel=$(uname -sr)"
  echo "load_start=$load_start"
  echo "load_end=$load_end"
  echo "pinning=$pinning"
  echo "rounds=$rounds"
  echo "n=$n"
  echo "setup_n=$setup_n"
  echo "build_seconds=$build_seconds"
  echo "bench_seconds=$bench_seconds"
  echo "backends=${backends[*]}"
  echo "connmatrix=$(meson introspect --projectinfo "$build" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo unknown) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo no git))"
  echo "buildtype=$(meson introspect --buildoptions "$build" 2>/dev/null |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"][0])' 2>/dev/null || echo unknown)"
  cxx=$(python3 -c 'import json, sys
c = [e for e in json.load(open(sys.argv[1])) if e["file"].endswith("bench_client.cpp")][0]
print([w for w in c["command"].split() if w != "ccache"][0])' "$build/compile_commands.json" 2>/dev/null || echo c++)
  echo "compiler=$("$cxx" --version 2>/dev/null | head -1 || echo unknown)"
  echo "nghttpd=$(nghttpd --version | head -1)"
  echo "h2load=$(h2load --version | head -1)"
  echo "stunnel=stunnel4 $(dpkg_version stunnel4)"
  echo "libnghttp2=$(dpkg_version libnghttp2-14)"
  echo "openssl=$(dpkg_version libssl3)"
  echo "gnutls=$(dpkg_version libgnutls30)"
  echo "mbedtls=$(dpkg_version libmbedtls14)"
  for c in "${curls[@]}"; do echo "$c=$("$build/bench/$c" version)"; done
  echo "gnuplot=$(gnuplot --version)"
} >"$meta"
if [ $smoke -eq 1 ]; then
  run_cmd="bench/run.sh --smoke"
else
  run_cmd="bench/run.sh --rounds $rounds --n $n"
fi
{
  echo "command=$run_cmd"
  echo "total_seconds=$(($(date +%s) - t_start))"
} >>"$meta"
cp "$raw" "$out/RESULTS.tsv"
cp "$commands" "$out/RESULTS.commands"
python3 "$here/report.py" "$out"
[ $failures -eq 0 ] || die "$failures measurement(s) failed"
echo "run.sh: wrote $out/RESULTS.md and its charts in $(($(date +%s) - t_start)) s" >&2
