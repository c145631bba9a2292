#!/usr/bin/env bash
# scripts/test.sh - installs what is missing, builds kiln and runs the whole test suite.
# MNIST tests use $MNIST_DIR when it holds the four IDX .gz files and skip otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" "$@"
build=${KILN_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
