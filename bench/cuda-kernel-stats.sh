#!/usr/bin/env bash
# bench/cuda-kernel-stats.sh - static figures of the CUDA kernels in a `kiln compile --dump` folder.
#
#   bench/cuda-kernel-stats.sh DUMP_DIR [ARCH]      (default arch: sm_90)
#
# Assembles each kernel's PTX with ptxas (as the driver would) and prints, per kernel, its
# launch shape, registers per thread, spilled bytes and SASS instructions (the size of its
# .text section over 16 bytes, the instruction size of sm_70 and later), then the totals.
# No GPU needed: the figures compare code generators, not run times. ptxas is $KILN_PTXAS,
# else /usr/local/cuda/bin/ptxas, else ptxas on PATH; readelf comes from binutils.
set -euo pipefail
dir=${1:?usage: bench/cuda-kernel-stats.sh DUMP_DIR [ARCH]}
arch=${2:-sm_90}
ptxas=${KILN_PTXAS:-}
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
ptxas=${ptxas:-ptxas}
command -v "$ptxas" >/dev/null || { echo "error: no ptxas (set KILN_PTXAS)" >&2; exit 1; }
command -v readelf >/dev/null || { echo "error: no readelf (binutils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-44s %-22s %5s %6s %7s\n' kernel launch regs spill instrs
total=0 regsum=0 count=0
for ptx in "$dir"/*.ptx; do
  name=$(basename "$ptx" .ptx)
  log=$("$ptxas" -arch="$arch" -v "$ptx" -o "$tmp/k.cubin" 2>&1) || { echo "error: ptxas failed on $ptx:" >&2; echo "$log" >&2; exit 1; }
  regs=$(echo "$log" | sed -n 's/.*Used \([0-9]*\) registers.*/\1/p' | head -1)
  spill=$(echo "$log" | sed -n 's/.*\([0-9][0-9]*\) bytes spill stores.*/\1/p' | head -1)
  hex=$(readelf -S -W "$tmp/k.cubin" 2>/dev/null | awk -v s=".text.$name" '$2 == s { print $6 }' | head -1)
  instrs=$(( 16#${hex:-0} / 16 ))
  launch=$(head -1 "$dir/$name.cu" 2>/dev/null | sed -n 's/.*grid \[\([^]]*\)\], block \[\([0-9]*\).*/\1 x \2/p')
  printf '%-44s %-22s %5s %6s %7s\n' "$name" "${launch:-?}" "${regs:-?}" "${spill:-0}" "$instrs"
  total=$((total + instrs)) regsum=$((regsum + ${regs:-0})) count=$((count + 1))
done
echo "kernels=$count sass_instructions=$total registers_sum=$regsum"
