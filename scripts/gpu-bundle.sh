#!/usr/bin/env bash
# scripts/gpu-bundle.sh - kiln for a GPU machine whose OS image lacks Debian's packages.
#
#   scripts/gpu-bundle.sh [DIR]        (default: .carry/gpu, which git ignores)
#
# Builds kiln without the LLVM CPU backend (-DKILN_WITH_LLVM=OFF, docs/cuda.md) into
# build-gpu/ and copies into DIR what a GPU machine needs to test and benchmark the CUDA
# backend with only a CUDA 13 toolkit or driver there:
#   DIR/tools/kiln, DIR/tests/kiln_{runtime,examples}_tests   the binaries (libstdc++ static)
#   DIR/lib/                                       their libraries that are not glibc's or CUDA's
#   DIR/mnist/                                     the four MNIST files, from $MNIST_DIR
# On the GPU machine, bench/gpu-check.sh DIR runs the GPU tests and benchmarks from it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/.carry/gpu}
build=${KILN_GPU_BUILD_DIR:-$root/build-gpu}
"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_WITH_LLVM=OFF \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" >/dev/null
cmake --build "$build" -j "$(nproc)" --target kiln kiln_runtime_tests kiln_examples_tests

rm -rf "$dir"
mkdir -p "$dir/tools" "$dir/tests" "$dir/lib" "$dir/mnist"
cp "$build/tools/kiln" "$dir/tools/"
cp "$build/tests/kiln_runtime_tests" "$build/tests/kiln_examples_tests" "$dir/tests/"
# Shared libraries besides glibc's, the C++ runtime's and CUDA's (NVRTC comes from the
# GPU machine's toolkit: the same major version, and too large to carry).
for bin in "$dir/tools/kiln" "$dir/tests/kiln_runtime_tests" "$dir/tests/kiln_examples_tests"; do
  ldd "$bin" | awk '$3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    case "$name" in
      libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|ld-linux*|libstdc++*|libgcc_s*|libnvrtc*|libcuda.so*) ;;
      *) cp -L "$path" "$dir/lib/$name" ;;
    esac
  done
done

mnist=${MNIST_DIR:-$root/data/mnist}
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ ! -f "$mnist/$f.gz" ]; then
    echo "error: $mnist/$f.gz not found (set MNIST_DIR, or run scripts/download_mnist.sh)" >&2
    exit 1
  fi
  cp "$mnist/$f.gz" "$dir/mnist/"
done
echo "bundle in $dir ($(du -sh "$dir" | cut -f1)):"
(cd "$dir" && find . -type f | sort)
