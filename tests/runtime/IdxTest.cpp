// tests/runtime/IdxTest.cpp - IDX reader on small hand-made files, gzip and plain.
//
// Files are written byte by byte here (big-endian magic and extents as the
// IDX description gives them); gzip files are made with zlib's gzwrite.
#include "runtime/Idx.h"

#include "ir/Error.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace kiln {
namespace {

// Magic 2051 (0x00000803), 2 images of 2x3 pixels, pixels 0..11.
const std::string kImages = std::string("\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03", 16) +
                            std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\xff", 12);
// Magic 2049 (0x00000801), 2 labels: 7 and 3.
const std::string kLabels = std::string("\x00\x00\x08\x01\x00\x00\x00\x02", 8) + std::string("\x07\x03", 2);

std::string writeGz(const test::TempDir &dir, const std::string &name, const std::string &bytes) {
  std::string path = dir.file(name);
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
  return path;
}

std::string readError(const std::string &path, uint32_t magic) {
  try {
    readIdx(path, magic);
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "<no error>";
}

void expectImages(const HostTensor &t) {
  ASSERT_EQ(t.type(), (TensorType{DType::U8, {2, 2, 3}}));
  EXPECT_EQ(t.at(0), 0);
  EXPECT_EQ(t.at(5), 5);
  EXPECT_EQ(t.at(11), 255);
}

TEST(Idx, ReadsPlainAndGzipFiles) {
  test::TempDir dir;
  expectImages(readIdxImages(dir.write("images-idx3-ubyte", kImages)));
  expectImages(readIdxImages(writeGz(dir, "images-idx3-ubyte.gz", kImages)));
  HostTensor labels = readIdxLabels(writeGz(dir, "labels-idx1-ubyte.gz", kLabels));
  ASSERT_EQ(labels.type(), (TensorType{DType::U8, {2}}));
  EXPECT_EQ(labels.at(0), 7);
  EXPECT_EQ(labels.at(1), 3);
  expectImages(parseIdx({reinterpret_cast<const std::byte *>(kImages.data()), kImages.size()}, "mem"));
}

TEST(Idx, WriterProducesTheSameBytes) {
  HostTensor t(TensorType{DType::U8, {2}});
  t.data<uint8_t>()[0] = 7;
  t.data<uint8_t>()[1] = 3;
  EXPECT_EQ(idxBytes(t), kLabels);
}

TEST(Idx, RejectsWrongMagic) {
  test::TempDir dir;
  std::string labels = dir.write("labels", kLabels);
  EXPECT_EQ(readError(labels, kIdxImagesMagic),
            labels + ": bad magic number 2049 (labels), expected 2051 (images)");
  std::string png = dir.write("x.png", "\x89PNG\r\n\x1a\n....");
  EXPECT_EQ(readError(png, 0), png + ": not an IDX file: bad magic number 0x89504e47");
  std::string floats = dir.write("floats", std::string("\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", 12));
  EXPECT_EQ(readError(floats, 0), floats + ": unsupported IDX element type 0xd (only unsigned bytes, 0x08, are supported)");
}

TEST(Idx, RejectsTruncatedFilesPlainAndGzip) {
  test::TempDir dir;
  std::string cut = kImages.substr(0, 20);
  std::string plain = dir.write("train-images-idx3-ubyte", cut);
  EXPECT_EQ(readError(plain, kIdxImagesMagic),
            plain + ": truncated: expected 28 bytes (16-byte header + 2x2x3 pixels), got 20");
  std::string gz = writeGz(dir, "train-images-idx3-ubyte.gz", cut);
  EXPECT_EQ(readError(gz, kIdxImagesMagic),
            gz + ": truncated: expected 28 bytes (16-byte header + 2x2x3 pixels), got 20");
  std::string header = dir.write("h", kImages.substr(0, 10));
  EXPECT_EQ(readError(header, 0), header + ": truncated: expected 16 header bytes for 3 dimensions, got 10");
  std::string tiny = dir.write("tiny", std::string("\x00\x00", 2));
  EXPECT_EQ(readError(tiny, 0), tiny + ": truncated: an IDX file starts with a 4-byte magic number, got 2 bytes");
  // A gzip stream cut in the middle still reports how much arrived.
  std::string whole = test::TempDir::read(writeGz(dir, "full.gz", kImages));
  std::string broken = dir.write("broken.gz", whole.substr(0, whole.size() - 12));
  std::string msg = readError(broken, kIdxImagesMagic);
  EXPECT_NE(msg.find(broken + ": "), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Idx, RejectsCountMismatchAndHugeExtents) {
  test::TempDir dir;
  std::string extra = dir.write("extra", kLabels + "\x01");
  EXPECT_EQ(readError(extra, kIdxLabelsMagic),
            extra + ": expected 10 bytes (8-byte header + 2 labels), file has 11 (trailing data)");
  std::string extraGz = writeGz(dir, "extra.gz", kLabels + "\x01");
  EXPECT_EQ(readError(extraGz, kIdxLabelsMagic),
            extraGz + ": expected 10 bytes (8-byte header + 2 labels), the data goes on (trailing data)");
  // 2^32-1 cubed elements would overflow; the reader refuses before allocating.
  std::string huge = dir.write(
      "huge", std::string("\x00\x00\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16));
  EXPECT_EQ(readError(huge, 0), huge + ": extents 4294967295x4294967295x4294967295 are too large");
  // 32*2*2^30*2^30 = 2^66 wraps to 0 in 64 bits: a fuzzer's header with no
  // data once passed as an empty file.
  std::string wraps = dir.write(
      "wraps", std::string("\x00\x00\x08\x04\x00\x00\x00\x20\x00\x00\x00\x02\x40\x00\x00\x00\x40\x00\x00\x00", 20));
  EXPECT_EQ(readError(wraps, 0), wraps + ": extents 32x2x1073741824x1073741824 are too large");
  // Plausible but absent data: a gzip file claiming 60000 images holds 0.
  std::string lying = writeGz(dir, "lying.gz",
                              std::string("\x00\x00\x08\x03\x00\x00\xea\x60\x00\x00\x00\x1c\x00\x00\x00\x1c", 16));
  EXPECT_EQ(readError(lying, kIdxImagesMagic),
            lying + ": truncated: expected 47040016 bytes (16-byte header + 60000x28x28 pixels), got 16");
  EXPECT_EQ(readError(dir.file("absent.gz"), 0), dir.file("absent.gz") + ": no such file");
}

} // namespace
} // namespace kiln
