#!/usr/bin/env bash
# bench/compare_cpu.sh - the report CNN's train step (batch 128, Adadelta) in PyTorch and
# in kiln on this CPU, in one run; prints both medians and the ratio.
#
#   bench/compare_cpu.sh [STEPS] [THREADS] [ROUNDS]   (defaults: 50 steps, 2 threads, 3 rounds)
#
# The two alternate, PyTorch then kiln, ROUNDS times, each timing STEPS steps after a
# warm-up; each round gives both medians and their ratio, and the result is the median of
# the per-round figures, so a machine whose speed drifts (a shared host) affects both alike.
# PyTorch runs with THREADS OpenMP threads (oneDNN convolutions, elementwise ops) and a
# single-threaded OpenBLAS: Debian's libopenblas0-pthread otherwise starts its own pool of
# THREADS threads next to OpenMP's, and the two pools oversubscribe the cores (a median
# about 1.6x slower on 2 cores, with outliers of 4x).
# Needs: a built kiln (scripts/build.sh), MNIST ($MNIST_DIR or ./data/mnist), and Debian's
# python3-torch with libopenblas0-pthread (installed here when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-50}
threads=${2:-2}
rounds=${3:-3}
kiln=${KILN_BUILD_DIR:-$root/build}/tools/kiln
[ -x "$kiln" ] || "$root/scripts/build.sh" >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { sed -n "s/^$1=//p"; }

ts=() ks=() rs=()
for r in $(seq "$rounds"); do
  torch_out=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/torch_mnist.py" \
    --device cpu --threads "$threads" --steps "$steps")
  kiln_out=$("$kiln" mnist --device cpu --threads "$threads" --benchmark "$steps" --no-outputs)
  t=$(echo "$torch_out" | field train_step_ms_median)
  k=$(echo "$kiln_out" | field train_step_ms_median)
  ratio=$(awk -v t="$t" -v k="$k" 'BEGIN { printf "%.3f", t / k }')
  [ "$r" -eq 1 ] && { echo "$torch_out" | head -1; echo "$kiln_out" | grep '^compiled' || true; }
  printf 'round %d: pytorch %.2f ms, kiln %.2f ms, ratio %s\n' "$r" "$t" "$k" "$ratio"
  ts+=("$t") ks+=("$k") rs+=("$ratio")
done

echo "== result (median of $rounds rounds of $steps steps, $threads threads)"
echo "pytorch_ms_median=$(printf '%s\n' "${ts[@]}" | median)"
echo "kiln_ms_median=$(printf '%s\n' "${ks[@]}" | median)"
echo "kiln_speedup_vs_pytorch=$(printf '%s\n' "${rs[@]}" | median)"
