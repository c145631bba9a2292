// fuzz/FuzzIdx.cpp - libFuzzer target: the IDX reader, plain and gzip.
//
// The first input byte is a control byte: bits 0-1 pick the magic the caller
// expects (any, images 2051, labels 2049, as the MNIST loader asks), bits 6-7
// the path: 0 or 1 decode the rest in memory (parseIdx), 2 write the rest as a
// (usually corrupt) `.gz` file and read it with readIdx, 3 gzip-compress the
// rest into a `.gz` file first (a valid stream with a hostile payload). Any
// input must decode or be rejected with a RuntimeError; a decoded tensor is
// encoded again and must decode to the same tensor.
#include "ir/Error.h"
#include "runtime/Idx.h"

#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

namespace {

std::span<const std::byte> asBytes(const std::string &s) {
  return {reinterpret_cast<const std::byte *>(s.data()), s.size()};
}

/// A per-process scratch file for the gzip paths.
std::string scratchPath() {
  static const std::string p = "/tmp/kiln-fuzz-idx-" + std::to_string(::getpid()) + ".gz";
  return p;
}

void writeScratch(const uint8_t *data, size_t size, bool compress) {
  if (compress) {
    gzFile f = gzopen(scratchPath().c_str(), "wb");
    if (!f)
      std::abort();
    if (size > 0 && gzwrite(f, data, static_cast<unsigned>(size)) != static_cast<int>(size))
      std::abort();
    gzclose(f);
    return;
  }
  FILE *f = std::fopen(scratchPath().c_str(), "wb");
  if (!f)
    std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t control = data[0];
  const uint32_t magics[4] = {0, kiln::kIdxImagesMagic, kiln::kIdxLabelsMagic, 0};
  const uint32_t magic = magics[control & 3];
  const int path = control >> 6;
  ++data;
  --size;
  kiln::HostTensor t;
  try {
    if (path < 2) {
      t = kiln::parseIdx(std::span<const std::byte>(reinterpret_cast<const std::byte *>(data), size),
                         "fuzz-idx-ubyte", magic);
    } else {
      writeScratch(data, size, path == 3);
      t = kiln::readIdx(scratchPath(), magic);
    }
  } catch (const kiln::RuntimeError &) {
    return 0;
  }
  std::string again = kiln::idxBytes(t);
  kiln::HostTensor back = kiln::parseIdx(asBytes(again), "again");
  if (back.type() != t.type() || std::memcmp(back.bytes(), t.bytes(), t.byteSize()) != 0)
    std::abort();
  return 0;
}
