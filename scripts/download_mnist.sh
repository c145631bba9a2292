#!/usr/bin/env bash
# scripts/download_mnist.sh - downloads the four MNIST IDX .gz files into DIR and verifies their MD5s.
#
# Usage: scripts/download_mnist.sh [DIR]   (default: $MNIST_DIR, else ./data/mnist)
# Files already present with the published checksum are kept. Each file is
# tried from several public mirrors; a file whose checksum does not match is
# deleted and the next mirror is tried. Needs curl or wget, and md5sum.
set -euo pipefail

dir=${1:-${MNIST_DIR:-data/mnist}}
mirrors=(
  https://ossci-datasets.s3.amazonaws.com/mnist
  https://storage.googleapis.com/cvdf-datasets/mnist
  https://yann.lecun.com/exdb/mnist
)
# The checksums published with the dataset.
declare -A md5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)

fetch() { # fetch URL OUT
  if command -v curl >/dev/null; then
    curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q --tries=2 --timeout=20 -O "$2" "$1"
  else
    echo "error: neither curl nor wget is installed" >&2
    exit 1
  fi
}

checksum_ok() { # checksum_ok FILE EXPECTED
  [ -f "$1" ] && [ "$(md5sum "$1" | cut -d' ' -f1)" = "$2" ]
}

mkdir -p "$dir"
status=0
for name in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  out="$dir/$name"
  if checksum_ok "$out" "${md5[$name]}"; then
    echo "$out: present, checksum ok"
    continue
  fi
  done_one=0
  for m in "${mirrors[@]}"; do
    tmp="$out.part"
    if fetch "$m/$name" "$tmp" 2>/dev/null && checksum_ok "$tmp" "${md5[$name]}"; then
      mv "$tmp" "$out"
      echo "$out: downloaded from $m, checksum ok"
      done_one=1
      break
    fi
    rm -f "$tmp"
    echo "$name: $m failed or gave a wrong checksum, trying the next mirror" >&2
  done
  if [ "$done_one" -ne 1 ]; then
    echo "error: could not download $name with MD5 ${md5[$name]} from any mirror" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "MNIST is in $dir; use it with --data $dir or MNIST_DIR=$dir"
fi
exit "$status"
