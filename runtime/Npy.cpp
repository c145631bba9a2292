// runtime/Npy.cpp - NumPy .npy reader and writer (format versions 1.0-3.0).
//
// The header dict is parsed by a small recursive-descent reader of the Python
// literal subset numpy writes; it never trusts a length before comparing it
// with the file size, and it allocates the tensor only once header and data
// sizes are known to match the file.
#include "runtime/Npy.h"

#include "ir/Error.h"

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

namespace kiln {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kMaxRank = 64;

struct DescrEntry {
  std::string_view descr;
  DType dtype;
};
// What numpy writes for each supported dtype (dtype.str).
constexpr std::array<DescrEntry, 6> kDescrs{{{"<f4", DType::F32},
                                             {"<f8", DType::F64},
                                             {"<i4", DType::I32},
                                             {"<i8", DType::I64},
                                             {"|u1", DType::U8},
                                             {"|b1", DType::Bool}}};

std::optional<DType> dtypeFromDescr(std::string_view d) {
  for (const auto &e : kDescrs)
    if (e.descr == d)
      return e.dtype;
  // One-byte types carry no byte order; accept the other spellings of "none".
  if (d == "<u1" || d == "=u1")
    return DType::U8;
  if (d == "<b1" || d == "=b1")
    return DType::Bool;
  return std::nullopt;
}

std::string_view descrOf(DType t) {
  for (const auto &e : kDescrs)
    if (e.dtype == t)
      return e.descr;
  KILN_INTERNAL_ERROR() << "npy: no descr for dtype " << dtypeName(t);
  return {};
}

/// Reader of the Python dict literal of a .npy header.
class HeaderParser {
public:
  HeaderParser(std::string_view text, std::string_view name) : s_(text), name_(name) {}

  void parse(std::string &descr, bool &fortran, Shape &shape) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    expect('{');
    while (true) {
      skipSpace();
      if (peek() == '}')
        break;
      std::string key = parseString();
      expect(':');
      skipSpace();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          fail() << "descr is not a string (structured dtypes are not supported)";
        descr = parseString();
        haveDescr = true;
      } else if (key == "fortran_order") {
        fortran = parseBool();
        haveFortran = true;
      } else if (key == "shape") {
        shape = parseShape();
        haveShape = true;
      } else {
        fail() << "unexpected key '" << key << "'";
      }
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}')
        fail() << "expected ',' or '}' at offset " << pos_;
    }
    ++pos_;
    for (; pos_ < s_.size(); ++pos_)
      if (!isSpace(s_[pos_]))
        fail() << "unexpected text after the header dict at offset " << pos_;
    if (!haveDescr || !haveFortran || !haveShape)
      fail() << "header lacks " << (!haveDescr ? "'descr'" : !haveFortran ? "'fortran_order'" : "'shape'");
  }

private:
  static bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skipSpace() {
    while (pos_ < s_.size() && isSpace(s_[pos_]))
      ++pos_;
  }
  // Returned as a prvalue, so the message is thrown once the caller's
  // full expression has streamed its part.
  detail::Thrower<RuntimeError> fail() const {
    std::string prefix = std::string(name_) + ": bad .npy header: ";
    return detail::Thrower<RuntimeError>(prefix.c_str());
  }
  void expect(char c) {
    skipSpace();
    if (peek() != c)
      fail() << "expected '" << c << "' at offset " << pos_;
    ++pos_;
  }
  std::string parseString() {
    skipSpace();
    char q = peek();
    if (q != '\'' && q != '"')
      fail() << "expected a quoted string at offset " << pos_;
    size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos)
      fail() << "unterminated string at offset " << pos_;
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool parseBool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail() << "fortran_order is not True or False";
    return false;
  }
  int64_t parseInt() {
    skipSpace();
    if (peek() < '0' || peek() > '9')
      fail() << "expected a non-negative integer in the shape at offset " << pos_;
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v))
        fail() << "shape extent too large at offset " << pos_;
      ++pos_;
    }
    if (peek() == 'L') // Python 2 long suffix, seen in old files.
      ++pos_;
    return v;
  }
  Shape parseShape() {
    expect('(');
    Shape shape;
    while (true) {
      skipSpace();
      if (peek() == ')')
        break;
      if (shape.size() >= kMaxRank)
        fail() << "shape has more than " << kMaxRank << " dimensions";
      shape.push_back(parseInt());
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')')
        fail() << "expected ',' or ')' in the shape at offset " << pos_;
    }
    ++pos_;
    return shape;
  }

  std::string_view s_;
  std::string_view name_;
  size_t pos_ = 0;
};

uint64_t readLE(const std::byte *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string pythonShape(const Shape &s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// Normalizes bool bytes so every stored element is 0 or 1.
void normalizeBools(HostTensor &t) {
  if (t.dtype() != DType::Bool)
    return;
  auto *p = reinterpret_cast<uint8_t *>(t.bytes());
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = p[i] != 0;
}

} // namespace

NpyHeader parseNpyHeader(std::span<const std::byte> bytes, uint64_t fileSize, std::string_view name) {
  KILN_RUNTIME_CHECK(fileSize >= 10 && bytes.size() >= 10)
      << name << ": truncated header: file has " << fileSize << " bytes, a .npy header needs at least 10";
  KILN_RUNTIME_CHECK(std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) == 0)
      << name << ": not a .npy file (bad magic, expected \\x93NUMPY)";
  int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  KILN_RUNTIME_CHECK(major >= 1 && major <= 3 && minor == 0)
      << name << ": unsupported .npy format version " << major << "." << minor << " (supported: 1.0, 2.0, 3.0)";
  size_t prefix = major == 1 ? 10 : 12;
  KILN_RUNTIME_CHECK(fileSize >= prefix && bytes.size() >= prefix)
      << name << ": truncated header: file has " << fileSize << " bytes, version " << major
      << " needs at least " << prefix;
  uint64_t headerLen = readLE(bytes.data() + 8, major == 1 ? 2 : 4);
  uint64_t dataOffset = prefix + headerLen;
  KILN_RUNTIME_CHECK(dataOffset <= fileSize && dataOffset <= bytes.size())
      << name << ": truncated header: header needs " << dataOffset << " bytes, file has " << fileSize;

  std::string_view text(reinterpret_cast<const char *>(bytes.data()) + prefix, headerLen);
  std::string descr;
  bool fortran = false;
  Shape shape;
  HeaderParser(text, name).parse(descr, fortran, shape);

  auto dtype = dtypeFromDescr(descr);
  if (!dtype) {
    bool bigEndian = !descr.empty() && descr[0] == '>';
    KILN_RUNTIME_ERROR() << name << ": unsupported dtype descr '" << descr << "'"
                         << (bigEndian ? " (big-endian data is not supported)" : "")
                         << " (supported: <f4 <f8 <i4 <i8 |u1 |b1)";
  }
  KILN_RUNTIME_CHECK(!fortran) << name << ": Fortran-order arrays are not supported (save a C-contiguous array, "
                               << "e.g. np.save(path, np.ascontiguousarray(a)))";

  uint64_t count = 1;
  for (int64_t d : shape)
    KILN_RUNTIME_CHECK(!__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
        << name << ": shape " << pythonShape(shape) << " is too large";
  uint64_t dataBytes = 0;
  KILN_RUNTIME_CHECK(!__builtin_mul_overflow(count, dtypeSize(*dtype), &dataBytes) &&
                     count <= static_cast<uint64_t>(INT64_MAX) && dataBytes <= (uint64_t{1} << 48))
      << name << ": shape " << pythonShape(shape) << " is too large";
  TensorType type{*dtype, shape};
  KILN_RUNTIME_CHECK(fileSize - dataOffset >= dataBytes)
      << name << ": data too short: " << typeString(type) << " needs " << dataBytes
      << " bytes after the header, file has " << fileSize - dataOffset;
  KILN_RUNTIME_CHECK(fileSize - dataOffset == dataBytes)
      << name << ": " << fileSize - dataOffset - dataBytes << " unexpected bytes after the "
      << typeString(type) << " data";
  return NpyHeader{type, static_cast<size_t>(dataOffset), major};
}

HostTensor parseNpy(std::span<const std::byte> bytes, std::string_view name) {
  NpyHeader h = parseNpyHeader(bytes, bytes.size(), name);
  HostTensor t(h.type);
  if (t.byteSize())
    std::memcpy(t.bytes(), bytes.data() + h.dataOffset, t.byteSize());
  normalizeBools(t);
  return t;
}

HostTensor readNpy(const std::string &path) {
  std::error_code ec;
  uint64_t fileSize = std::filesystem::file_size(path, ec);
  KILN_RUNTIME_CHECK(!ec) << path << ": cannot read: " << ec.message();
  std::ifstream in(path, std::ios::binary);
  KILN_RUNTIME_CHECK(in) << path << ": cannot open for reading";
  // The header is at most 12 + 2^32 bytes by format, but real ones are small:
  // read a prefix, and more only if the header says it is longer.
  std::vector<std::byte> head(std::min<uint64_t>(fileSize, 4096));
  in.read(reinterpret_cast<char *>(head.data()), static_cast<std::streamsize>(head.size()));
  KILN_RUNTIME_CHECK(in) << path << ": read error";
  if (head.size() >= 12 && head.size() < fileSize) {
    uint64_t want = static_cast<uint8_t>(head[6]) == 1 ? 10 + readLE(head.data() + 8, 2)
                                                       : 12 + readLE(head.data() + 8, 4);
    if (want > head.size() && want <= fileSize) {
      size_t old = head.size();
      head.resize(want);
      in.read(reinterpret_cast<char *>(head.data() + old), static_cast<std::streamsize>(want - old));
      KILN_RUNTIME_CHECK(in) << path << ": read error";
    }
  }
  NpyHeader h = parseNpyHeader(head, fileSize, path);
  HostTensor t(h.type);
  // Part of the data may already sit in `head`.
  size_t inHead = std::min(head.size() - h.dataOffset, t.byteSize());
  if (inHead)
    std::memcpy(t.bytes(), head.data() + h.dataOffset, inHead);
  if (t.byteSize() > inHead) {
    in.read(reinterpret_cast<char *>(t.bytes() + inHead), static_cast<std::streamsize>(t.byteSize() - inHead));
    KILN_RUNTIME_CHECK(in) << path << ": read error in the data";
  }
  normalizeBools(t);
  return t;
}

std::string npyBytes(const HostTensor &t) {
  // Same layout as numpy.lib.format: sorted keys, room for the first axis to
  // grow to 21 digits, '\n'-terminated, total header a multiple of 64 bytes.
  std::string dict = "{'descr': '" + std::string(descrOf(t.dtype())) +
                     "', 'fortran_order': False, 'shape': " + pythonShape(t.shape()) + ", }";
  if (!t.shape().empty())
    dict.append(21 - std::to_string(t.shape()[0]).size(), ' ');
  size_t hlen = dict.size() + 1;
  int major = 1;
  size_t prefix = 10;
  size_t pad = 64 - (prefix + hlen) % 64;
  if (hlen + pad > 65535) {
    major = 2;
    prefix = 12;
    pad = 64 - (prefix + hlen) % 64;
  }
  std::string out(kMagic);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  uint64_t total = hlen + pad;
  for (size_t i = 0; i < prefix - 8; ++i)
    out.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
  out += dict;
  out.append(pad, ' ');
  out.push_back('\n');
  out.append(reinterpret_cast<const char *>(t.bytes()), t.byteSize());
  return out;
}

void writeNpy(const std::string &path, const HostTensor &t) {
  std::string bytes = npyBytes(t);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KILN_RUNTIME_CHECK(out) << path << ": cannot open for writing: " << std::strerror(errno);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  KILN_RUNTIME_CHECK(out) << path << ": write failed: " << std::strerror(errno);
}

} // namespace kiln
