#!/usr/bin/env bash
# bench/compare_cpu.sh - the report CNN's train step (batch 128, Adadelta) in PyTorch and
# in kiln on this CPU, in one run; prints both medians and the ratio.
#
#   bench/compare_cpu.sh [STEPS] [THREADS]      (defaults: 50 steps, 2 threads)
# Needs: a built kiln (scripts/build.sh), MNIST ($MNIST_DIR or ./data/mnist), and Debian's
# python3-torch with libopenblas0-pthread (installed here when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-50}
threads=${2:-2}
kiln=${KILN_BUILD_DIR:-$root/build}/tools/kiln
[ -x "$kiln" ] || "$root/scripts/build.sh" >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi

echo "== PyTorch"
torch_out=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$root/bench/torch_mnist.py" --device cpu \
  --threads "$threads" --steps "$steps")
echo "$torch_out"
echo "== kiln"
kiln_out=$("$kiln" mnist --device cpu --threads "$threads" --benchmark "$steps" --no-outputs)
echo "$kiln_out" | tail -3

t=$(echo "$torch_out" | sed -n 's/^train_step_ms_median=//p')
k=$(echo "$kiln_out" | sed -n 's/^train_step_ms_median=//p')
echo "== result"
echo "pytorch_ms_median=$t"
echo "kiln_ms_median=$k"
awk -v t="$t" -v k="$k" 'BEGIN { printf "kiln_speedup_vs_pytorch=%.2f\n", t / k }'
