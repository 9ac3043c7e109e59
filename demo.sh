#!/usr/bin/env bash
# The connmatrix demo: installs what is missing (Debian 12), builds the `connmatrix` tool
# (release), starts real servers on 127.0.0.1 (nginx, nghttpd, stunnel without ALPN in front of
# them: tests/interop/servers.sh), probes each with every TLS backend x every negotiation mode,
# then fetches with per-host rules choosing different protocols and backends. Stops every server
# it started, also on Ctrl-C or failure. Takes about 10 s after the first build.
#
# Usage: ./demo.sh    ($CONNMATRIX_JOBS limits the build's parallel jobs; NO_COLOR=1 for plain output)
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD
started=$SECONDS

bold() { if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '%s\n' "$@"; }
run() { # prints the command as the user would type it, then runs it
  local shown=("$@")
  shown[0]=connmatrix
  printf '\n$ %s\n' "${shown[*]}"
  "$@"
}

# --- 1. packages and build --------------------------------------------------------------------
scripts/deps.sh
dir=build-demo
if [ ! -f "$dir/build.ninja" ]; then
  echo "configuring $dir (release, no tests)"
  meson setup "$dir" --buildtype=release -Dtests=false >"$root/.demo-setup.log" 2>&1 ||
    { cat "$root/.demo-setup.log"; exit 1; }
  rm -f "$root/.demo-setup.log"
fi
jobs=()
[ -n "${CONNMATRIX_JOBS:-}" ] && jobs=(-j "$CONNMATRIX_JOBS")
echo "building connmatrix (the first build takes a few minutes)"
if ! ninja -C "$dir" "${jobs[@]}" >"$dir/demo-build.log" 2>&1; then
  tail -n 40 "$dir/demo-build.log"
  echo "demo: the build failed (full log: $dir/demo-build.log)" >&2
  exit 1
fi
cm=$root/$dir/tools/connmatrix
build_done=$SECONDS

# --- 2. servers -------------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/connmatrix-demo.XXXXXX)
cleanup() {
  "$root/tests/interop/servers.sh" stop "$tmp/fixture" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sh tests/certs/gen-certs.sh "$tmp/certs" >/dev/null 2>&1
export CONNMATRIX_CERT_DIR=$tmp/certs
echo "starting local servers on 127.0.0.1 (tests/interop/servers.sh)"
tests/interop/servers.sh start "$tmp/fixture" "$tmp/certs"  # installs the servers the first time
fx() { tests/interop/servers.sh get "$tmp/fixture" "$1"; }
ca=$(fx CA_FILE)
nginx_h2=$(fx NGINX_H2_PORT)
nginx_h1=$(fx NGINX_H1_PORT)
h2_noalpn=$(fx H2_NOALPN_PORT)
h1_noalpn=$(fx H1_NOALPN_PORT)

# --- 3. probe: what every backend x mode gets from each kind of server ------------------------
echo
bold "=== 1. connmatrix probe: every TLS backend x every negotiation mode, one fresh connection each"
say "Modes: alpn (RFC default: offer h2,http/1.1; no ALPN answer means HTTP/1.1), h2-only," \
    "http1, prior-knowledge (no ALPN, h2 at once), prior-knowledge-alpn (offer both; h2 when the" \
    "server answers without ALPN; fall back to HTTP/1.1 if that h2 is rejected)."

echo
bold "--- nginx with http2: ALPN h2 and http/1.1 (the well-behaved server)"
run "$cm" probe --cacert "$ca" "https://127.0.0.1:$nginx_h2/hello.txt"

echo
bold "--- stunnel (no ALPN) in front of h2-only nghttpd: a TLS-terminating load balancer"
say "Only modes that speak h2 without ALPN confirmation work; RFC-strict clients (alpn) speak HTTP/1.1 and fail."
run "$cm" probe --cacert "$ca" "https://127.0.0.1:$h2_noalpn/hello.txt"

echo
bold "--- stunnel (no ALPN) in front of an HTTP/1.1-only nginx: the exchange colocation case"
say "prior-knowledge fails (the server answers the h2 preface with HTTP/1.1 400); prior-knowledge-alpn falls back."
run "$cm" probe --cacert "$ca" "https://127.0.0.1:$h1_noalpn/hello.txt"

echo
bold "--- nginx without http2: ALPN http/1.1 only"
say "Offering only h2 ends in a no_application_protocol alert."
run "$cm" probe --cacert "$ca" "https://127.0.0.1:$nginx_h1/hello.txt"

# --- 4. get -v: per-host rules ------------------------------------------------------------------
# The configuration is written now, because the fixture's ports are picked at start.
cfg=$tmp/demo.json
cat >"$cfg" <<EOF
{
  "description": "connmatrix demo: per-host rules for the servers on 127.0.0.1 (ports picked at start).",
  "defaults": {
    "description": "Anything no rule matches: RFC behaviour (mode alpn) with OpenSSL.",
    "mode": "alpn",
    "backend": "openssl",
    "tls": { "ca_file": "$ca" },
    "timeouts": { "connect": "2s", "tls": "2s", "request": "3s" }
  },
  "hosts": [
    {
      "match": "127.0.0.1:$nginx_h2",
      "description": "Our API (nginx_h2): h2 confirmed by ALPN, or fail loudly. GnuTLS.",
      "mode": "h2-only",
      "backend": "gnutls"
    },
    {
      "match": "127.0.0.1:$h2_noalpn",
      "description": "Behind a load balancer that answers without ALPN but speaks only h2: conformant offer, then h2 by prior knowledge. GnuTLS.",
      "mode": "prior-knowledge-alpn",
      "backend": "gnutls"
    },
    {
      "match": "127.0.0.1:$h1_noalpn",
      "description": "The colocated gateway by address: same policy as the load balancer, so h2 is tried, rejected, and HTTP/1.1 is retried and remembered. mbedTLS.",
      "mode": "prior-knowledge-alpn",
      "backend": "mbedtls"
    },
    {
      "match": "localhost:$h1_noalpn",
      "description": "The same gateway by name: known to be HTTP/1.1-only, so never try h2. mbedTLS.",
      "mode": "http1",
      "backend": "mbedtls"
    },
    {
      "match": "127.0.0.1",
      "description": "Any other port on 127.0.0.1: prefer h2 but cope with anything, with GnuTLS.",
      "mode": "prior-knowledge-alpn",
      "backend": "gnutls"
    }
  ]
}
EOF
"$cm" check-config "$cfg" >"$tmp/check.out" || { cat "$tmp/check.out"; exit 1; }

echo
bold "=== 2. connmatrix get -v with per-host rules (configuration: $cfg)"
say "One rule per host:port; an exact host:port beats the host alone, and 127.0.0.1 and localhost are" \
    "different hosts. Lines shown: rule, backend, ALPN, protocol (the full -v output has TLS details and timings)."
key_lines() { grep -E '^\* (rule|mode|backend|ALPN|protocol|\[info\] fallback)' || true; }
for url in "https://127.0.0.1:$nginx_h2/hello.txt" "https://127.0.0.1:$h2_noalpn/hello.txt" \
           "https://127.0.0.1:$h1_noalpn/hello.txt" "https://localhost:$h1_noalpn/hello.txt" \
           "https://127.0.0.1:$nginx_h1/hello.txt"; do
  printf '\n$ connmatrix get -v --config demo.json %s\n' "$url"
  rc=0
  "$cm" get -v --config "$cfg" "$url" 2>"$tmp/get.err" >"$tmp/get.out" || rc=$?
  key_lines <"$tmp/get.err"
  if [ $rc -eq 0 ]; then printf 'body: %s\n' "$(cat "$tmp/get.out")"; else tail -n 1 "$tmp/get.err"; fi
done

echo
bold "=== 3. connmatrix get -n 50: fifty requests on the pooled connection"
run "$cm" get -n 50 --config "$cfg" -o /dev/null "https://127.0.0.1:$nginx_h2/hello.txt"

echo
bold "=== What you just saw"
cat <<'EOF'
- The same server gives different answers to different policies, and the TLS library matters
  less than the policy: the three backends agree cell by cell (mbedTLS 2.28 negotiates TLS 1.2).
- A server that answers without ALPN is ambiguous: behind stunnel, nghttpd speaks only h2 while
  nginx speaks only HTTP/1.1. RFC 7301 says "no ALPN means HTTP/1.1", which fails on the first;
  prior knowledge fails on the second. prior-knowledge-alpn works on all four: a conformant
  offer, h2 when the server stays silent, and a remembered fallback to HTTP/1.1 when it is
  rejected.
- The configuration picks, per host (and port), the mode and the TLS backend; `-v` names the
  rule that decided. `connmatrix explain --config FILE URL` shows where every value comes from;
  `connmatrix probe --json`/`--expect`/`--junit` make the matrix a CI check for your servers.
EOF

cleanup
trap - EXIT
if pgrep -f "$tmp" >/dev/null 2>&1; then
  echo "demo: some servers are still running (state was in $tmp)" >&2
  exit 1
fi
echo
echo "servers stopped. demo took $((SECONDS - build_done)) s after the build ($((SECONDS - started)) s in all)."
