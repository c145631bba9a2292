// tests/tools/ErrorsTest.cpp - every row of docs/errors.md: bad input, its message, its exit status.
//
// Each test provokes one class of bad input, mostly through the built `kiln`
// binary (run in a fresh folder, so messages hold short relative paths), and
// checks the outcome against the row of docs/errors.md with the same id: the
// first "error: " line of stderr must match the documented message (where
// `<...>` stands for any text) and the exit status must be the documented
// one. The table is the single source of the expected messages; a last test
// checks that every row has a test here and every test here has a row.
#include "tests/support/TempDir.h"
#include "tests/tools/ErrorsTable.h"

#include "frontend/Layers.h"
#include "frontend/Tensor.h"
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "runtime/Idx.h"
#include "runtime/Npy.h"
#include "runtime/Backends.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#if defined(KILN_WITH_CUDA) && __has_include("runtime/cuda/Nvrtc.h")
#include "runtime/cuda/Nvrtc.h"
#define KILN_ERRORS_TEST_NVRTC 1
#endif

namespace kiln::test {
namespace {

/// `kiln mnist ARGS` on the default device, or on the interpreter in a build
/// without the cpu backend (-DKILN_WITH_LLVM=OFF): the errors are the same.
std::string mnist(const std::string &args) { return "mnist " + args + (hasCpuBackend() ? "" : " --device interp"); }

// ---- IR text ------------------------------------------------------------------

/// Writes `body` as the graph `@f(%x: f32[4])` into f.kir and runs it.
void expectIr(const std::string &id, const std::string &file, const std::string &text) {
  TempDir dir;
  dir.write(file, text);
  dir.write("x.npy", npyBytes(f32Vector({1, 2, 3, 4})));
  expectCli(id, dir, "run " + file + " --input x=x.npy");
}

const char *kHead = "graph @f(%x: f32[4]) {\n";

TEST(Errors, IrSyntax) {
  expectIr("ir-syntax", "syntax.kir", std::string(kHead) + "  %a = exp(%x : f32[4]\n  return %a : f32[4]\n}\n");
}
TEST(Errors, IrTruncated) { expectIr("ir-truncated", "cut.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n"); }
TEST(Errors, IrUnknownOp) {
  expectIr("ir-unknown-op", "op.kir", std::string(kHead) + "  %a = expo(%x) : f32[4]\n  return %a : f32[4]\n}\n");
}
TEST(Errors, IrUnknownAttribute) {
  expectIr("ir-unknown-attr", "attr.kir",
           std::string(kHead) + "  %a = reduce_sum(%x) {axis = [0]} : f32[]\n  return %a : f32[]\n}\n");
}
TEST(Errors, IrAttributeType) {
  expectIr("ir-attr-type", "attr.kir",
           std::string(kHead) + "  %a = reduce_sum(%x) {axes = \"all\"} : f32[]\n  return %a : f32[]\n}\n");
}
TEST(Errors, IrMissingAttribute) {
  expectIr("ir-missing-attr", "attr.kir", std::string(kHead) + "  %a = cast(%x) : f32[4]\n  return %a : f32[4]\n}\n");
}
TEST(Errors, IrAttributeValue) {
  expectIr("ir-attr-value", "attr.kir",
           std::string(kHead) + "  %a = cmp(%x, %x) {pred = \"zz\"} : bool[4]\n  return %a : bool[4]\n}\n");
}
TEST(Errors, IrResultType) {
  expectIr("ir-result-type", "type.kir", std::string(kHead) + "  %a = exp(%x) : f32[5]\n  return %a : f32[5]\n}\n");
}
TEST(Errors, IrOperandShape) {
  expectIr("ir-operand-shape", "shape.kir",
           std::string(kHead) + "  %m = matmul(%x, %x) : f32[4]\n  return %m : f32[4]\n}\n");
}
TEST(Errors, IrReturnType) {
  expectIr("ir-return-type", "ret.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[3]\n}\n");
}
TEST(Errors, IrUseBeforeDef) {
  expectIr("ir-use-before-def", "order.kir",
           std::string(kHead) + "  %a = exp(%b) : f32[4]\n  %b = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
}
TEST(Errors, IrRedefinition) {
  expectIr("ir-redefinition", "twice.kir",
           std::string(kHead) + "  %a = exp(%x) : f32[4]\n  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
}
TEST(Errors, IrCycleInText) {
  // In text a value must be defined before its use, so a cycle is caught as a use before definition.
  expectIr("ir-cycle-text", "cycle.kir",
           std::string(kHead) + "  %a = exp(%b) : f32[4]\n  %b = exp(%a) : f32[4]\n  return %b : f32[4]\n}\n");
}
TEST(Errors, IrCycleInCode) {
  Graph g("f");
  Value x = g.addInput("x", {DType::F32, {4}});
  Value a = g.build(OpKind::Exp, {x});
  Value b = g.build(OpKind::Exp, {a});
  a.node->setOperand(0, b); // a = exp(b), b = exp(a)
  g.setOutputs({b});
  auto [msg, kind] = errorOf([&] { g.sortTopologically(); });
  expectRow("ir-cycle-code", msg, kind);
}
TEST(Errors, IrMissingFile) {
  TempDir dir;
  expectCli("ir-missing-file", dir, "run absent.kir");
}

// ---- DSL ------------------------------------------------------------------------

TEST(Errors, DslShape) {
  Graph g;
  Tensor x = input(g, "x", {DType::F32, {2, 3, 8, 8}});
  Tensor w = parameter(g, "w", {DType::F32, {4, 1, 3, 3}});
  int line = __LINE__ + 1;
  auto [msg, kind] = errorOf([&] { conv2d(x, w); });
  expectRow("dsl-shape", msg, kind);
  EXPECT_EQ(msg.rfind("ErrorsTest.cpp:" + std::to_string(line) + ": ", 0), 0u) << msg;
}
TEST(Errors, DslOperator) {
  Graph g;
  Tensor a = input(g, "a", {DType::F32, {2, 3}});
  Tensor b = input(g, "b", {DType::F32, {4}});
  int line = __LINE__ + 1;
  auto [msg, kind] = errorOf([&] { (void)(a + b); });
  expectRow("dsl-operator", msg, kind);
  EXPECT_EQ(msg.rfind("ErrorsTest.cpp:" + std::to_string(line) + ": ", 0), 0u) << msg;
}
TEST(Errors, DslLayer) {
  Graph g;
  nn::Sequential net("net");
  int line = __LINE__ + 1;
  net.add(nn::Dense(10));
  nn::BuildContext ctx(g, nn::Mode::Eval);
  Tensor x = input(g, "x", {DType::F32, {2, 1, 4, 4}});
  auto [msg, kind] = errorOf([&] { net.forward(ctx, x); });
  expectRow("dsl-layer", msg, kind);
  EXPECT_EQ(msg.rfind("ErrorsTest.cpp:" + std::to_string(line) + ": ", 0), 0u) << msg;
}

// ---- .npy -----------------------------------------------------------------------

/// A folder with a graph @f(%x: f32[4]) -> exp(%x) and `bad.npy` holding `bytes`.
void expectNpy(const std::string &id, const std::string &bytes) {
  TempDir dir;
  dir.write("f.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
  dir.write("bad.npy", bytes);
  expectCli(id, dir, "run f.kir --input x=bad.npy");
}

std::string goodNpy() { return npyBytes(f32Vector({1, 2, 3, 4})); }

/// A .npy file with a hand-written header dict and raw data.
std::string npyWithHeader(const std::string &dict, const std::string &data) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64)
    h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

TEST(Errors, NpyTruncated) { expectNpy("npy-truncated", goodNpy().substr(0, goodNpy().size() - 3)); }
TEST(Errors, NpyMagic) {
  std::string b = goodNpy();
  b[5] = 'Z';
  expectNpy("npy-magic", b);
}
TEST(Errors, NpyDtype) {
  expectNpy("npy-dtype",
            npyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", std::string(32, '\0')));
}
TEST(Errors, NpyCount) {
  expectNpy("npy-count",
            npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", std::string(16, '\0')));
}
TEST(Errors, NpyAbsurdSize) {
  expectNpy("npy-absurd-size",
            npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000000, 4000000000000), }", ""));
}
TEST(Errors, NpyWrongShape) { expectNpy("npy-wrong-shape", npyBytes(f32Vector({1, 2, 3}))); }
TEST(Errors, NpyMissing) {
  TempDir dir;
  dir.write("f.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
  expectCli("npy-missing", dir, "run f.kir --input x=absent.npy");
}

// ---- IDX and MNIST -------------------------------------------------------------------

/// Writes a small valid MNIST folder `name` (8 train and 4 test images, plain
/// IDX files); `replace` overrides files by name.
void writeMnist(const TempDir &dir, const std::string &name, const std::map<std::string, std::string> &replace = {}) {
  std::filesystem::create_directories(dir.path() / name);
  auto images = [](int64_t n) {
    HostTensor t(TensorType{DType::U8, {n, 28, 28}});
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, static_cast<double>(i % 256));
    return idxBytes(t);
  };
  auto labels = [](int64_t n) {
    HostTensor t(TensorType{DType::U8, {n}});
    for (int64_t i = 0; i < n; ++i)
      t.set(i, static_cast<double>(i % 10));
    return idxBytes(t);
  };
  std::map<std::string, std::string> files{{"train-images-idx3-ubyte", images(8)},
                                           {"train-labels-idx1-ubyte", labels(8)},
                                           {"t10k-images-idx3-ubyte", images(4)},
                                           {"t10k-labels-idx1-ubyte", labels(4)}};
  for (const auto &[file, bytes] : replace)
    files[file] = bytes;
  for (const auto &[file, bytes] : files)
    dir.write(name + "/" + file, bytes);
}

/// A valid 8-image train-images file, to corrupt.
std::string goodImages() {
  HostTensor t(TensorType{DType::U8, {8, 28, 28}});
  return idxBytes(t);
}

void expectIdx(const std::string &id, const std::string &trainImages) {
  TempDir dir;
  writeMnist(dir, "mnist", {{"train-images-idx3-ubyte", trainImages}});
  expectCli(id, dir, mnist("--data mnist --model linear --epochs 1 --no-outputs"));
}

TEST(Errors, IdxTruncated) { expectIdx("idx-truncated", goodImages().substr(0, goodImages().size() - 100)); }
TEST(Errors, IdxMagic) {
  std::string b = goodImages();
  b[3] = 0x01; // 2049, the labels' magic
  expectIdx("idx-magic", b);
}
TEST(Errors, IdxDtype) {
  std::string b = goodImages();
  b[2] = 0x0D; // float elements
  expectIdx("idx-dtype", b);
  auto [msg, kind] = errorOf([&] {
    parseIdx(std::span<const std::byte>(reinterpret_cast<const std::byte *>(b.data()), b.size()), "images.idx");
  });
  expectRow("idx-dtype-any", msg, kind);
}
TEST(Errors, IdxCount) {
  std::string b = goodImages();
  b[7] = 9; // claims 9 images, holds 8
  expectIdx("idx-count", b);
}
TEST(Errors, IdxLabelCount) {
  HostTensor labels(TensorType{DType::U8, {7}});
  TempDir dir;
  writeMnist(dir, "mnist", {{"train-labels-idx1-ubyte", idxBytes(labels)}});
  expectCli("idx-label-count", dir, mnist("--data mnist --model linear --epochs 1 --no-outputs"));
}
TEST(Errors, IdxAbsurdSize) {
  std::string b = goodImages().substr(0, 4) + std::string(12, '\xff') + std::string(64, '\0');
  expectIdx("idx-absurd-size", b);
}
TEST(Errors, MnistMissing) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "empty");
  expectCli("mnist-missing", dir, mnist("--data empty --model linear --epochs 1 --no-outputs"));
}

// ---- safetensors -------------------------------------------------------------------

std::string goodCheckpoint() {
  SafetensorsFile f;
  f.tensors["w"] = HostTensor(TensorType{DType::F32, {2, 3}});
  return safetensorsBytes(f);
}

/// A safetensors file with a hand-written JSON header and `data` bytes.
std::string safetensorsWithHeader(std::string json, const std::string &data) {
  while (json.size() % 8)
    json += ' ';
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + data;
}

void expectCheckpoint(const std::string &id, const std::string &bytes) {
  TempDir dir;
  writeMnist(dir, "mnist");
  dir.write("bad.ckpt", bytes);
  expectCli(id, dir, mnist("--data mnist --model linear --evaluate bad.ckpt"));
}

TEST(Errors, SafetensorsTruncated) {
  expectCheckpoint("st-truncated", goodCheckpoint().substr(0, goodCheckpoint().size() - 5));
}
TEST(Errors, SafetensorsNotSafetensors) {
  std::string b = goodCheckpoint();
  b.replace(0, 4, "PK\x03\x04"); // a zip file, say
  expectCheckpoint("st-magic", b);
}
TEST(Errors, SafetensorsDtype) {
  expectCheckpoint("st-dtype",
                   safetensorsWithHeader(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", "abcd"));
}
TEST(Errors, SafetensorsCount) {
  expectCheckpoint("st-count", safetensorsWithHeader(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
                                                     std::string(20, '\0')));
}
TEST(Errors, SafetensorsAbsurdShape) {
  expectCheckpoint(
      "st-absurd-size",
      safetensorsWithHeader(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}})", ""));
}
TEST(Errors, SafetensorsAbsurdHeader) {
  std::string b(8, '\0');
  b[7] = 0x10; // 2^60 bytes of header
  expectCheckpoint("st-absurd-header", b + "{}      ");
}
TEST(Errors, SafetensorsJson) { expectCheckpoint("st-json", safetensorsWithHeader(R"({"w": [1,)", "")); }
TEST(Errors, SafetensorsNotACheckpoint) { expectCheckpoint("st-not-checkpoint", goodCheckpoint()); }

// ---- Environment -------------------------------------------------------------------

TEST(Errors, NvrtcCompileFailure) {
#ifdef KILN_ERRORS_TEST_NVRTC
  cuda::CudaTranslationUnit tu;
  tu.text = "extern \"C\" __global__ void k_bad(float *p) { p[0] = undeclared; }\n";
  tu.kernelLines = {{1, "k_bad"}};
  auto [msg, kind] = errorOf([&] { cuda::nvrtcCompile(tu, "compute_90", "errors_test"); });
  expectRow("nvrtc-compile", msg.substr(0, msg.find('\n')), kind);
  EXPECT_NE(msg.find("undeclared"), std::string::npos) << "the NVRTC log is part of the message:\n" << msg;
#else
  GTEST_SKIP() << "this build has no CUDA backend (NVRTC), so there is no CUDA source to compile";
#endif
}
TEST(Errors, NoGpu) {
  TempDir dir;
  dir.write("f.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
  dir.write("x.npy", goodNpy());
  // CUDA_VISIBLE_DEVICES= hides any GPU, so this fails the same way with or without one.
  expectCli("no-gpu-run", dir, "run f.kir --input x=x.npy --backend cuda", "export CUDA_VISIBLE_DEVICES=;");
  writeMnist(dir, "mnist");
  expectCli("no-gpu", dir, "mnist --data mnist --model linear --epochs 1 --no-outputs --device cuda",
            "export CUDA_VISIBLE_DEVICES=;");
}
TEST(Errors, UnwritableOutput) {
  TempDir dir;
  dir.write("f.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
  dir.write("x.npy", goodNpy());
  dir.write("plain-file", "not a folder");
  expectCli("unwritable-output", dir, "run f.kir --input x=x.npy --output a=plain-file/a.npy");
}
TEST(Errors, UnwritableOutputFolder) {
  TempDir dir;
  writeMnist(dir, "mnist");
  dir.write("plain-file", "not a folder");
  expectCli("unwritable-out-folder", dir, mnist("--data mnist --model linear --epochs 1 --out plain-file/run"));
}
TEST(Errors, FullDiskKeepsCheckpoint) {
  TempDir dir;
  writeMnist(dir, "mnist");
  CliRun first = runKiln(dir, mnist("--data mnist --model linear --epochs 1 --out run"));
  ASSERT_EQ(first.status, 0) << first.err;
  std::string before = TempDir::read(dir.file("run/checkpoint.safetensors"));
  ASSERT_GT(before.size(), 20000u); // the limit below must be smaller than the checkpoint
  // A file-size limit makes the checkpoint's write fail exactly as a full disk does.
  expectCli("disk-full", dir, mnist("--data mnist --model linear --epochs 1 --seed 7 --out run"),
            "trap '' XFSZ; ulimit -f 20;");
  EXPECT_EQ(TempDir::read(dir.file("run/checkpoint.safetensors")), before) << "the previous checkpoint must survive";
  for (const auto &e : std::filesystem::directory_iterator(dir.path() / "run"))
    EXPECT_EQ(e.path().filename().string().find("checkpoint.safetensors."), std::string::npos)
        << "temporary file left behind: " << e.path();
}
TEST(Errors, CheckNumerics) {
  TempDir dir;
  dir.write("f.kir",
            std::string(kHead) + "  %a = log(%x) : f32[4]\n  %b = exp(%a) : f32[4]\n  return %b : f32[4]\n}\n");
  dir.write("x.npy", npyBytes(f32Vector({1, 2, -3, 4})));
  expectCli("check-numerics", dir, "run f.kir --input x=x.npy --check-numerics");
  // Without the flag the NaN flows to the output and the run succeeds.
  CliRun plain = runKiln(dir, "run f.kir --input x=x.npy");
  EXPECT_EQ(plain.status, 0) << plain.err;
  EXPECT_NE(plain.out.find("nan"), std::string::npos) << plain.out;
}
TEST(Errors, UnknownOption) {
  TempDir dir;
  expectCli("usage-option", dir, "run f.kir --bogus");
}
TEST(Errors, MalformedAssignment) {
  TempDir dir;
  dir.write("f.kir", std::string(kHead) + "  %a = exp(%x) : f32[4]\n  return %a : f32[4]\n}\n");
  expectCli("usage-assignment", dir, "run f.kir --input x");
}

// ---- The table itself ----------------------------------------------------------------

/// Every row of docs/errors.md is exercised by a test above (one expectRow per
/// row id, found by scanning this file), and every id used here has a row.
TEST(Errors, TableAndTestsAgree) {
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/tools/ErrorsTest.cpp");
  std::stringstream src;
  src << in.rdbuf();
  std::set<std::string> used;
  const std::string text = src.str();
  for (const char *fn : {"expectRow(", "expectCli(", "expectIr(", "expectNpy(", "expectIdx(", "expectCheckpoint("})
    for (size_t at = text.find(fn); at != std::string::npos; at = text.find(fn, at + 1)) {
      size_t begin = text.find_first_not_of(" \n", at + std::strlen(fn));
      if (begin == std::string::npos || text[begin] != '"')
        continue; // a call with a variable id, or the declaration
      size_t close = text.find('"', begin + 1);
      std::string id = text.substr(begin + 1, close - begin - 1);
      if (!id.empty() && id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos)
        used.insert(id);
    }
  ASSERT_GT(documentedRows().size(), 30u) << "docs/errors.md could not be read or has too few rows";
  for (const auto &[id, row] : documentedRows())
    EXPECT_TRUE(used.count(id)) << "docs/errors.md row `" << id << "` has no test in ErrorsTest.cpp";
  for (const std::string &id : used)
    EXPECT_TRUE(documentedRows().count(id)) << "ErrorsTest.cpp checks `" << id << "`, which docs/errors.md lacks";
}

} // namespace
} // namespace kiln::test
