#!/usr/bin/env bash
# Installs a built connmatrix into a temporary root (meson install --destdir, nothing rebuilt)
# and builds, links and runs the consumers of tests/consumers/ against it, shared and static,
# each fetching a file from a local openssl s_server with verification on (the build's test CA):
# CMake (find_package), pkg-config (a Makefile), and Meson with connmatrix as a subproject
# (packaging/connmatrix.wrap; this one compiles the library again, as any subproject build
# does). Also checks that the public headers pull in no third-party header, and, for a backend
# the build lacks, that nothing installed names it.
#
# Usage: tests/consumers/run.sh [--no-meson] [--keep] BUILD_DIR NAME
#   --no-meson  skip the Meson consumer (the one that compiles the library again)
#   --keep      keep the temporary directory (installed tree, consumers' builds, logs)
# Prints "ok: NAME: what" or "FAILED: NAME: what" per result (with the log of a failure), then
# "N passed, N failed". Exit status 0 when nothing failed.
set -uo pipefail
meson_consumer=1 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --no-meson) meson_consumer=0 ;;
    --keep) keep=1 ;;
    *) break ;;
  esac
  shift
done
[ $# -eq 2 ] || { echo "usage: $0 [--no-meson] [--keep] BUILD_DIR NAME" >&2; exit 2; }
build=$(realpath "$1")
name=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
here=$src/tests/consumers
jobs=$(nproc 2>/dev/null || echo 2)

passed=0 failed=0
work=$(mktemp -d)
server=
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# result WHAT LOG STATUS: one counted result.
result() {
  if [ "$3" -eq 0 ]; then
    echo "ok: $name: $1"
    passed=$((passed + 1))
  else
    echo "FAILED: $name: $1"
    tail -n 40 "$2" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# --- install ----------------------------------------------------------------------------------
root=$work/root
if ! meson install -C "$build" --no-rebuild --destdir "$root" >"$work/install.log" 2>&1; then
  result "meson install --destdir" "$work/install.log" 1
  finish
fi
read -r prefix libdir includedir openssl gnutls mbedtls < <(
  meson introspect --buildoptions "$build" | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
print(p, os.path.join(p, o["libdir"]), os.path.join(p, o["includedir"]),
      o["openssl"], o["gnutls"], o["mbedtls"])')
prefix=$root$prefix lib=$root$libdir include=$root$includedir
# pkg-config, seeing the installed connmatrix.pc; the sysroot puts the root in front of its -I/-L.
pc_env=(env PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root")
if ! backends=$("${pc_env[@]}" pkg-config --variable=backends connmatrix 2>"$work/pc.log"); then
  result "connmatrix.pc" "$work/pc.log" 1
  finish
fi
echo "--- $name: installed in $prefix, backends: $backends"

# --- the server ---------------------------------------------------------------------------------
certs=$build/tests/certs
ninja -C "$build" tests/certs.stamp >/dev/null 2>&1
mkdir -p "$work/www"
body="connmatrix consumer"
printf '%s' "$body" >"$work/www/hello.txt"
(cd "$work/www" && exec openssl s_server -accept 127.0.0.1:0 -cert "$certs/localhost-ec.pem" \
  -key "$certs/localhost-ec.key" -WWW -alpn http/1.1) >"$work/server.log" 2>&1 </dev/null &
server=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  result "openssl s_server" "$work/server.log" 1
  finish
fi
url=https://127.0.0.1:$port/hello.txt

# run_app WHAT APP LINKAGE LOG: runs it against the server, and checks how it is linked: the
# shared library it loads is the installed one (LD_LIBRARY_PATH or its RUNPATH), or the static
# one left no libconnmatrix to load at all.
run_app() {
  local app=$2 linkage=$3 log=$4
  if [ "$linkage" = shared ]; then
    local loads
    loads=$(LD_LIBRARY_PATH=${5:-} ldd "$app" 2>&1)
    echo "$loads" >>"$log"
    grep -q "libconnmatrix\.so\.[0-9.]* => ${6:-$lib}/" <<<"$loads" ||
      { echo "$app does not load libconnmatrix.so from ${6:-$lib}" >>"$log"; return 1; }
  else
    local needed
    needed=$(readelf -d "$app")
    ! grep -q 'NEEDED.*libconnmatrix' <<<"$needed" ||
      { echo "$app needs libconnmatrix.so: not the static library" >>"$log"; return 1; }
  fi
  LD_LIBRARY_PATH=${5:-} "$app" "$url" "$certs/ca.pem" "$body" >>"$log" 2>&1
}

# --- CMake: find_package(connmatrix CONFIG REQUIRED) ------------------------------------------
for linkage in shared static; do
  d=$work/cmake-$linkage log=$work/cmake-$linkage.log
  cp -r "$here/cmake" "$d" && cp "$here/app.cpp" "$d/"
  static=OFF
  [ "$linkage" = static ] && static=ON
  cmake -S "$d" -B "$d/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
      -Dconnmatrix_USE_STATIC_LIBS=$static >"$log" 2>&1 &&
    cmake --build "$d/build" -j "$jobs" >>"$log" 2>&1 &&
    run_app "cmake $linkage" "$d/build/app" "$linkage" "$log"
  result "cmake $linkage" "$log" $?
done

# --- pkg-config: a Makefile ---------------------------------------------------------------------
for linkage in shared static; do
  d=$work/pkg-config-$linkage log=$work/pkg-config-$linkage.log
  cp -r "$here/pkg-config" "$d" && cp "$here/app.cpp" "$d/"
  flags=()
  [ "$linkage" = static ] && flags=(STATIC=1)
  { "${pc_env[@]}" pkg-config --cflags --libs ${flags:+--static} connmatrix &&
    "${pc_env[@]}" make -C "$d" "${flags[@]}"; } >"$log" 2>&1 &&
    run_app "pkg-config $linkage" "$d/app" "$linkage" "$log" "$lib"
  result "pkg-config $linkage" "$log" $?
done

# The public headers stand alone: what the pkg-config consumer included (its -MD list) is
# connmatrix's installed headers and the standard library, never a TLS library's, Asio's,
# nghttp2's or nlohmann-json's. One header is left out on purpose, and the consumer does not
# include it: connmatrix/asio.hpp, Asio's completion tokens for those who use Asio, which needs
# <asio.hpp> (tests/meson.build checks it compiles alone with Asio).
log=$work/headers.log
if [ -f "$work/pkg-config-shared/app.d" ]; then
  sed 's/[\\:]/ /g' "$work/pkg-config-shared/app.d" | tr ' ' '\n' | grep '\.h' | sort -u >"$log"
  ! grep -E '/(openssl|gnutls|mbedtls|psa|nghttp2|nlohmann|asio)(/|\.hpp)' "$log" >"$log.bad"
  status=$?
  cat "$log.bad" >>"$log"
  grep -q "^$include/connmatrix/client.hpp$" "$log" || { echo "no installed connmatrix/client.hpp" >>"$log"; status=1; }
else
  echo "the pkg-config consumer did not build" >"$log"
  status=1
fi
result "public headers need no third-party header" "$log" $status

# A backend this build lacks: nothing installed requires it of a consumer. The pkg-config file
# does not name it, nor what pkg-config makes of it; the CMake files look for no package or
# library of it, and the imported target links with none (the static consumer's); and
# libconnmatrix.so does not load it. (The static consumers above linked without it, too.)
absent=()
[ "$gnutls" = enabled ] || absent+=(gnutls)
[ "$mbedtls" = enabled ] || absent+=(mbedtls)
[ "$openssl" = enabled ] || absent+=(openssl)
if [ ${#absent[@]} -gt 0 ]; then
  log=$work/absent.log
  {
    cat "$lib/pkgconfig/connmatrix.pc"
    "${pc_env[@]}" pkg-config --static --libs --cflags connmatrix
    grep -hE '^[[:space:]]*(find_dependency|find_package|find_library|set\(_cm_by_name)' \
      "$lib"/cmake/connmatrix/*.cmake
    grep -h 'connmatrix::connmatrix links:' "$work"/cmake-*.log
    readelf -d "$lib"/libconnmatrix.so.*.*.* | grep NEEDED
  } >"$log" 2>&1
  status=0
  for b in "${absent[@]}"; do
    case $b in
      mbedtls) pattern='mbed' ;;
      openssl) pattern='openssl|libssl|libcrypto|-lssl|-lcrypto' ;;
      *) pattern=$b ;;
    esac
    if grep -Ei "$pattern" "$log" >"$log.found"; then
      { echo "--- $b is named:"; cat "$log.found"; } >>"$log"
      status=1
    fi
  done
  result "nothing installed requires ${absent[*]}" "$log" $status
fi

# Asking CMake for a backend this build lacks fails at configure time, saying so; asking for
# those it has succeeds.
if [ ${#absent[@]} -gt 0 ]; then
  d=$work/cmake-components log=$work/cmake-components.log
  mkdir -p "$d/missing" "$d/present"
  for which in missing present; do
    components=${absent[*]}
    [ "$which" = present ] && components=${backends//,/ }
    printf 'cmake_minimum_required(VERSION 3.16)\nproject(components LANGUAGES CXX)\n%s\n' \
      "find_package(connmatrix CONFIG REQUIRED COMPONENTS $components)" >"$d/$which/CMakeLists.txt"
    cmake -S "$d/$which" -B "$d/$which/build" -DCMAKE_PREFIX_PATH="$prefix" >"$log.$which" 2>&1
    echo "$which ($components): exit status $?" >>"$log"
    cat "$log.$which" >>"$log"
  done
  grep -q "^missing.*: exit status [1-9]" "$log" && grep -q "has no TLS backend '${absent[0]}'" "$log" &&
    grep -q "^present.*: exit status 0" "$log"
  result "cmake COMPONENTS: a backend not built fails at configure time" "$log" $?
fi

# --- Meson: connmatrix as a subproject, through packaging/connmatrix.wrap ------------------------
# Its own build of the library, with this build's backend options; buildtype plain (no -O2) to
# compile it faster. --force-fallback-for: the subproject, even where a connmatrix.pc is found.
if [ "$meson_consumer" = 1 ]; then
  d=$work/meson log=$work/meson.log
  cp -r "$here/meson" "$d" && cp "$here/app.cpp" "$d/" && mkdir -p "$d/subprojects" &&
    cp "$src/packaging/connmatrix.wrap" "$d/subprojects/" && ln -s "$src" "$d/subprojects/connmatrix"
  start=$SECONDS
  (meson setup "$d/build" "$d" --buildtype=plain --force-fallback-for=connmatrix \
     -Dconnmatrix:openssl="$openssl" -Dconnmatrix:gnutls="$gnutls" -Dconnmatrix:mbedtls="$mbedtls" &&
   ninja -C "$d/build" -j "$jobs") >"$log" 2>&1
  built=$?
  echo "--- $name: the Meson consumer's build (the library as a subproject) took $((SECONDS - start)) s"
  for linkage in shared static; do
    cp "$log" "$log.$linkage"
    [ "$built" -eq 0 ] &&
      run_app "meson $linkage" "$d/build/app_$linkage" "$linkage" "$log.$linkage" "" "$d/build/subprojects/connmatrix"
    result "meson subproject $linkage" "$log.$linkage" $?
  done
fi

finish
