// tests/runtime/NpyTest.cpp - .npy reader and writer against bytes numpy writes.
//
// The oracle is the exact byte layout of numpy.save (numpy 1.24), written out
// by hand below: magic, version, header length, the dict, space padding to a
// multiple of 64 bytes, '\n', then little-endian C-order data.
#include "runtime/Npy.h"

#include "ir/Error.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace kiln {
namespace {

std::span<const std::byte> asBytes(const std::string &s) {
  return {reinterpret_cast<const std::byte *>(s.data()), s.size()};
}

/// A .npy file of version `major` with `dict` padded as numpy pads it.
std::string npyFile(const std::string &dict, const std::string &data, int major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  size_t hlen = dict.size() + 1;
  size_t pad = 64 - (prefix + hlen) % 64;
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  size_t total = hlen + pad;
  for (size_t i = 0; i < prefix - 8; ++i)
    out.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
  return out + dict + std::string(pad, ' ') + "\n" + data;
}

std::string messageOf(const std::string &bytes) {
  try {
    parseNpy(asBytes(bytes), "t.npy");
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "<no error>";
}

// np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)): 128-byte header, 0x76 = 118.
const std::string kNumpyF32 =
    std::string("\x93NUMPY\x01\x00\x76\x00", 10) + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
    std::string(58, ' ') + "\n" +
    std::string("\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40", 24);

TEST(Npy, ReadsWhatNumpyWrites) {
  ASSERT_EQ(kNumpyF32.size(), 152u);
  HostTensor t = parseNpy(asBytes(kNumpyF32));
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(t.data<float>()[i], static_cast<float>(i));
}

TEST(Npy, WritesExactlyWhatNumpyWrites) {
  HostTensor t(TensorType{DType::F32, {2, 3}});
  for (int i = 0; i < 6; ++i)
    t.data<float>()[i] = static_cast<float>(i);
  EXPECT_EQ(npyBytes(t), kNumpyF32);

  // np.save(f, np.float64(2.5)): scalar shape '()', no room for a first axis.
  std::string scalar = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                       "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" + std::string(62, ' ') + "\n" +
                       std::string("\x00\x00\x00\x00\x00\x00\x04\x40", 8);
  EXPECT_EQ(npyBytes(HostTensor::scalar(DType::F64, 2.5)), scalar);

  // np.save(f, np.array([True, False])): one-dim shape '(2,)' and descr '|b1'.
  std::string bools = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                      "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }" + std::string(60, ' ') + "\n" +
                      std::string("\x01\x00", 2);
  HostTensor b(TensorType{DType::Bool, {2}});
  b.data<uint8_t>()[0] = 1;
  EXPECT_EQ(npyBytes(b), bools);
  EXPECT_EQ(parseNpy(asBytes(bools)).at(0), 1.0);
}

TEST(Npy, RoundTripsEveryDTypeThroughAFile) {
  test::TempDir dir;
  const std::vector<double> values{0, 1, 2, 250, 7, 1};
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8, DType::Bool}) {
    std::vector<double> want = values;
    if (t == DType::Bool)
      want = {0, 1, 1, 1, 1, 1};
    HostTensor in = HostTensor::fromDoubles(TensorType{t, {3, 2}}, want);
    std::string path = dir.file(std::string(dtypeName(t)) + ".npy");
    writeNpy(path, in);
    HostTensor out = readNpy(path);
    ASSERT_EQ(out.type(), (TensorType{t, {3, 2}})) << dtypeName(t);
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(out.at(i), want[i]) << dtypeName(t) << " element " << i;
  }
  // Negative and fractional values survive in their types.
  HostTensor f = HostTensor::fromDoubles(TensorType{DType::F64, {2}}, std::vector<double>{-1.25, 1e-300});
  writeNpy(dir.file("f.npy"), f);
  EXPECT_EQ(readNpy(dir.file("f.npy")).at(1), 1e-300);
  HostTensor e(TensorType{DType::I64, {0, 4}});
  writeNpy(dir.file("empty.npy"), e);
  EXPECT_EQ(readNpy(dir.file("empty.npy")).shape(), (Shape{0, 4}));
}

TEST(Npy, ReadsVersion2And3Headers) {
  std::string data("\x07\x00\x00\x00\xf9\xff\xff\xff", 8); // int32 7, -7
  for (int major : {2, 3}) {
    HostTensor t = parseNpy(asBytes(npyFile("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data, major)));
    EXPECT_EQ(t.type(), (TensorType{DType::I32, {2}}));
    EXPECT_EQ(t.at(0), 7);
    EXPECT_EQ(t.at(1), -7);
  }
  // Keys in any order, double quotes, Python 2 long suffixes.
  HostTensor t = parseNpy(asBytes(npyFile("{\"shape\": (1L,2L), \"fortran_order\": False, \"descr\": \"|u1\"}",
                                          std::string("\x05\x06", 2))));
  EXPECT_EQ(t.type(), (TensorType{DType::U8, {1, 2}}));
  EXPECT_EQ(t.at(1), 6);
}

// A zero extent makes an empty array however large the others are: numpy
// writes such headers, and counting elements must not overflow on the way
// (a fuzzer found (774853655, 15073700002, 0, ...) overflowing int64).
TEST(Npy, ZeroExtentAfterHugeOnesIsAnEmptyArray) {
  HostTensor t = parseNpy(
      asBytes(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (774853655, 15073700002, 0, 1), }", "")));
  EXPECT_EQ(t.type(), (TensorType{DType::F32, {774853655, 15073700002, 0, 1}}));
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.byteSize(), 0u);
}

TEST(Npy, RejectsMalformedFilesWithClearMessages) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string data(24, '\0');
  EXPECT_EQ(messageOf("\x93NUM"), "t.npy: truncated header: file has 4 bytes, a .npy header needs at least 10");
  EXPECT_EQ(messageOf(kNumpyF32.substr(0, 60)), "t.npy: truncated header: header needs 128 bytes, file has 60");
  EXPECT_EQ(messageOf("PK\x03\x04 not numpy at all"), "t.npy: not a .npy file (bad magic, expected \\x93NUMPY)");
  std::string v4 = kNumpyF32;
  v4[6] = 4;
  EXPECT_EQ(messageOf(v4), "t.npy: unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", "1234")),
            "t.npy: unsupported dtype descr '<f2' (supported: <f4 <f8 <i4 <i8 |u1 |b1)");
  EXPECT_EQ(messageOf(npyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "12345678")),
            "t.npy: unsupported dtype descr '>f4' (big-endian data is not supported) "
            "(supported: <f4 <f8 <i4 <i8 |u1 |b1)");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data)),
            "t.npy: Fortran-order arrays are not supported (save a C-contiguous array, "
            "e.g. np.save(path, np.ascontiguousarray(a)))");
  EXPECT_EQ(messageOf(npyFile(dict, data.substr(0, 20))),
            "t.npy: data too short: f32[2,3] needs 24 bytes after the header, file has 20");
  EXPECT_EQ(messageOf(npyFile(dict, data + "xx")), "t.npy: 2 unexpected bytes after the f32[2,3] data");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", "")),
            "t.npy: shape (4294967296, 4294967296) is too large");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }", "")),
            "t.npy: data too short: f64[100000000000] needs 800000000000 bytes after the header, file has 0");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "")),
            "t.npy: bad .npy header: expected a non-negative integer in the shape at offset 51");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f4', 'shape': (2, 3), }", data)),
            "t.npy: bad .npy header: header lacks 'fortran_order'");
  EXPECT_EQ(messageOf(npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (), }", "")),
            "t.npy: bad .npy header: descr is not a string (structured dtypes are not supported)");
  EXPECT_EQ(messageOf(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data)),
            "t.npy: bad .npy header: unexpected key 'x'");
}

TEST(Npy, ReadErrorsNameThePath) {
  test::TempDir dir;
  std::string missing = dir.file("missing.npy");
  try {
    readNpy(missing);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": cannot read"), std::string::npos) << e.what();
  }
  std::string shortFile = dir.write("short.npy", kNumpyF32.substr(0, kNumpyF32.size() - 4));
  try {
    readNpy(shortFile);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()),
              shortFile + ": data too short: f32[2,3] needs 24 bytes after the header, file has 20");
  }
  // A file read in pieces (header longer than the first read) still works.
  HostTensor big(TensorType{DType::U8, {5000}});
  for (int i = 0; i < 5000; ++i)
    big.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7);
  writeNpy(dir.file("big.npy"), big);
  HostTensor back = readNpy(dir.file("big.npy"));
  EXPECT_EQ(back.at(4999), (4999 * 7) % 256);
}

} // namespace
} // namespace kiln
