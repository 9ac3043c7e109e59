#!/usr/bin/env bash
# What TLS 1.3 early data (0-RTT) saves connmatrix against real servers, side by side with it
# off: time to the first response byte on a resumed connection, through bench/delay_relay
# (one-way delay D each way, RTT 2D), as medians in ms and in RTTs, and the ratio off/on.
#
#   bench/zero_rtt.sh [BUILD_DIR] [--delay-ms D] [--rounds R]
#
# Builds bench/bench_zero_rtt and bench/delay_relay in BUILD_DIR (default build-bench, a release
# build, made if missing; CONNMATRIX_JOBS=N limits ninja's jobs, default 2), makes test
# certificates, starts the interop fixture (tests/interop/servers.sh: its nginx_early is nginx
# with ssl_early_data on) and `openssl s_server -early_data` (made to answer HTTP by
# bench/s_server_http.py: s_server takes early data only in its echo mode), a relay in front of
# each twice (per chunk D each way; and with --connect-rtt, which also models the TCP
# handshake's round trip), runs the bench (R rounds per row, on and off alternating), prints
# its table and stops everything it started. D = 20 ms and R = 10 by default: about a minute.
#
#   bench/zero_rtt.sh --smoke --bench PATH --relay PATH --certs DIR
#
# The meson test zero_rtt_smoke (suite bench): D = 5 ms, 2 rounds, plain relays, and
# bench_zero_rtt --check: fails unless every round with early data on was accepted and seen as
# early data by the server, and none with it off. Correctness only; no time is asserted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

build="build-bench"
delay=20
rounds=10
smoke=0
bench=
relay=
certs=
while [ $# -gt 0 ]; do
  case $1 in
    --delay-ms) delay=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --smoke) smoke=1; delay=5; rounds=2; shift ;;
    --bench) bench=$2; shift 2 ;;
    --relay) relay=$2; shift 2 ;;
    --certs) certs=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "zero_rtt.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  "$repo/tests/interop/servers.sh" stop "$work/fixture" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$bench" ] || [ -z "$relay" ]; then
  cd "$repo"
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release -Dtests=false >/dev/null
  fi
  ninja -C "$build" -j "${CONNMATRIX_JOBS:-2}" bench/bench_zero_rtt bench/delay_relay >/dev/null
  bench=$build/bench/bench_zero_rtt
  relay=$build/bench/delay_relay
fi
if [ -z "$certs" ]; then
  certs=$work/certs
  sh "$repo/tests/certs/gen-certs.sh" "$certs" >/dev/null
fi

# Starts a process in its own group, remembered for cleanup (not in a subshell: $pids must
# see it); waits for its "listening 127.0.0.1:PORT" line and sets $listening_port.
listening_port=
start_listening() { # name command...
  local name=$1 line
  shift
  setsid "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  pids+=("$!")
  for _ in $(seq 100); do
    line=$(head -n 1 "$work/$name.out" 2>/dev/null || true)
    if [[ $line == listening* ]]; then
      listening_port=${line##*:}
      return 0
    fi
    sleep 0.05
  done
  echo "zero_rtt.sh: $name did not start listening; its stderr:" >&2
  sed 's/^/    /' "$work/$name.err" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if ! "$repo/tests/interop/servers.sh" start "$work/fixture" "$certs" >"$work/fixture.log" 2>&1; then
  echo "zero_rtt.sh: the interop fixture did not start:" >&2
  sed 's/^/    /' "$work/fixture.log" >&2
  exit 1
fi
nginx_port=$("$repo/tests/interop/servers.sh" get "$work/fixture" NGINX_EARLY_PORT)
s_port=$(free_port)
start_listening s_server python3 "$here/s_server_http.py" "$s_port" "$certs/localhost-ec.pem" \
  "$certs/localhost-ec.key" -alpn http/1.1

servers=()
add_server() { # label protocols target-port [relay options]
  local label=$1 protos=$2 port=$3
  shift 3
  start_listening "relay-$label" "$relay" 0 127.0.0.1 "$port" "$delay" "$@"
  servers+=(--server "$label" "$protos" "https://127.0.0.1:$listening_port/")
}
add_server nginx h2,http1 "$nginx_port"
add_server s_server http1 "$s_port"
if [ $smoke -eq 0 ]; then
  add_server nginx+tcp h2,http1 "$nginx_port" --connect-rtt
  add_server s_server+tcp http1 "$s_port" --connect-rtt
fi

nginx=$(command -v nginx || echo /usr/sbin/nginx)
echo "nginx: $("$nginx" -v 2>&1 | sed 's/.*: //'), ssl_early_data on (tests/interop nginx_early)"
echo "s_server: $(openssl version | cut -d' ' -f1-2) s_server -early_data (bench/s_server_http.py)"
echo "relays: ${delay} ms each way; +tcp: the TCP handshake's round trip modelled too (--connect-rtt)"
args=("$certs/ca.pem" "$delay" "$rounds")
[ $smoke -eq 1 ] && args+=(--check)
"$bench" "${args[@]}" "${servers[@]}"
