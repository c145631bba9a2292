// fuzz/FuzzNpy.cpp - libFuzzer target: the .npy reader.
//
// Any input must decode or be rejected with a RuntimeError, without reading
// out of bounds or allocating more than the input could justify. A decoded
// tensor is written back and re-read: it must come back identical.
#include "ir/Error.h"
#include "runtime/Npy.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte *>(data), size);
  kiln::HostTensor t;
  try {
    t = kiln::parseNpy(bytes, "fuzz.npy");
  } catch (const kiln::RuntimeError &) {
    return 0;
  }
  std::string again = kiln::npyBytes(t);
  kiln::HostTensor back =
      kiln::parseNpy(std::span<const std::byte>(reinterpret_cast<const std::byte *>(again.data()), again.size()));
  if (back.type() != t.type() || back.byteSize() != t.byteSize() ||
      std::memcmp(back.bytes(), t.bytes(), t.byteSize()) != 0)
    std::abort();
  return 0;
}
