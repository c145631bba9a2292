#!/usr/bin/env bash
# scripts/build.sh - configures and builds kiln (Release) into build/ (or $KILN_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DKILN_SANITIZE=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
build=${KILN_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${KILN_BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
