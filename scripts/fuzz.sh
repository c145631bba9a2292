#!/usr/bin/env bash
# scripts/fuzz.sh - builds the libFuzzer targets (clang, ASan + UBSan) and fuzzes one or all readers.
#
# Usage: scripts/fuzz.sh NAME [SECONDS]   NAME: ir_parser | npy | idx | safetensors | all (default 60 s each)
#
# Seeds come from fuzz/corpus/NAME and fuzz/regressions/NAME (read only); new
# interesting inputs go to build-fuzz/corpus/NAME, crashes to
# build-fuzz/artifacts/NAME/. A crash makes this script exit non-zero; copy the
# crash file into fuzz/regressions/NAME/ after fixing it, and
# tests/runtime/FuzzCorpusTest.cpp replays it in every test run.
# The build directory is $KILN_FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
names=(ir_parser npy idx safetensors)
name=${1:-}
seconds=${2:-60}
if [[ -z "$name" || ! " ${names[*]} all " =~ " $name " ]]; then
  echo "usage: scripts/fuzz.sh ${names[*]// /|}|all [SECONDS]" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "error: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }

"$root/scripts/setup.sh"
pkgs=(clang-19 libclang-rt-19-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kiln fuzz: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${KILN_FUZZ_BUILD_DIR:-$root/build-fuzz}
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
targets=()
if [[ "$name" == all ]]; then selected=("${names[@]}"); else selected=("$name"); fi
for n in "${selected[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

status=0
for n in "${selected[@]}"; do
  work="$build/corpus/$n"
  artifacts="$build/artifacts/$n"
  mkdir -p "$work" "$artifacts" "$root/fuzz/regressions/$n"
  echo "== fuzz_$n for ${seconds}s"
  # -malloc_limit_mb: a reader must refuse absurd sizes before allocating them.
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       "$build/fuzz_$n" "$work" "$root/fuzz/corpus/$n" "$root/fuzz/regressions/$n" \
         -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
         -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" 2>"$build/fuzz_$n.log"; then
    tail -n 60 "$build/fuzz_$n.log" >&2
    echo "error: fuzz_$n found a failure; the input is in $artifacts/ (see $build/fuzz_$n.log)" >&2
    status=1
  else
    grep -E "^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)" "$build/fuzz_$n.log" || true
  fi
done
exit "$status"
