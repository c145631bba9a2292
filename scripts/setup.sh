#!/usr/bin/env bash
# scripts/setup.sh - installs the Debian 12 packages kiln builds with, when missing.
# Needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(cmake ninja-build g++ llvm-19-dev llvm-19-tools libzstd-dev libboost-graph-dev googletest
      libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libpng-dev nlohmann-json3-dev
      libcli11-dev graphviz python3 ccache)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kiln setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
