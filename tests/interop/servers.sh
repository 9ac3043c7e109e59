#!/usr/bin/env bash
# Starts and stops the real third-party servers the interop tests and the demo talk to.
# Every server listens on 127.0.0.1 only, on ports picked free at start time.
#
# Usage: tests/interop/servers.sh start  STATE_DIR [CERT_DIR]
#        tests/interop/servers.sh stop   STATE_DIR
#        tests/interop/servers.sh status STATE_DIR
#        tests/interop/servers.sh get    STATE_DIR KEY      (prints one value of servers.env)
#
# CERT_DIR (or $CONNMATRIX_CERT_DIR) holds ca.pem, localhost-ec.{pem,key} and
# localhost-rsa.{pem,key} as made by tests/certs/gen-certs.sh; with neither, certificates are
# generated into STATE_DIR/certs. $CONNMATRIX_FIXTURE_KEY=ec|rsa picks the leaf (default ec).
# Missing Debian packages are installed with apt-get (root or sudo).
#
# `start` writes STATE_DIR/servers.env (format in tests/interop/README.md), pid files in
# STATE_DIR/pids and logs in STATE_DIR/logs. If any server does not come up within
# $CONNMATRIX_FIXTURE_WAIT seconds (default 10), start prints that server's log, stops
# everything it started and exits 1. `stop` ends every process group it started (TERM, then
# KILL after 5 s), also after a failed or partial start; it leaves the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() { echo "servers.sh: $*" >&2; exit 1; }
usage() { sed -n '4,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1
state=$2
case $state in /*) ;; *) state=$PWD/$state ;; esac
pids=$state/pids
logs=$state/logs
envfile=$state/servers.env

# --- packages -------------------------------------------------------------------------------
# Debian package -> what we need from it.
packages=(
  openssl        # s_server, s_client
  nghttp2-server # nghttpd
  nghttp2-client # nghttp (check-servers.sh)
  nghttp2-proxy  # nghttpx: the h2c-upgrade server
  nginx-light    # nginx with http_v2 and ssl
  gnutls-bin     # gnutls-serv
  stunnel4       # TLS termination without ALPN
  tinyproxy-bin  # CONNECT proxy (the binary only: no system service is set up)
  iproute2       # ss, for readiness checks
  procps         # ps
  python3        # free-port picking
  gcc            # builds bind-loopback.so for gnutls-serv
  libc6-dev
)
ensure_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "servers.sh: installing ${missing[*]}" >&2
  local sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
  # Installing nginx may start a system nginx on port 80: never ours, and never relied on.
}

# --- process bookkeeping ----------------------------------------------------------------------
# Each process is started with setsid, so it leads its own process group (nginx and nghttpx
# workers included); pids/NAME.pid holds the leader's pid, pids/NAME.comm its command name
# (so a recycled pid is never killed).
launch() { # name dir command... (leading "env VAR=value" is allowed)
  local name=$1 dir=$2
  shift 2
  local prog=$1 i=1
  if [ "$prog" = env ]; then
    while [ $i -le $# ] && { [ "${!i}" = env ] || [[ ${!i} == *=* ]]; }; do i=$((i + 1)); done
    prog=${!i}
  fi
  basename "$prog" | cut -c1-15 >"$pids/$name.comm"
  (cd "$dir" && exec setsid "$@") </dev/null >"$logs/$name.log" 2>&1 &
  echo "$!" >"$pids/$name.pid"
}

proc_exists() { # name -> 0 while its recorded pid exists and is no zombie
  local pid
  [ -f "$pids/$1.pid" ] || return 1
  pid=$(cat "$pids/$1.pid")
  ps -o stat= -p "$pid" 2>/dev/null | grep -qv '^Z'
}

proc_alive() { # name -> 0 if its recorded pid exists and runs the recorded command
  local pid comm
  proc_exists "$1" || return 1
  pid=$(cat "$pids/$1.pid")
  comm=$(cat "$pids/$1.comm" 2>/dev/null || true)
  [ -z "$comm" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]
}

live_groups() { # pgid... -> those with a live (non-zombie) member
  ps -e -o pgid=,stat= | awk -v want=" $* " '$2 !~ /^Z/ && index(want, " " $1 " ") { print $1 }' | sort -u
}

stop_all() {
  [ -d "$pids" ] || return 0
  local f name pid leaders=()
  for f in "$pids"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    pid=$(cat "$f")
    # Only a group whose leader still runs our command, or whose leader is gone while members
    # remain (nginx/nghttpx workers): a recycled pid leading someone else's group is left alone.
    if proc_alive "$name" || { ! proc_exists "$name" && [ -n "$(live_groups "$pid")" ]; }; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      leaders+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 5)) left
  while [ ${#leaders[@]} -gt 0 ]; do
    left=$(live_groups "${leaders[@]}")
    [ -z "$left" ] && break
    if [ $SECONDS -ge $deadline ]; then
      echo "servers.sh: killing process groups $left (still there 5 s after TERM)" >&2
      for pid in $left; do kill -KILL -- "-$pid" 2>/dev/null || true; done
      break
    fi
    sleep 0.05
  done
  rm -f "$pids"/*.pid "$pids"/*.comm "$envfile"
  return 0
}

# --- ports ------------------------------------------------------------------------------------
declare -A port=()
pick_ports() { # key... : assigns free, distinct 127.0.0.1 ports to port[key]
  local keys=("$@") ports i
  read -r -a ports < <(python3 - "${#keys[@]}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
  for i in "${!keys[@]}"; do port[${keys[$i]}]=${ports[$i]}; done
}

listening() { # pid port -> 0 when pid listens on 127.0.0.1:port
  ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# --- the servers -------------------------------------------------------------------------------
# name|scheme|alpn configured ("none": no ALPN extension)|protocols spoken|process|description
catalog=(
  "nghttpd_alpn|https|h2|h2|nghttpd_alpn|nghttpd over TLS, ALPN h2 only; closes connections that did not negotiate h2"
  "nginx_h2|https|h2,http/1.1|h2,http/1.1|nginx|nginx listen ssl http2: ALPN h2 and http/1.1"
  "nginx_h1|https|http/1.1|http/1.1|nginx|nginx listen ssl without http2: ALPN http/1.1 only"
  "nginx_h2_tls12|https|h2,http/1.1|h2,http/1.1|nginx|nginx listen ssl http2 limited to TLS 1.2: ALPN travels in the ServerHello instead of EncryptedExtensions"
  "nginx_early|https|h2,http/1.1|h2,http/1.1|nginx|nginx listen ssl http2, TLS 1.3 only, ssl_early_data on: GET / answers early=\$ssl_early_data, GET /too-early answers 425 to a request that came as early data"
  "s_server_noalpn|https|none|http/1.0|s_server_noalpn|openssl s_server -WWW without -alpn: no ALPN, HTTP/1.0 answer then close, one connection at a time"
  "s_server_alpn|https|http/1.1|http/1.0|s_server_alpn|openssl s_server -WWW -alpn http/1.1: HTTP/1.0 answer then close, one connection at a time"
  "gnutls_serv|https|http/1.1|http/1.0|gnutls_serv|gnutls-serv --http --alpn=http/1.1: HTTP/1.0 answer with Content-Length, then close"
  "gnutls_alpn_fatal|https|http/1.1|http/1.0|gnutls_alpn_fatal|gnutls-serv --http --alpn=http/1.1 --alpn-fatal: no_application_protocol alert when the offer lacks http/1.1"
  "h2_noalpn|https|none|h2|stunnel|stunnel (no ALPN) in front of nghttpd --no-tls: speaks only h2 and returns no ALPN, like a TLS-terminating load balancer"
  "h1_noalpn|https|none|http/1.1|stunnel|stunnel (no ALPN) in front of an nginx HTTP/1.1 listener: returns no ALPN and speaks only HTTP/1.1 (the exchange colocation case)"
  "nghttpd_h2c|http|none|h2c|nghttpd_h2c|nghttpd --no-tls: cleartext h2 with prior knowledge only (no Upgrade)"
  "nginx_plain|http|none|http/1.1|nginx|nginx cleartext HTTP/1.1 listener"
  "h2c_upgrade|http|none|http/1.1,h2c|nghttpx|nghttpx cleartext frontend (HTTP/1.1, Upgrade: h2c, and h2c prior knowledge) in front of nginx"
  "connect_proxy|http|none|proxy|connect_proxy|tinyproxy HTTP proxy: CONNECT allowed to any port (URL is the proxy URL)"
)
# The servers configured to take TLS 1.3 early data (servers.env: <NAME>_EARLY_DATA=on).
early_data_servers=" nginx_early "
field() { # entry index
  local IFS='|' parts
  read -r -a parts <<<"$1"
  echo "${parts[$2]}"
}

write_docroot() { # name
  local d=$state/www/$1
  mkdir -p "$d"
  printf 'hello from %s\n' "$1" >"$d/hello.txt"
  printf '<!doctype html><title>connmatrix fixture %s</title><p>connmatrix-fixture %s</p>\n' \
    "$1" "$1" >"$d/index.html"
}

cert=
key=
nginx_conf() {
  local user_line=''
  [ "$(id -u)" -eq 0 ] && user_line='user root;'
  mkdir -p "$state/nginx/tmp"
  cat >"$state/nginx/nginx.conf" <<EOF
# generated by tests/interop/servers.sh
$user_line
worker_processes 1;
daemon off;
master_process on;
pid $state/nginx/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  access_log $logs/nginx-access.log;
  client_body_temp_path $state/nginx/tmp/body;
  proxy_temp_path $state/nginx/tmp/proxy;
  fastcgi_temp_path $state/nginx/tmp/fastcgi;
  uwsgi_temp_path $state/nginx/tmp/uwsgi;
  scgi_temp_path $state/nginx/tmp/scgi;
  types { text/html html; text/plain txt; }
  default_type application/octet-stream;
  server_tokens off;
  ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22 leaves TLS 1.3 out by default
  ssl_certificate $cert;
  ssl_certificate_key $key;
  server { listen 127.0.0.1:${port[nginx_h2]} ssl http2; root $state/www/nginx_h2; }
  server { listen 127.0.0.1:${port[nginx_h1]} ssl; root $state/www/nginx_h1; }
  server { listen 127.0.0.1:${port[nginx_h2_tls12]} ssl http2; ssl_protocols TLSv1.2;
           root $state/www/nginx_h2_tls12; }
  # TLS 1.3 early data (0-RTT). \$ssl_early_data is "1" for a request read before the handshake
  # completed, i.e. sent as early data. / says which; /too-early refuses early data with 425 Too
  # Early (RFC 8470 5.2). Session tickets are nginx's default (on, stateless).
  server { listen 127.0.0.1:${port[nginx_early]} ssl http2; ssl_protocols TLSv1.3; ssl_early_data on;
           root $state/www/nginx_early; default_type text/plain;
           location = / { return 200 "early=\$ssl_early_data\n"; }
           location = /too-early { if (\$ssl_early_data) { return 425; } return 200 "early=\$ssl_early_data\n"; } }
  server { listen 127.0.0.1:${port[nginx_plain]}; root $state/www/nginx_plain; }
  # behind stunnel (h1_noalpn) and nghttpx (h2c_upgrade)
  server { listen 127.0.0.1:${port[h1_noalpn_backend]}; root $state/www/h1_noalpn; }
  server { listen 127.0.0.1:${port[h2c_upgrade_backend]}; root $state/www/h2c_upgrade; }
}
EOF
}

stunnel_conf() {
  cat >"$state/stunnel.conf" <<EOF
; generated by tests/interop/servers.sh. stunnel sets no ALPN callback: it never answers ALPN.
foreground = yes
pid =
syslog = no
debug = notice
[h2_noalpn]
accept = 127.0.0.1:${port[h2_noalpn]}
connect = 127.0.0.1:${port[h2_noalpn_backend]}
cert = $cert
key = $key
TIMEOUTclose = 0
[h1_noalpn]
accept = 127.0.0.1:${port[h1_noalpn]}
connect = 127.0.0.1:${port[h1_noalpn_backend]}
cert = $cert
key = $key
TIMEOUTclose = 0
EOF
}

tinyproxy_conf() {
  cat >"$state/tinyproxy.conf" <<EOF
# generated by tests/interop/servers.sh. No ConnectPort line: CONNECT to every port.
Port ${port[connect_proxy]}
Listen 127.0.0.1
Timeout 60
MaxClients 200
Allow 127.0.0.1
LogLevel Info
DisableViaHeader Yes
EOF
}

# Process table: name|ports it must listen on (keys of port[])|start function
procs=(
  "nghttpd_alpn|nghttpd_alpn|start_nghttpd_alpn"
  "nghttpd_h2c|nghttpd_h2c|start_nghttpd_h2c"
  "h2_noalpn_backend|h2_noalpn_backend|start_h2_noalpn_backend"
  "nginx|nginx_h2 nginx_h1 nginx_h2_tls12 nginx_early nginx_plain h1_noalpn_backend h2c_upgrade_backend|start_nginx"
  "s_server_noalpn|s_server_noalpn|start_s_server_noalpn"
  "s_server_alpn|s_server_alpn|start_s_server_alpn"
  "gnutls_serv|gnutls_serv|start_gnutls_serv"
  "gnutls_alpn_fatal|gnutls_alpn_fatal|start_gnutls_alpn_fatal"
  "connect_proxy|connect_proxy|start_tinyproxy"
  # second wave: these forward to ports of the first
  "stunnel|h2_noalpn h1_noalpn|start_stunnel"
  "nghttpx|h2c_upgrade|start_nghttpx"
)
first_wave=9

start_nghttpd_alpn() {
  launch nghttpd_alpn "$state" nghttpd -a 127.0.0.1 -d "$state/www/nghttpd_alpn" \
    "${port[nghttpd_alpn]}" "$key" "$cert"
}
start_nghttpd_h2c() {
  launch nghttpd_h2c "$state" nghttpd -a 127.0.0.1 --no-tls -d "$state/www/nghttpd_h2c" \
    "${port[nghttpd_h2c]}"
}
start_h2_noalpn_backend() {
  launch h2_noalpn_backend "$state" nghttpd -a 127.0.0.1 --no-tls -d "$state/www/h2_noalpn" \
    "${port[h2_noalpn_backend]}"
}
start_nginx() {
  nginx_conf
  launch nginx "$state/nginx" nginx -p "$state/nginx" -c "$state/nginx/nginx.conf" -e stderr
}
start_s_server_noalpn() {
  launch s_server_noalpn "$state/www/s_server_noalpn" openssl s_server \
    -accept "127.0.0.1:${port[s_server_noalpn]}" -cert "$cert" -key "$key" -WWW
}
start_s_server_alpn() {
  launch s_server_alpn "$state/www/s_server_alpn" openssl s_server \
    -accept "127.0.0.1:${port[s_server_alpn]}" -cert "$cert" -key "$key" -WWW -alpn http/1.1
}
gnutls_args() { # name
  echo --http "--httpdata=$state/www/$1/hello.txt" -p "${port[$1]}" \
    "--x509certfile=$cert" "--x509keyfile=$key" --alpn=http/1.1 --disable-client-cert --quiet
}
start_gnutls_serv() {
  # shellcheck disable=SC2046
  launch gnutls_serv "$state" env "LD_PRELOAD=$state/bind-loopback.so" gnutls-serv \
    $(gnutls_args gnutls_serv)
}
start_gnutls_alpn_fatal() {
  # shellcheck disable=SC2046
  launch gnutls_alpn_fatal "$state" env "LD_PRELOAD=$state/bind-loopback.so" gnutls-serv \
    $(gnutls_args gnutls_alpn_fatal) --alpn-fatal
}
start_tinyproxy() {
  tinyproxy_conf
  launch connect_proxy "$state" tinyproxy -d -c "$state/tinyproxy.conf"
}
start_stunnel() {
  stunnel_conf
  launch stunnel "$state" stunnel4 "$state/stunnel.conf"
}
start_nghttpx() {
  launch nghttpx "$state" nghttpx --conf=/dev/null --single-process --workers=1 \
    "--frontend=127.0.0.1,${port[h2c_upgrade]};no-tls" \
    "--backend=127.0.0.1,${port[h2c_upgrade_backend]}" \
    --no-ocsp "--accesslog-file=$logs/nghttpx-access.log"
}

wait_ready() { # proc-entry... : waits for each; echoes the names that failed
  local deadline=$((SECONDS + ${CONNMATRIX_FIXTURE_WAIT:-10})) entry name keys pid k ok
  local -A done_=()
  while :; do
    local pending=0
    for entry in "$@"; do
      name=$(field "$entry" 0)
      [ -n "${done_[$name]:-}" ] && continue
      keys=$(field "$entry" 1)
      pid=$(cat "$pids/$name.pid")
      if ! proc_exists "$name"; then done_[$name]=exited; continue; fi
      ok=1
      for k in $keys; do listening "$pid" "${port[$k]}" || { ok=0; break; }; done
      if [ $ok -eq 1 ]; then done_[$name]=up; else pending=1; fi
    done
    [ $pending -eq 0 ] && break
    if [ $SECONDS -ge $deadline ]; then
      for entry in "$@"; do
        name=$(field "$entry" 0)
        [ -z "${done_[$name]:-}" ] && done_[$name]=timeout
      done
      break
    fi
    sleep 0.05
  done
  for entry in "$@"; do
    name=$(field "$entry" 0)
    [ "${done_[$name]}" = up ] || echo "$name:${done_[$name]}"
  done
}

start_wave() { # proc-entry... ; retries a process whose port was taken meanwhile
  local attempt entry name failed f
  local todo=("$@")
  for attempt in 1 2 3; do
    for entry in "${todo[@]}"; do "$(field "$entry" 2)"; done
    failed=$(wait_ready "${todo[@]}")
    [ -z "$failed" ] && return 0
    local retry=()
    for f in $failed; do
      name=${f%%:*}
      for entry in "${todo[@]}"; do
        [ "$(field "$entry" 0)" = "$name" ] || continue
        if [ $attempt -lt 3 ] && grep -qiE 'address already in use|in use' "$logs/$name.log"; then
          kill -KILL -- "-$(cat "$pids/$name.pid")" 2>/dev/null || true
          # shellcheck disable=SC2046
          pick_ports $(field "$entry" 1)
          retry+=("$entry")
        else
          echo "servers.sh: $name did not come up (${f#*:}; ports: $(for k in $(field "$entry" 1); do
            printf '%s=%s ' "$k" "${port[$k]}"; done)). Its log, $logs/$name.log:" >&2
          sed 's/^/    /' "$logs/$name.log" >&2 || true
          return 1
        fi
      done
    done
    todo=("${retry[@]}")
  done
  return 1
}

write_env() {
  local tmp=$envfile.tmp entry name up scheme proc
  {
    echo "# connmatrix interop fixture (tests/interop/servers.sh); KEY=VALUE, the value is the"
    echo "# rest of the line, verbatim and unquoted. Format: tests/interop/README.md."
    echo "FIXTURE_FORMAT=1"
    echo "STATE_DIR=$state"
    echo "HOST=127.0.0.1"
    echo "CERT_DIR=$cert_dir"
    echo "CA_FILE=$cert_dir/ca.pem"
    echo "KEY_TYPE=$key_type"
    echo "HELLO_PATH=/hello.txt"
    local names=()
    for entry in "${catalog[@]}"; do names+=("$(field "$entry" 0)"); done
    echo "SERVERS=${names[*]}"
    for entry in "${catalog[@]}"; do
      name=$(field "$entry" 0)
      up=${name^^}
      scheme=$(field "$entry" 1)
      proc=$(field "$entry" 4)
      echo "${up}_PORT=${port[$name]}"
      echo "${up}_SCHEME=$scheme"
      echo "${up}_URL=$scheme://127.0.0.1:${port[$name]}/"
      echo "${up}_ALPN=$(field "$entry" 2)"
      echo "${up}_SPEAKS=$(field "$entry" 3)"
      if [ "$name" = connect_proxy ]; then echo "${up}_BODY="; else echo "${up}_BODY=hello from $name"; fi
      [ -n "${port[${name}_backend]:-}" ] && echo "${up}_BACKEND_PORT=${port[${name}_backend]}"
      if [[ $early_data_servers == *" $name "* ]]; then echo "${up}_EARLY_DATA=on"; else echo "${up}_EARLY_DATA=off"; fi
      echo "${up}_PROCESS=$proc"
      echo "${up}_PID=$(cat "$pids/$proc.pid")"
      echo "${up}_DESC=$(field "$entry" 5)"
    done
  } >"$tmp"
  mv "$tmp" "$envfile"
}

do_start() {
  local cert_arg=${1:-${CONNMATRIX_CERT_DIR:-}}
  ensure_packages
  mkdir -p "$state"
  if [ -d "$pids" ] && ls "$pids"/*.pid >/dev/null 2>&1; then
    echo "servers.sh: $state has running servers from an earlier start; stopping them" >&2
    stop_all
  fi
  mkdir -p "$pids" "$logs"
  key_type=${CONNMATRIX_FIXTURE_KEY:-ec}
  case $key_type in ec | rsa) ;; *) die "CONNMATRIX_FIXTURE_KEY must be ec or rsa" ;; esac
  if [ -n "$cert_arg" ]; then
    cert_dir=$(cd "$cert_arg" && pwd) || die "no certificate directory $cert_arg"
  else
    cert_dir=$state/certs
    [ -f "$cert_dir/ca.pem" ] || sh "$repo/tests/certs/gen-certs.sh" "$cert_dir" >/dev/null
  fi
  cert=$cert_dir/localhost-$key_type.pem
  key=$cert_dir/localhost-$key_type.key
  for f in "$cert_dir/ca.pem" "$cert" "$key"; do
    [ -r "$f" ] || die "missing $f (make them with: sh tests/certs/gen-certs.sh DIR)"
  done
  local entry
  for entry in "${catalog[@]}"; do write_docroot "$(field "$entry" 0)"; done
  cc -shared -fPIC -O2 -o "$state/bind-loopback.so" "$here/bind-loopback.c" -ldl \
    || die "cannot build $here/bind-loopback.c (needed to keep gnutls-serv on 127.0.0.1)"

  pick_ports nghttpd_alpn nginx_h2 nginx_h1 nginx_h2_tls12 nginx_early s_server_noalpn s_server_alpn gnutls_serv \
    gnutls_alpn_fatal h2_noalpn h1_noalpn nghttpd_h2c nginx_plain h2c_upgrade connect_proxy \
    h2_noalpn_backend h1_noalpn_backend h2c_upgrade_backend

  trap 'stop_all' EXIT
  trap 'exit 1' INT TERM HUP
  start_wave "${procs[@]:0:$first_wave}" || exit 1
  start_wave "${procs[@]:$first_wave}" || exit 1
  trap - EXIT INT TERM HUP
  write_env
  echo "servers.sh: ${#catalog[@]} servers up on 127.0.0.1; ports in $envfile" >&2
}

do_status() {
  [ -f "$envfile" ] || { echo "no servers.env in $state: not started"; return 1; }
  local rc=0 name up p pid proc state_
  printf '%-18s %-6s %-6s %-6s %s\n' server port pid state url
  for name in $(grep '^SERVERS=' "$envfile" | cut -d= -f2-); do
    up=${name^^}
    p=$(grep "^${up}_PORT=" "$envfile" | cut -d= -f2-)
    proc=$(grep "^${up}_PROCESS=" "$envfile" | cut -d= -f2-)
    pid=$(cat "$pids/$proc.pid" 2>/dev/null || echo -)
    if proc_alive "$proc" && listening "$pid" "$p"; then state_=up; else state_=DOWN; rc=1; fi
    printf '%-18s %-6s %-6s %-6s %s\n' "$name" "$p" "$pid" "$state_" \
      "$(grep "^${up}_URL=" "$envfile" | cut -d= -f2-)"
  done
  return $rc
}

case $cmd in
  start) do_start "${3:-}" ;;
  stop) stop_all ;;
  status) do_status ;;
  get)
    [ $# -eq 3 ] || usage
    [ -f "$envfile" ] || die "no $envfile: not started"
    grep -q "^$3=" "$envfile" || die "no key $3 in $envfile"
    grep "^$3=" "$envfile" | head -n 1 | cut -d= -f2-
    ;;
  *) usage ;;
esac
