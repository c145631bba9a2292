#!/usr/bin/env bash
# bench/gpu-check.sh - the CUDA backend's GPU tests and benchmarks, in one run, from a
# bundle made by scripts/gpu-bundle.sh (for GPU machines without Debian's packages).
#
#   bench/gpu-check.sh [BUNDLE] [LOGS]     (defaults: .carry/gpu, BUNDLE/logs)
#
# Runs, each logged to LOGS/NAME.log and summed up at the end:
#   gpu        nvidia-smi
#   tests      every CUDA test of kiln_runtime_tests on the GPU (ops and fused patterns against
#              the interpreter, the report CNN train step, graph replay, random graphs, the
#              step protocol) and the pipelined epoch of kiln_examples_tests
#   benchmark  kiln mnist --device cuda --benchmark 200 (median train step, batch 128)
#   plain      the same with KILN_CUDA_PDL=0 (no programmatic dependent launches: what they save)
#   noprefetch the same with KILN_CUDA_PREFETCH=0 (GEMMs load, then multiply: what prefetch saves)
#   separate   the same with KILN_GRAD_UPDATE=0 (each update a kernel of its own: what
#              storing it by its gradient's kernel saves)
#   tf32       the same with --tf32 (tensor cores)
#   profile    the same with KILN_PROFILE=1: each launch's GPU time, slowest first (launched one
#              at a time between events, so the sum exceeds the replayed step)
#   epochs     kiln mnist --device cuda --epochs 3 (seconds per epoch: 469 steps + 10,000 test images)
#   compare    bench/compare_gpu.sh 200 (PyTorch eager, torch.compile max-autotune, kiln)
# NVRTC is the machine's (libnvrtc.so.13, found under /usr/local/cuda or Python's
# nvidia packages). KILN_GPU_CHECK_STEPS=name,name picks a subset.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:-$root/.carry/gpu}" && pwd)
logs=${2:-$bundle/logs}
mkdir -p "$logs"
steps=${KILN_GPU_CHECK_STEPS:-gpu,tests,benchmark,plain,noprefetch,separate,tf32,profile,epochs,compare}

nvrtc=$(find /usr/local/cuda*/ /usr/lib/x86_64-linux-gnu /opt /usr/local/lib -name 'libnvrtc.so.13*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH="$bundle/lib${nvrtc:+:$(dirname "$nvrtc")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MNIST_DIR=$bundle/mnist KILN_BUILD_DIR=$bundle KILN_CACHE_DIR=$bundle/cache
kiln=$bundle/tools/kiln
summary=()

step() { # NAME COMMAND...: runs COMMAND when NAME is selected, logging it
  local name=$1
  shift
  [[ ",$steps," == *",$name,"* ]] || return 0
  echo "== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  summary+=("$name: exit $rc, $((SECONDS - t0)) s")
}

step gpu nvidia-smi
cuda_tests() {
  "$bundle/tests/kiln_runtime_tests" --gtest_filter='*Cuda*:*StepProtocol*/cuda:*RowTables*/cuda' --gtest_brief=1 &&
    "$bundle/tests/kiln_examples_tests" --gtest_filter='*OnCuda' --gtest_brief=1
}
step tests cuda_tests
step benchmark "$kiln" mnist --device cuda --benchmark 200 --no-outputs -v
step plain env KILN_CUDA_PDL=0 "$kiln" mnist --device cuda --benchmark 200 --no-outputs -v
step noprefetch env KILN_CUDA_PREFETCH=0 "$kiln" mnist --device cuda --benchmark 200 --no-outputs -v
step separate env KILN_GRAD_UPDATE=0 "$kiln" mnist --device cuda --benchmark 200 --no-outputs -v
step tf32 "$kiln" mnist --device cuda --tf32 --benchmark 200 --no-outputs -v
step profile env KILN_PROFILE=1 "$kiln" mnist --device cuda --benchmark 50 --no-outputs
step epochs "$kiln" mnist --device cuda --epochs 3 --out "$logs/run" -v
step compare "$root/bench/compare_gpu.sh" 200

echo "== summary (NVRTC: ${nvrtc:-not found})"
printf '%s\n' "${summary[@]}"
for f in benchmark plain noprefetch separate tf32 compare; do
  [ -f "$logs/$f.log" ] && grep -h '_ms_median=\|speedup\|pipelined' "$logs/$f.log" | sed "s/^/$f: /"
done
[ -f "$logs/profile.log" ] && grep -h -A8 '^kiln profile' "$logs/profile.log" | sed "s/^/profile: /"
[ -f "$logs/run/metrics.csv" ] && cat "$logs/run/metrics.csv"
exit 0
