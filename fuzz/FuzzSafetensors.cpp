// fuzz/FuzzSafetensors.cpp - libFuzzer target: the safetensors (checkpoint) reader.
//
// Any input must decode or be rejected with a RuntimeError, without reading
// out of bounds or allocating what the header merely claims. A decoded file is
// encoded again and must decode to the same tensors and metadata.
#include "ir/Error.h"
#include "runtime/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte *>(data), size);
  kiln::SafetensorsFile f;
  try {
    f = kiln::parseSafetensors(bytes, "fuzz.safetensors");
  } catch (const kiln::RuntimeError &) {
    return 0;
  }
  std::string again = kiln::safetensorsBytes(f);
  kiln::SafetensorsFile back = kiln::parseSafetensors(
      std::span<const std::byte>(reinterpret_cast<const std::byte *>(again.data()), again.size()), "again");
  if (back.metadata != f.metadata || back.tensors.size() != f.tensors.size())
    std::abort();
  for (const auto &[name, t] : f.tensors) {
    auto it = back.tensors.find(name);
    if (it == back.tensors.end() || it->second.type() != t.type() ||
        std::memcmp(it->second.bytes(), t.bytes(), t.byteSize()) != 0)
      std::abort();
  }
  return 0;
}
