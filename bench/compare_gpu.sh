#!/usr/bin/env bash
# bench/compare_gpu.sh - the report CNN's train step (batch 128, Adadelta) on the GPU, in one run:
# PyTorch eager, PyTorch torch.compile(mode="max-autotune"), and kiln's CUDA backend (one
# CUDA graph per step). Prints the three medians and kiln's ratios to both.
#
#   bench/compare_gpu.sh [STEPS]      (default: 200 steps)
# Needs: kiln built with the CUDA backend (docs/cuda.md; -DKILN_WITH_LLVM=OFF is fine),
# MNIST in $MNIST_DIR or ./data/mnist (kiln's benchmark feeds real batches), and a python
# with a CUDA build of torch ($PYTHON, default python3). Same GPU for all three.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-200}
python=${PYTHON:-python3}
kiln=${KILN_BUILD_DIR:-$root/build}/tools/kiln
if [ ! -x "$kiln" ]; then
  echo "error: no kiln at $kiln (build it, or set KILN_BUILD_DIR)" >&2
  exit 1
fi
median() { sed -n 's/^train_step_ms_median=//p'; }

echo "== PyTorch eager"
eager_out=$("$python" "$root/bench/torch_mnist.py" --device cuda --steps "$steps" --warmup 20)
echo "$eager_out"
echo "== PyTorch compiled (max-autotune)"
# max-autotune benchmarks many kernel variants while it compiles: minutes. It gets at most
# $compile_limit seconds, so that one GPU session always ends with the other figures.
compile_limit=${TORCH_COMPILE_LIMIT:-300}
compiled_out=$(timeout "$compile_limit" "$python" "$root/bench/torch_mnist.py" --device cuda --steps "$steps" \
  --warmup 20 --compile max-autotune 2>&1 | grep -v '^W[0-9]' || true)
echo "$compiled_out" | tail -3
echo "$compiled_out" | grep -q '^train_step_ms_median=' ||
  echo "torch.compile gave no figure (it failed, or ran past $compile_limit s: TORCH_COMPILE_LIMIT)"
echo "== kiln"
kiln_out=$("$kiln" mnist --device cuda --benchmark "$steps" --no-outputs -v)
echo "$kiln_out" | tail -4

e=$(echo "$eager_out" | median)
c=$(echo "$compiled_out" | median)
k=$(echo "$kiln_out" | median)
echo "== result ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'GPU'))"
echo "pytorch_eager_ms_median=$e"
echo "pytorch_compiled_ms_median=${c:-n/a}"
echo "kiln_ms_median=$k"
awk -v e="$e" -v k="$k" 'BEGIN { printf "kiln_speedup_vs_eager=%.2f\n", e / k }'
if [ -n "$c" ]; then
  awk -v c="$c" -v k="$k" 'BEGIN { printf "kiln_speedup_vs_compiled=%.2f\n", c / k }'
fi
