// runtime/Idx.cpp - IDX reader (gzip through zlib's gzread, or plain) and writer.
//
// One decoder serves memory buffers and files. When the total size is known
// (memory, plain files) it is compared with the header's extents before any
// allocation; for gzip streams the payload grows chunk by chunk as data
// actually arrives, so a lying header cannot make us allocate more than the
// stream holds.
#include "runtime/Idx.h"

#include "ir/Error.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <vector>

namespace kiln {
namespace {

// The largest payload we accept: far above any real dataset, far below what
// overflows size computations.
constexpr uint64_t kMaxPayload = uint64_t{1} << 40;

/// Reads up to n bytes into buf; returns how many were read (short at end).
using ReadFn = std::function<size_t(void *buf, size_t n)>;

std::string_view kindWord(uint32_t magic) {
  if (magic == kIdxImagesMagic)
    return "pixels";
  if (magic == kIdxLabelsMagic)
    return "labels";
  return "elements";
}

std::string magicMeaning(uint32_t magic) {
  if (magic == kIdxImagesMagic)
    return " (images)";
  if (magic == kIdxLabelsMagic)
    return " (labels)";
  return "";
}

size_t readFully(const ReadFn &read, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t r = read(static_cast<char *>(buf) + got, n - got);
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

HostTensor decodeIdx(const ReadFn &read, std::optional<uint64_t> knownSize, std::string_view name,
                     uint32_t expectedMagic) {
  uint8_t head[4];
  size_t got = readFully(read, head, 4);
  KILN_RUNTIME_CHECK(got == 4) << name << ": truncated: an IDX file starts with a 4-byte magic number, got "
                               << got << " bytes";
  uint32_t magic = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  if (head[0] != 0 || head[1] != 0) {
    std::ostringstream hex;
    hex << std::hex << magic;
    KILN_RUNTIME_ERROR() << name << ": not an IDX file: bad magic number 0x" << hex.str()
                         << (head[0] == 0x1f && head[1] == 0x8b ? " (gzip data inside gzip data?)" : "");
  }
  KILN_RUNTIME_CHECK(expectedMagic == 0 || magic == expectedMagic)
      << name << ": bad magic number " << magic << magicMeaning(magic) << ", expected " << expectedMagic
      << magicMeaning(expectedMagic);
  KILN_RUNTIME_CHECK(head[2] == 0x08) << name << ": unsupported IDX element type 0x" << std::hex << int(head[2])
                                      << std::dec << " (only unsigned bytes, 0x08, are supported)";
  size_t rank = head[3];
  KILN_RUNTIME_CHECK(rank >= 1) << name << ": IDX file with 0 dimensions";

  std::vector<uint8_t> dimBytes(4 * rank);
  got = readFully(read, dimBytes.data(), dimBytes.size());
  KILN_RUNTIME_CHECK(got == dimBytes.size()) << name << ": truncated: expected " << 4 + dimBytes.size()
                                             << " header bytes for " << rank << " dimensions, got " << 4 + got;
  Shape shape;
  uint64_t payload = 1;
  std::string extents;
  for (size_t i = 0; i < rank; ++i) {
    const uint8_t *p = dimBytes.data() + 4 * i;
    uint64_t d = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    shape.push_back(static_cast<int64_t>(d));
    extents.append(i ? "x" : "").append(std::to_string(d));
    // Stops counting past the limit; 2^40 * (2^32 - 1) does not fit in 64
    // bits, so the product itself is checked (a wrap to 0 once passed as an
    // empty file).
    if (payload <= kMaxPayload && __builtin_mul_overflow(payload, d, &payload))
      payload = kMaxPayload + 1;
  }
  KILN_RUNTIME_CHECK(payload <= kMaxPayload) << name << ": extents " << extents << " are too large";
  uint64_t headerSize = 4 + 4 * rank;
  uint64_t total = headerSize + payload;
  auto expectedText = [&] {
    return std::to_string(total) + " bytes (" + std::to_string(headerSize) + "-byte header + " + extents + " " +
           std::string(kindWord(magic)) + ")";
  };
  if (knownSize) {
    KILN_RUNTIME_CHECK(*knownSize >= total)
        << name << ": truncated: expected " << expectedText() << ", got " << *knownSize;
    KILN_RUNTIME_CHECK(*knownSize == total)
        << name << ": expected " << expectedText() << ", file has " << *knownSize << " (trailing data)";
  }

  if (knownSize) {
    HostTensor t(TensorType{DType::U8, shape});
    got = readFully(read, t.bytes(), payload);
    KILN_RUNTIME_CHECK(got == payload) << name << ": truncated: expected " << expectedText() << ", got "
                                       << headerSize + got;
    return t;
  }
  // Unknown size (gzip): grow as data arrives, then copy once.
  std::vector<uint8_t> buf;
  constexpr size_t kChunk = size_t{1} << 20;
  while (buf.size() < payload) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, payload - buf.size()));
    size_t old = buf.size();
    buf.resize(old + want);
    size_t r = readFully(read, buf.data() + old, want);
    buf.resize(old + r);
    if (r < want)
      break;
  }
  KILN_RUNTIME_CHECK(buf.size() == payload)
      << name << ": truncated: expected " << expectedText() << ", got " << headerSize + buf.size();
  uint8_t extra;
  KILN_RUNTIME_CHECK(readFully(read, &extra, 1) == 0)
      << name << ": expected " << expectedText() << ", the data goes on (trailing data)";
  HostTensor t(TensorType{DType::U8, shape});
  if (payload)
    std::memcpy(t.bytes(), buf.data(), payload);
  return t;
}

} // namespace

HostTensor parseIdx(std::span<const std::byte> bytes, std::string_view name, uint32_t expectedMagic) {
  size_t pos = 0;
  ReadFn read = [&](void *buf, size_t n) {
    size_t k = std::min(n, bytes.size() - pos);
    if (k)
      std::memcpy(buf, bytes.data() + pos, k);
    pos += k;
    return k;
  };
  return decodeIdx(read, bytes.size(), name, expectedMagic);
}

HostTensor readIdx(const std::string &path, uint32_t expectedMagic) {
  std::error_code ec;
  bool exists = std::filesystem::is_regular_file(path, ec);
  KILN_RUNTIME_CHECK(exists) << path << ": no such file";
  gzFile f = gzopen(path.c_str(), "rb");
  KILN_RUNTIME_CHECK(f) << path << ": cannot open: " << std::strerror(errno);
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  gzbuffer(f, 1 << 17);
  bool failed = false;
  std::string zmsg;
  ReadFn read = [&](void *buf, size_t n) -> size_t {
    int r = gzread(f, buf, static_cast<unsigned>(std::min<size_t>(n, 1u << 30)));
    if (r < 0) {
      int code = 0;
      zmsg = gzerror(f, &code);
      failed = true;
      return 0;
    }
    return static_cast<size_t>(r);
  };
  // gzread passes non-gzip files through unchanged; gzdirect says which it is
  // once the first bytes have been read, so decode through a small wrapper
  // that learns the plain file's size after the magic number.
  uint8_t magic[4];
  size_t got = readFully(read, magic, 4);
  KILN_RUNTIME_CHECK(!failed) << path << ": corrupt gzip data: " << zmsg;
  std::optional<uint64_t> knownSize;
  if (gzdirect(f)) {
    knownSize = std::filesystem::file_size(path, ec);
    KILN_RUNTIME_CHECK(!ec) << path << ": cannot read: " << ec.message();
  }
  size_t replayed = 0;
  ReadFn replay = [&](void *buf, size_t n) -> size_t {
    if (replayed < got) {
      size_t k = std::min(n, got - replayed);
      std::memcpy(buf, magic + replayed, k);
      replayed += k;
      return k;
    }
    size_t r = read(buf, n);
    KILN_RUNTIME_CHECK(!failed) << path << ": corrupt gzip data: " << zmsg;
    return r;
  };
  return decodeIdx(replay, knownSize, path, expectedMagic);
}

std::string idxBytes(const HostTensor &t) {
  KILN_USER_CHECK(t.dtype() == DType::U8 && t.shape().size() >= 1 && t.shape().size() <= 255)
      << "idx: can only write u8 tensors of rank 1 to 255, got " << typeString(t.type());
  std::string out{'\0', '\0', '\x08', static_cast<char>(t.shape().size())};
  for (int64_t d : t.shape()) {
    KILN_USER_CHECK(d >= 0 && d <= 0xffffffffLL) << "idx: extent " << d << " does not fit 32 bits";
    for (int s = 24; s >= 0; s -= 8)
      out.push_back(static_cast<char>((d >> s) & 0xff));
  }
  out.append(reinterpret_cast<const char *>(t.bytes()), t.byteSize());
  return out;
}

} // namespace kiln
