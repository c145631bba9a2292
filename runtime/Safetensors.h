// runtime/Safetensors.h - safetensors tensor files: kiln's checkpoint format.
//
// Layout (huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON `{"__metadata__": {"k": "v"}, "w": {"dtype": "F32",
// "shape": [2,3], "data_offsets": [0,24]}, ...}`, then the data buffer; the
// offsets are relative to its start. Files are readable by PyTorch
// (safetensors.torch.load_file) and numpy. kiln reads and writes the dtypes
// F32, F64, I32, I64, U8 and BOOL. Reading validates everything (header size,
// dtypes, shapes, offsets within the file, no overlaps or holes) before it
// allocates tensors, and is fuzzed. Writing is atomic: a temporary file in the
// same folder, fsync, rename over the target, fsync of the folder, so a crash
// or a failed write leaves the previous file intact.
#ifndef KILN_RUNTIME_SAFETENSORS_H
#define KILN_RUNTIME_SAFETENSORS_H

#include "ir/HostTensor.h"

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace kiln {

/// The contents of a safetensors file.
struct SafetensorsFile {
  /// Tensors by name.
  std::map<std::string, HostTensor> tensors;
  /// The optional `__metadata__` string map (e.g. {"epoch": "3"}).
  std::map<std::string, std::string> metadata;
};

/// Decodes a whole safetensors file held in memory; `name` is used in messages.
/// Throws RuntimeError "NAME: what is wrong" on malformed input.
SafetensorsFile parseSafetensors(std::span<const std::byte> bytes, std::string_view name = "<safetensors>");

/// Reads a safetensors file (RuntimeError naming the path on any failure).
SafetensorsFile readSafetensors(const std::string &path);

/// Encodes tensors and metadata as a safetensors file: tensors in name order,
/// header padded with spaces to a multiple of 8 bytes.
std::string safetensorsBytes(const SafetensorsFile &file);

/// Writes `file` to `path` atomically (see writeFileAtomic).
void writeSafetensors(const std::string &path, const SafetensorsFile &file);

/// Replaces `path` with `bytes` atomically: writes a temporary file in the same
/// folder, fsyncs it, renames it over `path` and fsyncs the folder. On failure
/// the temporary file is removed, `path` keeps its old contents, and a
/// RuntimeError names the path and the reason.
void writeFileAtomic(const std::string &path, std::string_view bytes);

} // namespace kiln

#endif // KILN_RUNTIME_SAFETENSORS_H
