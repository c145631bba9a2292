// runtime/Idx.h - IDX data files (MNIST, Fashion-MNIST): read, gzip or plain.
//
// An IDX file is a big-endian magic number 0x0000TTNN (TT element type, NN
// number of dimensions), NN big-endian 32-bit extents, then the elements in
// C order. kiln reads unsigned-byte files (type 0x08): MNIST images have
// magic 2051 (3 dims: count, rows, cols), labels 2049 (1 dim: count). The
// payload length is checked against the extents, and every error names the
// file and what is wrong: "train-images-idx3-ubyte.gz: truncated: expected
// 47040016 bytes (16-byte header + 60000x28x28 pixels), got 1000".
#ifndef KILN_RUNTIME_IDX_H
#define KILN_RUNTIME_IDX_H

#include "ir/HostTensor.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kiln {

/// Magic number of IDX image files (unsigned bytes, 3 dimensions).
inline constexpr uint32_t kIdxImagesMagic = 2051;
/// Magic number of IDX label files (unsigned bytes, 1 dimension).
inline constexpr uint32_t kIdxLabelsMagic = 2049;

/// Decodes an uncompressed IDX file held in memory into a u8 tensor whose shape
/// is the file's extents. `expectedMagic` (0 = any unsigned-byte IDX) must
/// match the file's magic. Throws RuntimeError "NAME: what is wrong".
HostTensor parseIdx(std::span<const std::byte> bytes, std::string_view name, uint32_t expectedMagic = 0);

/// Reads an IDX file, gzip-compressed (`.gz`) or plain; see parseIdx.
HostTensor readIdx(const std::string &path, uint32_t expectedMagic = 0);

/// Reads an image file: u8[count, rows, cols] (magic 2051).
inline HostTensor readIdxImages(const std::string &path) { return readIdx(path, kIdxImagesMagic); }
/// Reads a label file: u8[count] (magic 2049).
inline HostTensor readIdxLabels(const std::string &path) { return readIdx(path, kIdxLabelsMagic); }

/// Encodes a u8 tensor of rank 1..255 as an uncompressed IDX file (test data, tools).
std::string idxBytes(const HostTensor &t);

} // namespace kiln

#endif // KILN_RUNTIME_IDX_H
