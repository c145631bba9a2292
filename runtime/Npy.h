// runtime/Npy.h - NumPy .npy tensor files: read and write.
//
// The format of numpy.save (format versions 1.0, 2.0 and 3.0): a magic string,
// a little-endian header length, a Python dict literal
// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded to a
// multiple of 64 bytes, then the raw elements in C order. kiln reads and
// writes little-endian f32, f64, i32, i64, u8 and bool; Fortran order,
// big-endian data and other dtypes are rejected with a message saying so.
// Every length is checked against the file size before anything is allocated,
// so a corrupt or hostile file yields a RuntimeError, never a crash (fuzzed).
#ifndef KILN_RUNTIME_NPY_H
#define KILN_RUNTIME_NPY_H

#include "ir/HostTensor.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kiln {

/// What the header of a .npy file says.
struct NpyHeader {
  TensorType type;
  /// Offset of the first data byte from the start of the file.
  size_t dataOffset = 0;
  /// Format version (1, 2 or 3).
  int majorVersion = 1;
};

/// Parses the header at the start of `bytes` (which may hold only a prefix of
/// the file) and checks that `fileSize` bytes are exactly header plus data.
/// Throws RuntimeError "NAME: what is wrong" on malformed input.
NpyHeader parseNpyHeader(std::span<const std::byte> bytes, uint64_t fileSize, std::string_view name);

/// Decodes a whole .npy file held in memory; `name` is used in messages.
HostTensor parseNpy(std::span<const std::byte> bytes, std::string_view name = "<npy>");

/// Reads a .npy file (RuntimeError naming the path on any failure).
HostTensor readNpy(const std::string &path);

/// Encodes `t` in the .npy format, exactly as numpy.save writes it: version
/// 1.0 (2.0 when the header would not fit), header padded to 64 bytes.
std::string npyBytes(const HostTensor &t);

/// Writes `t` to `path` as .npy (RuntimeError naming the path on failure).
void writeNpy(const std::string &path, const HostTensor &t);

} // namespace kiln

#endif // KILN_RUNTIME_NPY_H
