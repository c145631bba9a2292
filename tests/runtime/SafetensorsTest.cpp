// tests/runtime/SafetensorsTest.cpp - safetensors reader/writer and the atomic write.
//
// The oracle is the format's description: an 8-byte little-endian header
// length, the JSON header, the data buffer; files below are built by hand.
#include "runtime/Safetensors.h"

#include "ir/Error.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>

namespace kiln {
namespace {

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

std::string fileOf(const std::string &json, const std::string &data) { return le64(json.size()) + json + data; }

std::span<const std::byte> asBytes(const std::string &s) {
  return {reinterpret_cast<const std::byte *>(s.data()), s.size()};
}

std::string messageOf(const std::string &bytes) {
  try {
    parseSafetensors(asBytes(bytes), "m.safetensors");
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "<no error>";
}

// float32 1.0 and -2.0, little-endian.
const std::string kTwoFloats("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);

TEST(Safetensors, ReadsAHandMadeFile) {
  std::string json = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
                     R"("n":{"dtype":"U8","shape":[],"data_offsets":[8,9]}})";
  SafetensorsFile f = parseSafetensors(asBytes(fileOf(json, kTwoFloats + "\x2a")));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  const HostTensor &w = f.tensors.at("w");
  EXPECT_EQ(w.type(), (TensorType{DType::F32, {2, 1}}));
  EXPECT_EQ(w.at(0), 1.0);
  EXPECT_EQ(w.at(1), -2.0);
  EXPECT_EQ(f.tensors.at("n").at(0), 42);
}

TEST(Safetensors, WritesTheDocumentedLayout) {
  SafetensorsFile f;
  f.metadata["epoch"] = "3";
  f.tensors["b"] = HostTensor::fromDoubles(TensorType{DType::F32, {2}}, std::vector<double>{1.0, -2.0});
  f.tensors["a"] = HostTensor::scalar(DType::I32, 7);
  std::string json = R"({"__metadata__":{"epoch":"3"},"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  EXPECT_EQ(safetensorsBytes(f), fileOf(json, std::string("\x07\x00\x00\x00", 4) + kTwoFloats));
}

TEST(Safetensors, RoundTripsEveryDTypeAndMetadata) {
  test::TempDir dir;
  SafetensorsFile f;
  f.metadata = {{"epoch", "12"}, {"model", "cnn"}};
  const std::vector<double> v{0, 1, 3, 0, 255, 1};
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8, DType::Bool})
    f.tensors[std::string(dtypeName(t))] = HostTensor::fromDoubles(TensorType{t, {2, 3}}, v);
  f.tensors["empty"] = HostTensor(TensorType{DType::F32, {0}});
  writeSafetensors(dir.file("ck.safetensors"), f);
  SafetensorsFile g = readSafetensors(dir.file("ck.safetensors"));
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.tensors.size(), 7u);
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8, DType::Bool}) {
    const HostTensor &h = g.tensors.at(std::string(dtypeName(t)));
    ASSERT_EQ(h.type(), (TensorType{t, {2, 3}}));
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(h.at(i), t == DType::Bool ? (v[i] != 0) : v[i]) << dtypeName(t) << " " << i;
  }
  EXPECT_EQ(g.tensors.at("empty").shape(), (Shape{0}));
}

TEST(Safetensors, RejectsMalformedHeaders) {
  const std::string w = R"("w":{"dtype":"F32","shape":[2],"data_offsets":)";
  EXPECT_EQ(messageOf("\x01\x02"), "m.safetensors: truncated: file has 2 bytes, a safetensors file needs at least 8");
  EXPECT_EQ(messageOf(le64(100) + "{}"),
            "m.safetensors: truncated: header length 100 but the file has only 2 bytes after the length");
  EXPECT_EQ(messageOf(le64(uint64_t{1} << 62)),
            "m.safetensors: header length 4611686018427387904 exceeds the limit of 100000000 bytes");
  EXPECT_EQ(messageOf(fileOf("{\"w\": [", "")), "m.safetensors: header is not valid JSON");
  EXPECT_EQ(messageOf(fileOf("[1,2]", "")), "m.safetensors: header is not a JSON object");
  EXPECT_EQ(messageOf(fileOf(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234")),
            "m.safetensors: tensor 'w': unsupported dtype F16 (supported: F32 F64 I32 I64 U8 BOOL)");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[0,8]}}", "1234")),
            "m.safetensors: tensor 'w': data_offsets [0,8] lie outside the 4-byte data buffer");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[0,4]}}", "1234")),
            "m.safetensors: tensor 'w': data_offsets [0,4] hold 4 bytes, f32[2] needs 8");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[8,0]}}", "")),
            "m.safetensors: tensor 'w': data_offsets [8,0] end before they begin");
  EXPECT_EQ(messageOf(fileOf(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kTwoFloats)),
            "m.safetensors: tensor 'w': shape must hold non-negative integers, got -2");
  EXPECT_EQ(messageOf(fileOf(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", kTwoFloats)),
            "m.safetensors: tensor 'w': missing 'shape'");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[0,8]}," + R"("v":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                             kTwoFloats)),
            "m.safetensors: tensors 'w' and 'v' overlap (bytes [0,8) and [4,8))");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[4,12]}}", kTwoFloats + "abcd")),
            "m.safetensors: bytes [0,4) of the data buffer belong to no tensor");
  EXPECT_EQ(messageOf(fileOf("{" + w + "[0,8]}}", kTwoFloats + "abcd")),
            "m.safetensors: bytes [8,12) of the data buffer belong to no tensor");
  EXPECT_EQ(messageOf(fileOf(R"({"__metadata__":{"epoch":3}})", "")),
            "m.safetensors: __metadata__ value of 'epoch' is not a string");
  EXPECT_EQ(messageOf(fileOf(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                             kTwoFloats)),
            "m.safetensors: tensor 'w': shape [4294967296,4294967296] is too large");
}

TEST(Safetensors, ReadErrorsNameThePath) {
  test::TempDir dir;
  std::string p = dir.write("bad.safetensors", le64(50) + "{}");
  try {
    readSafetensors(p);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), p + ": truncated: header length 50 but the file has only 2 bytes after the length");
  }
}

size_t filesIn(const std::filesystem::path &dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto &e : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

TEST(Safetensors, FailedWriteKeepsTheOldFile) {
  test::TempDir dir;
  std::string path = dir.file("ck.safetensors");
  SafetensorsFile old;
  old.tensors["w"] = HostTensor::fromDoubles(TensorType{DType::F32, {2}}, std::vector<double>{1.0, -2.0});
  writeSafetensors(path, old);
  std::string oldBytes = test::TempDir::read(path);

  // A child process whose file-size limit is 4 KiB tries to write 4 MiB: the
  // write fails with EFBIG half-way, as on a full disk.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    SafetensorsFile big;
    big.tensors["w"] = HostTensor(TensorType{DType::F32, {1 << 20}});
    try {
      writeSafetensors(path, big);
    } catch (const RuntimeError &e) {
      std::string want = path + ": write failed: File too large";
      _exit(std::string(e.what()) == want ? 42 : 1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42) << "the write should fail with the path and the reason";
  EXPECT_EQ(test::TempDir::read(path), oldBytes);
  EXPECT_EQ(filesIn(dir.path()), 1u) << "the temporary file must be removed";
  EXPECT_EQ(readSafetensors(path).tensors.at("w").at(1), -2.0);

  // A folder that does not exist: nothing is created, the message says where.
  std::string nowhere = dir.file("no/such/folder/ck.safetensors");
  try {
    writeSafetensors(nowhere, old);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()),
              nowhere + ": cannot create a temporary file in " + dir.file("no/such/folder") +
                  ": No such file or directory");
  }
}

TEST(Safetensors, SuccessfulWriteReplacesTheFile) {
  test::TempDir dir;
  std::string path = dir.file("ck.safetensors");
  SafetensorsFile a, b;
  a.tensors["w"] = HostTensor::scalar(DType::F64, 1.5);
  b.tensors["w"] = HostTensor::scalar(DType::F64, 2.5);
  writeSafetensors(path, a);
  writeSafetensors(path, b);
  EXPECT_EQ(readSafetensors(path).tensors.at("w").at(0), 2.5);
  EXPECT_EQ(filesIn(dir.path()), 1u);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::owner_read,
            std::filesystem::perms::owner_read);
}

} // namespace
} // namespace kiln
