#!/usr/bin/env bash
# Probes every server of a running fixture (tests/interop/servers.sh start STATE_DIR) with
# third-party clients only -- openssl s_client, nghttp, bash /dev/tcp -- and prints what each
# one really does, as a Markdown table: the ALPN it answers to four offers, what it does with
# an HTTP/1.1 GET and with an h2 prior-knowledge preface sent without ALPN, and h2 through ALPN.
# This documents the behaviour the interop matrix asserts (tests/interop/README.md). A second
# table shows what each TLS 1.3 server that speaks HTTP/1.x does with early data (0-RTT) on a
# resumed session, sent by openssl s_client -early_data.
#
# Usage: tests/interop/check-servers.sh STATE_DIR
# Exit status: 0 when every server answered GET /hello.txt with its known body over at least one
# protocol (and the proxy tunnelled), and every server with <NAME>_EARLY_DATA=on took a GET /
# sent as early data as early data and refused GET /too-early with 425; 1 otherwise.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '8p' "$0" | sed 's/^# //' >&2; exit 2; }
state=$1
envfile=$state/servers.env
[ -f "$envfile" ] || { echo "check-servers.sh: no $envfile (start the servers first)" >&2; exit 1; }
get() { grep "^$1=" "$envfile" | head -n 1 | cut -d= -f2-; }
ca=$(get CA_FILE)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
T=${CHECK_TIMEOUT:-3}

# --- the ALPN answer to an offer --------------------------------------------------------------
# "h2" / "http/1.1" (selected), "none" (no ALPN extension), or "alert: <text>" / "fail: <text>".
alpn_answer() { # port offer|- [extra s_client args...]
  local port=$1 offer=$2 out
  shift 2
  local a=()
  [ "$offer" != - ] && a=(-alpn "$offer")
  out=$(timeout "$T" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
    -CAfile "$ca" -verify_return_error "${a[@]}" "$@" </dev/null 2>&1 | tr -d '\0') || true
  if grep -q 'Cipher is (NONE)' <<<"$out" || ! grep -q '^New, ' <<<"$out"; then
    if grep -qi ' alert ' <<<"$out"; then
      echo "alert: $(grep -oiE '(tlsv1|sslv3|ssl/tls) alert [a-z ]+' <<<"$out" | head -n 1 |
        sed -E 's/^(tlsv1|sslv3|ssl\/tls) alert //')"
    else
      echo "fail: $(grep -iE 'error|errno' <<<"$out" | head -n 1 | cut -c1-60)"
    fi
  elif grep -q '^ALPN protocol: ' <<<"$out"; then
    grep '^ALPN protocol: ' <<<"$out" | head -n 1 | cut -d' ' -f3
  else
    echo none
  fi
  # the TLS version, for the caller
  grep -oE '^New, TLSv1\.[0-3]' <<<"$out" | head -n 1 | cut -d' ' -f2 >"$tmp/version" || true
}

# --- requests -----------------------------------------------------------------------------------
h1_request() { # authority
  printf 'GET /hello.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1"
}
# An h2 client preface, an empty SETTINGS, a HEADERS frame (GET /hello.txt, END_STREAM) on
# stream 1, then GOAWAY(0): the server answers stream 1 and closes, so the probe ends quickly.
h2_request() { # scheme-byte(86 http, 87 https) authority
  local auth=$2 p=/hello.txt hb
  hb=$((1 + 1 + 2 + ${#auth} + 2 + ${#p}))
  printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
  printf '\x00\x00\x00\x04\x00\x00\x00\x00\x00'
  printf "\\x00\\x00\\x$(printf %02x $hb)\\x01\\x05\\x00\\x00\\x00\\x01"
  printf "\\x82\\x$1"
  printf "\\x41\\x$(printf %02x ${#auth})%s" "$auth"
  printf "\\x44\\x$(printf %02x ${#p})%s" "$p"
  printf '\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
}

# What came back, in a few words: "h2 200 body" (server SETTINGS, then our body), "HTTP/1.1 200
# body", "HTTP/1.1 400", "h2 SETTINGS, then close", "closed: no bytes", "alert: ...".
describe() { # response-file stderr-file body [timed-out]
  local f=$1 err=$2 body=$3 timed_out=${4:-} head4 first
  if [ ! -s "$f" ] && [ -n "$timed_out" ]; then
    echo "no answer, connection still open after ${T} s"
    return
  fi
  if [ ! -s "$f" ]; then
    if grep -qi 'alert' "$err" 2>/dev/null; then
      echo "alert: $(grep -oiE '(tlsv1|sslv3|ssl/tls) alert [a-z ]+' "$err" | head -n 1 |
        sed -E 's/^(tlsv1|sslv3|ssl\/tls) alert //')"
    else
      echo "closed, no bytes"
    fi
    return
  fi
  if [ "$(head -c 5 "$f" | tr -d '\0')" = HTTP/ ]; then
    first=$(head -n 1 "$f" | tr -d '\r' | cut -d' ' -f1-2)
    if grep -aq "$body" "$f"; then echo "$first, body ok"; else echo "$first"; fi
    return
  fi
  head4=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
  if [ "${head4:6:2}" = 04 ] && [ "${head4:0:2}" = 00 ]; then
    # An h2 server preface: walk the frames.
    python3 - "$f" "$body" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
body = sys.argv[2].encode()
errors = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 7: "REFUSED_STREAM", 11: "ENHANCE_YOUR_CALM"}
i, status, got, seen = 0, None, b"", []
while i + 9 <= len(data):
    n = int.from_bytes(data[i:i + 3], "big"); t = data[i + 3]; sid = int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF
    payload = data[i + 9:i + 9 + n]
    if t == 1 and sid == 1 and payload[:1] == b"\x88": status = 200
    if t == 0 and sid == 1: got += payload
    if t == 7 and len(payload) >= 8:
        seen.append("GOAWAY(%s)" % errors.get(int.from_bytes(payload[4:8], "big"), "?"))
    i += 9 + n
if status == 200 and got.startswith(body):
    print("h2 200, body ok")
elif status:
    print("h2 %d" % status)
else:
    print("h2 server preface, then " + (", ".join(seen) or "no response") + ", close")
PY
    return
  fi
  if grep -aqi '<title>' "$f"; then
    echo "HTML without a status line (HTTP/0.9 style): $(grep -aoi '<title>[^<]*' "$f" | head -n 1 |
      cut -d'>' -f2), close"
    return
  fi
  echo "other: $(head -c 40 "$f" | tr -c '[:print:]' '.')"
}

tls_exchange() { # port offer|- request-kind(h1|h2) body [extra s_client args...]
  local port=$1 offer=$2 kind=$3 body=$4
  shift 4
  local a=()
  [ "$offer" != - ] && a=(-alpn "$offer")
  {
    if [ "$kind" = h1 ]; then h1_request "127.0.0.1:$port"; else h2_request 87 "127.0.0.1:$port"; fi
  } | timeout "$T" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
    -CAfile "$ca" -quiet "${a[@]}" "$@" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  describe "$tmp/out" "$tmp/err" "$body" "$([ "$rc" -eq 124 ] && echo yes)"
}

tcp_exchange() { # port request-kind(h1|h2) body
  local port=$1 kind=$2 body=$3
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    if [ "$kind" = h1 ]; then h1_request "127.0.0.1:$port" >&3; else h2_request 86 "127.0.0.1:$port" >&3; fi
    timeout "$T" cat <&3 >"$tmp/out" && exit 0 || exit $?
  ) 2>"$tmp/err" && rc=0 || rc=$?
  describe "$tmp/out" "$tmp/err" "$body" "$([ "$rc" -eq 124 ] && echo yes)"
}

nghttp_get() { # url body [nghttp args...]
  local url=$1 body=$2 out
  shift 2
  out=$(timeout "$T" nghttp -v "$@" "$url" 2>&1) || true
  local status
  status=$(grep -oE 'recv \(stream_id=[0-9]+\) :status: [0-9]+' <<<"$out" | head -n 1 | awk '{print $NF}')
  if [ -z "$status" ]; then
    echo "fail: $(grep -E '^\[ERROR\]|^Some requests' <<<"$out" | head -n 1 | cut -c1-100)"
  elif grep -q "$body" <<<"$out"; then
    echo "h2 $status, body ok"
  else
    echo "h2 $status"
  fi
}

# --- early data (TLS 1.3 0-RTT) ----------------------------------------------------------------
# A first connection stores a session (-sess_out; -quiet waits for the server to close, so its
# tickets have arrived); a second resumes it with PATH's GET as early data (-sess_in -early_data).
early_request() { # port path
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1"
}
early_status() { # port path [-ign_eof]: "accepted", "rejected", ...; the answer in $tmp/early.out
  local port=$1 path=$2 out
  early_request "$port" "$path" | timeout "$T" openssl s_client -connect "127.0.0.1:$port" \
    -servername localhost -CAfile "$ca" -quiet -sess_out "$tmp/sess" >/dev/null 2>&1 || true
  if [ ! -s "$tmp/sess" ]; then echo "no session to resume"; return; fi
  early_request "$port" "$path" >"$tmp/early.req"
  # -ign_eof: read the answer until the server closes (Connection: close), not only the handshake
  out=$(timeout "$T" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
    -CAfile "$ca" -sess_in "$tmp/sess" -early_data "$tmp/early.req" "${@:3}" </dev/null 2>&1 |
    tr -d '\0') || true
  rm -f "$tmp/sess"
  printf '%s\n' "$out" >"$tmp/early.out"
  if ! grep -q '^Reused, ' <<<"$out"; then echo "not resumed"
  elif grep -q 'Early data was accepted' <<<"$out"; then echo accepted
  elif grep -q 'Early data was rejected' <<<"$out"; then echo rejected
  elif grep -q 'Early data was not sent' <<<"$out"; then echo "not sent: the ticket allows none"
  else echo "unknown: $(grep -i 'early' <<<"$out" | head -n 1)"
  fi
}
early_row() { # name port -> 0 when early data was taken as such (GET / said early=1, 425 for /too-early)
  local name=$1 port=$2 st root late
  st=$(early_status "$port" /)
  if [ "$st" != accepted ]; then row "$name" "$st" "-" "-"; return 1; fi
  early_status "$port" / -ign_eof >/dev/null
  root=$(grep -a '^early=' "$tmp/early.out" | head -n 1 || true)
  early_status "$port" /too-early -ign_eof >/dev/null
  late=$(grep -a '^HTTP/' "$tmp/early.out" | head -n 1 | tr -d '\r' | sed 's/ *$//' || true)
  row "$name" "$st" "${root:-no early= line}" "${late:-no answer}"
  [ "$root" = early=1 ] && [ "${late#* }" = 425 ]
}

# --- the table ----------------------------------------------------------------------------------
ok_all=1
early_servers=()
row() { printf '| %s |\n' "$(IFS='|'; echo "$*" | sed 's/|/ | /g')"; }
echo "| server | TLS | ALPN to [h2,http/1.1] | to [h2] | to [http/1.1] | to no ALPN | HTTP/1.1 GET, no ALPN offered | h2 preface, no ALPN offered | h2 after ALPN h2 (nghttp) | speaks |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in $(get SERVERS); do
  up=${name^^}
  port=$(get "${up}_PORT")
  scheme=$(get "${up}_SCHEME")
  body=$(get "${up}_BODY")
  speaks=()
  if [ "$name" = connect_proxy ]; then
    target=$(get NGINX_H2_PORT)
    plain=$(get NGINX_PLAIN_PORT)
    c=()
    for offer in h2,http/1.1 h2 http/1.1 -; do
      c+=("$(alpn_answer "$target" "$offer" -proxy "127.0.0.1:$port") (CONNECT to nginx_h2)")
      [ "$offer" = h2,http/1.1 ] && tls=$(cat "$tmp/version")
    done
    h1=$(tls_exchange "$target" - h1 "hello from nginx_h2" -proxy "127.0.0.1:$port")
    h2=$(tls_exchange "$(get H2_NOALPN_PORT)" - h2 "hello from h2_noalpn" -proxy "127.0.0.1:$port")
    # A plain proxied GET (absolute URI), no tunnel.
    (
      exec 3<>"/dev/tcp/127.0.0.1/$port"
      printf 'GET http://127.0.0.1:%s/hello.txt HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
        "$plain" "$plain" >&3
      timeout "$T" cat <&3 >"$tmp/out" || true
    ) 2>"$tmp/err" || true
    fwd=$(describe "$tmp/out" "$tmp/err" "hello from nginx_plain")
    [[ $h1 == *"body ok"* ]] && speaks+=("CONNECT")
    [[ $fwd == *"body ok"* ]] && speaks+=("GET absolute-URI")
    row "$name" "$tls" "${c[@]}" "tunnel to nginx_h2: $h1" "tunnel to h2_noalpn: $h2" "-" \
      "$(IFS=';'; echo "${speaks[*]:-NOTHING}" | sed 's/;/; /g') (plain GET via proxy: $fwd)"
    [ ${#speaks[@]} -gt 0 ] || ok_all=0
    continue
  fi
  if [ "$scheme" = https ]; then
    c=()
    for offer in h2,http/1.1 h2 http/1.1 -; do
      c+=("$(alpn_answer "$port" "$offer")")
      [ "$offer" = h2,http/1.1 ] && tls=$(cat "$tmp/version")
    done
    h1=$(tls_exchange "$port" - h1 "$body")
    h2=$(tls_exchange "$port" - h2 "$body")
    if [ "${c[1]}" = h2 ]; then
      h2a=$(nghttp_get "https://127.0.0.1:$port/hello.txt" "$body")
    else
      h2a="-"
    fi
    # HTTP/1.1 after ALPN http/1.1, when that was selected
    h1a=
    if [ "${c[2]}" = http/1.1 ]; then
      h1a=$(tls_exchange "$port" http/1.1 h1 "$body")
      [[ $h1a == *"body ok"* ]] && speaks+=("${h1a%%,*} (ALPN http/1.1)")
    fi
    [[ $h2a == *"body ok"* ]] && speaks+=("h2 (ALPN h2)")
    [[ $h1 == *"body ok"* ]] && speaks+=("${h1%%,*} (no ALPN)")
    [[ $h2 == *"body ok"* ]] && speaks+=("h2 (prior knowledge, no ALPN)")
  else
    c=(n/a n/a n/a n/a)
    tls="- (cleartext)"
    h1=$(tcp_exchange "$port" h1 "$body")
    h2=$(tcp_exchange "$port" h2 "$body")
    h2a=$(nghttp_get "http://127.0.0.1:$port/hello.txt" "$body" -u)
    h2a="Upgrade: h2c -> ${h2a}"
    [[ $h1 == *"body ok"* ]] && speaks+=("${h1%%,*}")
    [[ $h2 == *"body ok"* ]] && speaks+=("h2c (prior knowledge)")
    [[ $h2a == *"body ok"* ]] && speaks+=("h2c (Upgrade)")
  fi
  [ ${#speaks[@]} -gt 0 ] || ok_all=0
  row "$name" "$tls" "${c[@]}" "$h1" "$h2" "$h2a" "$(IFS=';'; echo "${speaks[*]:-NOTHING}" | sed 's/;/; /g')"
  [ "$tls" = TLSv1.3 ] && [[ $(get "${up}_SPEAKS") == *http/1.* ]] && early_servers+=("$name")
done

echo
echo "| server | early data to a resumed session (GET /) | GET / as early data answers | GET /too-early as early data answers |"
echo "|---|---|---|---|"
for name in "${early_servers[@]}"; do
  up=${name^^}
  if early_row "$name" "$(get "${up}_PORT")"; then
    [ "$(get "${up}_EARLY_DATA")" = on ] || ok_all=0
  else
    [ "$(get "${up}_EARLY_DATA")" = on ] && ok_all=0
  fi
done
[ $ok_all -eq 1 ]
