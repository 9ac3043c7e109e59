#!/usr/bin/env bash
# Installs the Debian 12 packages connmatrix builds and tests with, only those missing.
# Usage: scripts/deps.sh [extra packages...]
set -euo pipefail
packages=(
  g++ meson ninja-build pkg-config openssl
  libssl-dev libgnutls28-dev libmbedtls-dev libnghttp2-dev libasio-dev libc-ares-dev
  nlohmann-json3-dev doctest-dev libcli11-dev
  python3 python3-jsonschema
  groff-base  # the cli suite renders connmatrix(1) with groff -man -ww
  cmake       # Meson writes the CMake package files with CMake's own version-file template
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
