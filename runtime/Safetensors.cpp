// runtime/Safetensors.cpp - safetensors reader, writer and the atomic file write.
//
// The JSON header is parsed with nlohmann_json into a list of entries that is
// validated as a whole (dtype, shape, offsets, overlaps, holes) against the
// size of the data buffer; tensors are allocated only afterwards.
#include "runtime/Safetensors.h"

#include "ir/Error.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

namespace kiln {
namespace {

// The reference implementation refuses larger headers too.
constexpr uint64_t kMaxHeader = 100'000'000;

struct DTypeName {
  std::string_view name;
  DType dtype;
};
constexpr std::array<DTypeName, 6> kDTypes{{{"F32", DType::F32},
                                            {"F64", DType::F64},
                                            {"I32", DType::I32},
                                            {"I64", DType::I64},
                                            {"U8", DType::U8},
                                            {"BOOL", DType::Bool}}};

std::optional<DType> dtypeFromName(std::string_view s) {
  for (const auto &e : kDTypes)
    if (e.name == s)
      return e.dtype;
  return std::nullopt;
}

std::string_view nameOf(DType t) {
  for (const auto &e : kDTypes)
    if (e.dtype == t)
      return e.name;
  KILN_INTERNAL_ERROR() << "safetensors: no name for dtype " << dtypeName(t);
  return {};
}

struct Entry {
  std::string name;
  TensorType type;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries; // sorted by begin
  std::map<std::string, std::string> metadata;
};

uint64_t readU64LE(const std::byte *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t checkedUInt(const nlohmann::json &j, std::string_view name, const std::string &tensor,
                     std::string_view field) {
  KILN_RUNTIME_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0))
      << name << ": tensor '" << tensor << "': " << field << " must hold non-negative integers, got " << j.dump();
  return j.get<uint64_t>();
}

Entry parseEntry(const std::string &key, const nlohmann::json &v, std::string_view name) {
  KILN_RUNTIME_CHECK(v.is_object()) << name << ": tensor '" << key << "': entry is not an object";
  for (const char *field : {"dtype", "shape", "data_offsets"})
    KILN_RUNTIME_CHECK(v.contains(field)) << name << ": tensor '" << key << "': missing '" << field << "'";
  const auto &dt = v["dtype"];
  KILN_RUNTIME_CHECK(dt.is_string()) << name << ": tensor '" << key << "': dtype is not a string";
  auto dtype = dtypeFromName(dt.get<std::string>());
  KILN_RUNTIME_CHECK(dtype) << name << ": tensor '" << key << "': unsupported dtype " << dt.get<std::string>()
                            << " (supported: F32 F64 I32 I64 U8 BOOL)";
  const auto &sh = v["shape"];
  KILN_RUNTIME_CHECK(sh.is_array() && sh.size() <= 64)
      << name << ": tensor '" << key << "': shape is not an array of at most 64 extents";
  Entry e{key, {*dtype, {}}, 0, 0};
  uint64_t count = 1;
  for (const auto &d : sh) {
    uint64_t x = checkedUInt(d, name, key, "shape");
    KILN_RUNTIME_CHECK(x <= uint64_t{INT64_MAX} && !__builtin_mul_overflow(count, x, &count))
        << name << ": tensor '" << key << "': shape " << sh.dump() << " is too large";
    e.type.shape.push_back(static_cast<int64_t>(x));
  }
  const auto &off = v["data_offsets"];
  KILN_RUNTIME_CHECK(off.is_array() && off.size() == 2)
      << name << ": tensor '" << key << "': data_offsets is not [begin, end]";
  e.begin = checkedUInt(off[0], name, key, "data_offsets");
  e.end = checkedUInt(off[1], name, key, "data_offsets");
  KILN_RUNTIME_CHECK(e.begin <= e.end) << name << ": tensor '" << key << "': data_offsets " << off.dump()
                                       << " end before they begin";
  uint64_t bytes = 0;
  KILN_RUNTIME_CHECK(!__builtin_mul_overflow(count, dtypeSize(*dtype), &bytes))
      << name << ": tensor '" << key << "': shape " << sh.dump() << " is too large";
  KILN_RUNTIME_CHECK(e.end - e.begin == bytes)
      << name << ": tensor '" << key << "': data_offsets " << off.dump() << " hold " << e.end - e.begin
      << " bytes, " << typeString(e.type) << " needs " << bytes;
  return e;
}

Header parseHeader(std::string_view text, uint64_t dataSize, std::string_view name) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  KILN_RUNTIME_CHECK(!j.is_discarded()) << name << ": header is not valid JSON";
  KILN_RUNTIME_CHECK(j.is_object()) << name << ": header is not a JSON object";
  Header h;
  for (const auto &[key, v] : j.items()) {
    if (key == "__metadata__") {
      KILN_RUNTIME_CHECK(v.is_object()) << name << ": __metadata__ is not an object";
      for (const auto &[mk, mv] : v.items()) {
        KILN_RUNTIME_CHECK(mv.is_string()) << name << ": __metadata__ value of '" << mk << "' is not a string";
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parseEntry(key, v, name));
  }
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry &a, const Entry &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The tensors must tile the data buffer exactly: no overlap, no hole.
  uint64_t pos = 0;
  const Entry *prev = nullptr;
  for (const Entry &e : h.entries) {
    KILN_RUNTIME_CHECK(e.end <= dataSize) << name << ": tensor '" << e.name << "': data_offsets [" << e.begin
                                          << "," << e.end << "] lie outside the " << dataSize
                                          << "-byte data buffer";
    KILN_RUNTIME_CHECK(e.begin >= pos) << name << ": tensors '" << prev->name << "' and '" << e.name
                                       << "' overlap (bytes [" << prev->begin << "," << prev->end << ") and ["
                                       << e.begin << "," << e.end << "))";
    KILN_RUNTIME_CHECK(e.begin == pos)
        << name << ": bytes [" << pos << "," << e.begin << ") of the data buffer belong to no tensor";
    pos = e.end;
    prev = &e;
  }
  KILN_RUNTIME_CHECK(pos == dataSize) << name << ": bytes [" << pos << "," << dataSize
                                      << ") of the data buffer belong to no tensor";
  return h;
}

/// Reads the 8-byte length and checks it against the file size; returns N.
uint64_t headerLength(std::span<const std::byte> first8, uint64_t fileSize, std::string_view name) {
  KILN_RUNTIME_CHECK(fileSize >= 8 && first8.size() >= 8)
      << name << ": truncated: file has " << fileSize << " bytes, a safetensors file needs at least 8";
  uint64_t n = readU64LE(first8.data());
  KILN_RUNTIME_CHECK(n <= kMaxHeader) << name << ": header length " << n << " exceeds the limit of "
                                      << kMaxHeader << " bytes";
  KILN_RUNTIME_CHECK(n <= fileSize - 8) << name << ": truncated: header length " << n << " but the file has only "
                                        << fileSize - 8 << " bytes after the length";
  return n;
}

// Bool elements are stored as 0 or 1 whatever byte the file holds.
void normalizeBools(HostTensor &t) {
  if (t.dtype() != DType::Bool)
    return;
  auto *p = reinterpret_cast<uint8_t *>(t.bytes());
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = p[i] != 0;
}

void writeAll(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      throw std::system_error(w < 0 ? errno : EIO, std::generic_category());
    p += w;
    n -= static_cast<size_t>(w);
  }
}

} // namespace

SafetensorsFile parseSafetensors(std::span<const std::byte> bytes, std::string_view name) {
  uint64_t n = headerLength(bytes, bytes.size(), name);
  std::string_view text(reinterpret_cast<const char *>(bytes.data()) + 8, n);
  Header h = parseHeader(text, bytes.size() - 8 - n, name);
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  const std::byte *data = bytes.data() + 8 + n;
  for (const Entry &e : h.entries) {
    HostTensor t(e.type);
    if (t.byteSize())
      std::memcpy(t.bytes(), data + e.begin, t.byteSize());
    normalizeBools(t);
    out.tensors[e.name] = std::move(t);
  }
  return out;
}

SafetensorsFile readSafetensors(const std::string &path) {
  std::error_code ec;
  uint64_t fileSize = std::filesystem::file_size(path, ec);
  KILN_RUNTIME_CHECK(!ec) << path << ": cannot read: " << ec.message();
  std::ifstream in(path, std::ios::binary);
  KILN_RUNTIME_CHECK(in) << path << ": cannot open for reading";
  std::array<std::byte, 8> first{};
  in.read(reinterpret_cast<char *>(first.data()), static_cast<std::streamsize>(std::min<uint64_t>(8, fileSize)));
  uint64_t n = headerLength(std::span(first).first(std::min<uint64_t>(8, fileSize)), fileSize, path);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  KILN_RUNTIME_CHECK(in) << path << ": read error in the header";
  Header h = parseHeader(text, fileSize - 8 - n, path);
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (const Entry &e : h.entries) { // sorted by offset: one forward pass
    HostTensor t(e.type);
    in.read(reinterpret_cast<char *>(t.bytes()), static_cast<std::streamsize>(t.byteSize()));
    KILN_RUNTIME_CHECK(in) << path << ": read error in tensor '" << e.name << "'";
    normalizeBools(t);
    out.tensors[e.name] = std::move(t);
  }
  return out;
}

std::string safetensorsBytes(const SafetensorsFile &file) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!file.metadata.empty())
    j["__metadata__"] = file.metadata;
  uint64_t pos = 0;
  for (const auto &[name, t] : file.tensors) {
    KILN_USER_CHECK(name != "__metadata__") << "safetensors: '__metadata__' cannot name a tensor";
    j[name] = {{"dtype", nameOf(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {pos, pos + t.byteSize()}}};
    pos += t.byteSize();
  }
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xff);
  out.reserve(8 + header.size() + pos);
  out += header;
  for (const auto &[name, t] : file.tensors)
    out.append(reinterpret_cast<const char *>(t.bytes()), t.byteSize());
  return out;
}

void writeSafetensors(const std::string &path, const SafetensorsFile &file) {
  writeFileAtomic(path, safetensorsBytes(file));
}

void writeFileAtomic(const std::string &path, std::string_view bytes) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpName = "."; // appended piecewise: GCC 12 warns on "." + string (-Wrestrict)
  tmpName += target.filename().string();
  tmpName += ".tmp-XXXXXX";
  std::string tmpl = (dir / tmpName).string();
  int fd = ::mkstemp(tmpl.data());
  KILN_RUNTIME_CHECK(fd >= 0) << path << ": cannot create a temporary file in " << dir.string() << ": "
                              << std::strerror(errno);
  try {
    writeAll(fd, bytes.data(), bytes.size());
    if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0)
      throw std::system_error(errno, std::generic_category());
    int fdClosed = fd;
    fd = -1;
    if (::close(fdClosed) != 0)
      throw std::system_error(errno, std::generic_category());
    if (::rename(tmpl.c_str(), path.c_str()) != 0)
      throw std::system_error(errno, std::generic_category());
  } catch (const std::system_error &e) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmpl.c_str());
    KILN_RUNTIME_ERROR() << path << ": write failed: " << std::strerror(e.code().value());
  }
  // Make the rename itself durable. Some file systems refuse fsync on a
  // folder; the data is already safe, so that is not an error.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

} // namespace kiln
