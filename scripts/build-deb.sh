#!/usr/bin/env bash
# Builds the Debian packages from debian/ (dpkg-buildpackage -us -uc -b, Debian 12's debhelper)
# in a copy of the source outside the checkout, and checks what each package holds:
#   libconnmatrix0.1   the shared library, whose SONAME is the one the package is named after
#   libconnmatrix-dev  headers, the .so link, the static library, pkg-config and CMake files
#   connmatrix         the command (run from the package: --version lists the three backends),
#                      its manual page and bash completion
# then runs lintian, which fails on an error. Prints "deb: ok" at the end, or fails.
# CONNMATRIX_DEB_DIR=DIR keeps the built .deb files there.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/deps.sh" debhelper dpkg-dev lintian

fail() {
    echo "deb: FAILED: $*"
    exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
upstream=${version%-*}
tree=$work/connmatrix-$upstream
mkdir "$tree"
# What the checkout tracks (and new files not ignored), not its build directories.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$src" ls-files -z -co --exclude-standard | tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
    tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$tree" -xf -
fi

echo "=== dpkg-buildpackage -us -uc -b in $tree"
t0=$SECONDS
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log"
    fail "dpkg-buildpackage (after $((SECONDS - t0)) s)"
fi
echo "dpkg-buildpackage: $((SECONDS - t0)) s"

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb_of() {
    local f=$work/${1}_${version}_${arch}.deb
    [ -f "$f" ] || fail "no $(basename "$f") (built: $(cd "$work" && echo *.deb))"
    echo "$f"
}
# Each path must be in the package, as a file, a directory or a link.
expect() {
    local deb=$1 listing
    shift
    listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
    for p in "$@"; do
        grep -qxF "./$p" <<<"$listing" || grep -qxF "./$p/" <<<"$listing" ||
            fail "$(basename "$deb") has no $p"
    done
}

lib=$(deb_of libconnmatrix0.1)
dev=$(deb_of libconnmatrix-dev)
cli=$(deb_of connmatrix)
libdir=usr/lib/$multiarch
expect "$lib" "$libdir/libconnmatrix.so.0.1"
expect "$dev" usr/include/connmatrix/client.hpp "$libdir/libconnmatrix.so" "$libdir/libconnmatrix.a" \
    "$libdir/pkgconfig/connmatrix.pc" "$libdir/cmake/connmatrix"
expect "$cli" usr/bin/connmatrix usr/share/man/man1/connmatrix.1.gz \
    usr/share/bash-completion/completions/connmatrix

# Debian policy 8.1: the library package is named after the SONAME it ships.
root=$work/root
for deb in "$lib" "$cli"; do dpkg-deb -x "$deb" "$root"; done
soname=$(readelf -d "$root/$libdir/libconnmatrix.so.0.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libconnmatrix.so.0.1 ] || fail "SONAME is '$soname', the package is named for libconnmatrix.so.0.1"
dpkg-deb -f "$cli" Depends | grep -q 'libconnmatrix0\.1' || fail "connmatrix does not depend on libconnmatrix0.1"
version_out=$(LD_LIBRARY_PATH=$root/$libdir "$root/usr/bin/connmatrix" --version) ||
    fail "connmatrix --version from the package"
for b in openssl gnutls mbedtls; do
    grep -q "^  $b " <<<"$version_out" || fail "the packaged connmatrix lacks the $b backend: $version_out"
done
echo "$version_out" | head -n 1

echo "=== lintian"
lintian --fail-on error "$work"/connmatrix_"${version}"_"${arch}".changes || fail "lintian errors"

if [ -n "${CONNMATRIX_DEB_DIR:-}" ]; then
    mkdir -p "$CONNMATRIX_DEB_DIR" && cp "$lib" "$dev" "$cli" "$CONNMATRIX_DEB_DIR"/
fi
echo "deb: ok"
