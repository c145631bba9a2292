#!/usr/bin/env bash
# scripts/mnist.sh - installs what is missing, builds kiln and trains the report's MNIST CNN.
# Arguments go to `kiln mnist` (e.g. --epochs 1 --model mlp); data from --data, $MNIST_DIR or ./data/mnist.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
exec "${KILN_BUILD_DIR:-$root/build}/tools/kiln" mnist "$@"
