// tests/tools/CliTest.cpp - the `kiln` binary: help texts, opt, run, ops, demo, exit codes.
//
// Runs the built binary (KILN_BINARY) through the shell and checks stdout,
// stderr and the exit code: 0 success, 1 error ("error: ..."), 2 usage error.
// Expected numbers are computed by hand in the comments.
#include "ir/OpInfo.h"
#include "passes/Pass.h"
#include "runtime/Npy.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef KILN_BINARY
#error "KILN_BINARY must name the kiln executable (tests/CMakeLists.txt defines it)"
#endif

namespace kiln {
namespace {

struct Result {
  int rc = -1;
  std::string out, err;
};

std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs kiln with `args` (already shell-quoted where needed) in `dir`,
/// with the environment assignments `env` ("NAME=VALUE ...") when given.
Result kiln(const test::TempDir &dir, const std::string &args, const std::string &env = "") {
  std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  std::string cmd = "cd " + quote(dir.path().string()) + " && " + env + " " + quote(KILN_BINARY) + " " + args +
                    " >" + quote(out) + " 2>" + quote(err);
  int status = std::system(cmd.c_str());
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::TempDir::read(out);
  r.err = test::TempDir::read(err);
  return r;
}

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

// The text the printer writes for this graph (print -> parse -> print is byte-identical).
const std::string kDemoKir = R"(graph @demo(%x: f32[2,3]) params(%w: f32[3,2], %b: f32[2]) {
  %0 = matmul(%x, %w) : f32[2,2]
  %1 = add(%0, %b) : f32[2,2]
  %y = relu(%1) : f32[2,2]
  %probs = softmax(%y) : f32[2,2]
  return %y, %probs : f32[2,2], f32[2,2]
}
)";

TEST(Cli, TopLevelHelpListsTheCommands) {
  test::TempDir dir;
  Result r = kiln(dir, "--help");
  EXPECT_EQ(r.rc, 0);
  for (const char *cmd : {"opt", "run", "ops", "demo"})
    EXPECT_TRUE(contains(r.out, std::string("\n  ") + cmd + " ")) << cmd << "\n" << r.out;
  Result none = kiln(dir, "");
  EXPECT_EQ(none.rc, 2);
  EXPECT_TRUE(contains(none.err, "error: a subcommand is required")) << none.err;
}

TEST(Cli, OptHelpMentionsEveryOptionAndPass) {
  test::TempDir dir;
  Result r = kiln(dir, "opt --help");
  EXPECT_EQ(r.rc, 0);
  for (const char *opt : {"--passes", "--print-after-all", "--print-after ", "--print-before", "--print-after-change",
                          "--verify-each", "--no-verify-each", "--time-passes", "--stop-after", "--stats", "--dot",
                          "-o,--output", "--loss", "--wrt", "--backend", "FILE.kir"})
    EXPECT_TRUE(contains(r.out, opt)) << opt << "\n" << r.out;
  for (const PassInfo &p : allPasses())
    EXPECT_TRUE(contains(r.out, "  " + std::string(p.name) + " ")) << p.name;
}

TEST(Cli, RunHelpMentionsEveryOption) {
  test::TempDir dir;
  Result r = kiln(dir, "run --help");
  EXPECT_EQ(r.rc, 0);
  for (const char *opt : {"--input NAME=FILE.npy", "--output NAME=FILE.npy", "--backend", "interp", "cpu", "cuda",
                          "--dtype", "f32", "f64", "--seed", "Glorot-uniform"})
    EXPECT_TRUE(contains(r.out, opt)) << opt << "\n" << r.out;
  EXPECT_EQ(kiln(dir, "ops --help").rc, 0);
  EXPECT_EQ(kiln(dir, "demo --help").rc, 0);
}

TEST(Cli, OptRoundTripsAndWritesFiles) {
  test::TempDir dir;
  dir.write("demo.kir", kDemoKir);
  Result r = kiln(dir, "opt demo.kir");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, kDemoKir);
  r = kiln(dir, "opt demo.kir -o out.kir --dot out.dot");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(test::TempDir::read(dir.file("out.kir")), kDemoKir);
  EXPECT_TRUE(test::TempDir::read(dir.file("out.dot")).starts_with("digraph")) << "Graphviz output";
  r = kiln(dir, "opt - < demo.kir");
  EXPECT_EQ(r.out, kDemoKir) << "stdin input";
}

TEST(Cli, OptRunsPassesWithInstrumentation) {
  test::TempDir dir;
  dir.write("dead.kir", "graph @g(%x: f32[2]) {\n  %0 = exp(%x) : f32[2]\n  %1 = neg(%x) : f32[2]\n"
                        "  return %1 : f32[2]\n}\n");
  Result r = kiln(dir, "opt dead.kir --passes=dce --print-after-all --time-passes --stats");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "graph @g(%x: f32[2]) {\n  %0 = neg(%x) : f32[2]\n  return %0 : f32[2]\n}\n");
  EXPECT_TRUE(contains(r.err, "IR Dump After dce")) << r.err;
  EXPECT_TRUE(contains(r.err, "Pass execution timing report")) << r.err;
  EXPECT_TRUE(contains(r.err, "dce.removed")) << r.err;
  r = kiln(dir, "opt dead.kir --passes=dce --stop-after=0");
  EXPECT_TRUE(contains(r.out, "exp(%x)")) << "--stop-after=0 runs no pass";

  Result bad = kiln(dir, "opt dead.kir --passes=no-such-pass");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_TRUE(bad.err.starts_with("error: unknown pass 'no-such-pass'")) << bad.err;
  Result usage = kiln(dir, "opt dead.kir --print-after=no-such-pass");
  EXPECT_EQ(usage.rc, 2);
  EXPECT_TRUE(usage.err.starts_with("error: --print-after: unknown pass 'no-such-pass'")) << usage.err;
}

TEST(Cli, BadFilesAndFlagsGiveErrorsAndExitCodes) {
  test::TempDir dir;
  Result missing = kiln(dir, "opt nothere.kir");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_TRUE(missing.err.starts_with("error: nothere.kir")) << missing.err;
  dir.write("bad.kir", "graph @g(%x: f32[2]) {\n  %0 = exp(%y) : f32[2]\n}\n");
  Result parse = kiln(dir, "opt bad.kir");
  EXPECT_EQ(parse.rc, 1);
  EXPECT_TRUE(parse.err.starts_with("error: bad.kir:2:")) << parse.err;
  Result flag = kiln(dir, "opt bad.kir --no-such-flag");
  EXPECT_EQ(flag.rc, 2);
  EXPECT_TRUE(flag.err.starts_with("error: ")) << flag.err;
  Result choice = kiln(dir, "run bad.kir --backend tpu");
  EXPECT_EQ(choice.rc, 2) << choice.err;
}

class CliRun : public ::testing::Test {
protected:
  void SetUp() override {
    dir_.write("demo.kir", kDemoKir);
    writeNpy(dir_.file("x.npy"), HostTensor::fromDoubles(TensorType{DType::F32, {2, 3}},
                                                         std::vector<double>{1, 2, 3, 4, 5, 6}));
    writeNpy(dir_.file("w.npy"), HostTensor::fromDoubles(TensorType{DType::F32, {3, 2}},
                                                         std::vector<double>{1, -1, 0, 1, -1, 0.5}));
    // f64 data for an f32 parameter: converted, with a note.
    writeNpy(dir_.file("b.npy"), HostTensor::fromDoubles(TensorType{DType::F64, {2}}, std::vector<double>{0.5, -0.5}));
  }
  test::TempDir dir_;
};

TEST_F(CliRun, ComputesOutputsIntoNpyFiles) {
  Result r = kiln(dir_, "run demo.kir --input x=x.npy --input %w=w.npy --input b=b.npy --output y=y.npy "
                        "--output %probs=p.npy");
  ASSERT_EQ(r.rc, 0) << r.err;
  // x @ w = [[1-3, -1+2+1.5], [4-6, -4+5+3]] = [[-2, 2.5], [-2, 4]]; + b = [[-1.5, 2], [-1.5, 3.5]].
  EXPECT_EQ(r.out, "%y: f32[2,2] = [0, 2, 0, 3.5]\n"
                   "%probs: f32[2,2] = [0.11920292, 0.8807971, 0.02931223, 0.97068775]\n");
  EXPECT_TRUE(contains(r.err, "note: --input b=b.npy: converted f64 to f32")) << r.err;
  HostTensor y = readNpy(dir_.file("y.npy"));
  ASSERT_EQ(y.type(), (TensorType{DType::F32, {2, 2}}));
  const double wantY[4] = {0, 2, 0, 3.5};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(y.at(i), wantY[i]);
  HostTensor p = readNpy(dir_.file("p.npy"));
  // softmax([0, 2]) = [1/(1+e^2), e^2/(1+e^2)]; softmax([0, 3.5]) likewise with e^3.5.
  const double wantP[4] = {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(3.5)),
                           1 / (1 + std::exp(-3.5))};
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(p.at(i), wantP[i], 1e-6);

  Result f64 = kiln(dir_, "run demo.kir --input x=x.npy --input w=w.npy --input b=b.npy --dtype f64 "
                          "--output probs=p64.npy");
  ASSERT_EQ(f64.rc, 0) << f64.err;
  HostTensor p64 = readNpy(dir_.file("p64.npy"));
  EXPECT_EQ(p64.dtype(), DType::F64);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(p64.at(i), wantP[i], 1e-14);
}

TEST_F(CliRun, RunsOnTheCudaEmulator) {
#if KILN_WITH_CUDA
  Result r = kiln(dir_,
                  "run demo.kir --input x=x.npy --input w=w.npy --input b=b.npy --backend cuda --output y=y.npy "
                  "--output probs=p.npy",
                  "KILN_CUDA_EMULATOR=1");
  ASSERT_EQ(r.rc, 0) << r.err;
  HostTensor y = readNpy(dir_.file("y.npy")), p = readNpy(dir_.file("p.npy"));
  const double wantY[4] = {0, 2, 0, 3.5}; // as in ComputesOutputsIntoNpyFiles
  const double wantP[4] = {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(3.5)),
                           1 / (1 + std::exp(-3.5))};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(y.at(i), wantY[i]);
    EXPECT_NEAR(p.at(i), wantP[i], 1e-6);
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit";
#endif
}

TEST_F(CliRun, InitializesMissingParametersAndSaysSo) {
  Result r = kiln(dir_, "run demo.kir --input x=x.npy --seed 7 --output b=b_out.npy");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "note: parameter %w: f32[3,2] not given, initialized glorot-uniform (seed 7)")) << r.err;
  EXPECT_TRUE(contains(r.err, "note: parameter %b: f32[2] not given, initialized to zeros")) << r.err;
  HostTensor b = readNpy(dir_.file("b_out.npy"));
  EXPECT_EQ(b.at(0), 0.0);
  EXPECT_EQ(b.at(1), 0.0);
}

TEST_F(CliRun, ReportsMissingAndMalformedInputs) {
  Result missing = kiln(dir_, "run demo.kir");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "error: missing --input NAME=FILE.npy for graph input %x: f32[2,3]\n");
  Result unknown = kiln(dir_, "run demo.kir --input x=x.npy --input z=x.npy");
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_TRUE(contains(unknown.err, "the graph has no input, parameter or state called 'z' (it has: %x, %w, %b)"))
      << unknown.err;
  Result shape = kiln(dir_, "run demo.kir --input x=w.npy");
  EXPECT_EQ(shape.rc, 1);
  EXPECT_EQ(shape.err, "error: --input x=w.npy: expected f32[2,3], the file holds f32[3,2]\n");
  dir_.write("junk.npy", "not a numpy file");
  Result junk = kiln(dir_, "run demo.kir --input x=junk.npy");
  EXPECT_EQ(junk.rc, 1);
  EXPECT_EQ(junk.err, "error: junk.npy: not a .npy file (bad magic, expected \\x93NUMPY)\n");
  Result noEq = kiln(dir_, "run demo.kir --input x");
  EXPECT_EQ(noEq.rc, 2);
  EXPECT_TRUE(noEq.err.starts_with("error: --input expects NAME=FILE, got 'x'")) << noEq.err;
  Result badOut = kiln(dir_, "run demo.kir --input x=x.npy --output %0=o.npy");
  EXPECT_EQ(badOut.rc, 1);
  EXPECT_TRUE(contains(badOut.err, "'%0' is not an output of the graph (outputs: %y, %probs;")) << badOut.err;
  // A backend missing from this build is an error, not a crash (no GPU here, typically).
  Result cuda = kiln(dir_, "run demo.kir --input x=x.npy --backend cuda");
  if (cuda.rc != 0) {
    EXPECT_EQ(cuda.rc, 1);
    EXPECT_TRUE(cuda.err.starts_with("error: ")) << cuda.err;
  }
}

TEST(Cli, OpsListsTheRegistry) {
  test::TempDir dir;
  Result r = kiln(dir, "ops");
  ASSERT_EQ(r.rc, 0) << r.err;
  size_t lines = 0;
  for (char c : r.out)
    lines += c == '\n';
  EXPECT_EQ(lines, allOps().size() + 1) << "a header and one row per op";
  EXPECT_TRUE(r.out.starts_with("mnemonic")) << r.out;
  for (const OpInfo &op : allOps())
    EXPECT_TRUE(contains(r.out, "\n" + std::string(op.mnemonic) + " ")) << op.mnemonic;
  EXPECT_TRUE(contains(kiln(dir, "ops --attrs").out, "padding: padding = \"valid\""));
}

TEST(Cli, DemoPrintsTheGraphAndItsResult) {
  test::TempDir dir;
  Result r = kiln(dir, "demo");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, kDemoKir)) << r.out;
  EXPECT_TRUE(contains(r.out, "%probs: f32[2,2] = [0.11920292, 0.8807971, 0.02931223, 0.97068775]")) << r.out;
}

} // namespace
} // namespace kiln
