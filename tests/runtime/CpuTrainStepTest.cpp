// tests/runtime/CpuTrainStepTest.cpp - the report CNN train step on the cpu backend.
//
// examples/mnist/train_step.kir (batch 128, forward, backward and Adadelta),
// fused by the `fuse` pipeline, run for one step on random data: loss,
// accuracy and every updated parameter and state must match the interpreter.
// Also checks that a second compile of the same graph loads every kernel from
// the disk cache.
#include "ir/Parser.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TempDir.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

namespace kiln::test {
namespace {

std::unique_ptr<Graph> trainStep(bool fuse) {
  std::unique_ptr<Graph> g = parseGraphFile(std::string(KILN_SOURCE_DIR) + "/examples/mnist/train_step.kir");
  if (fuse)
    fuseFor(*g, "cpu");
  return g;
}

TensorMap stepInputs(const Graph &g) {
  TensorMap env = randomEnvironment(g, 11);
  env["y"] = randomInts({DType::I32, {128}}, 5, 0, 9);
  env["lr"] = HostTensor::scalar(DType::F32, 1.0);
  for (Node *n : g.states()) // Adadelta accumulators start at zero
    env[n->name()] = HostTensor(n->resultType());
  for (Node *n : g.params())
    env[n->name()] = randomTensor(n->resultType(), 100 + n->id(), -0.1, 0.1);
  return env;
}

class CpuTrainStep : public ::testing::TestWithParam<bool> {};

TEST_P(CpuTrainStep, MatchesInterpreter) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  std::unique_ptr<Graph> g = trainStep(GetParam());
  EXPECT_TRUE(sameAsInterpreter(*g, "cpu", 1e-4, stepInputs(*g)));
}

// Fused only: the unfused ops are covered one by one in CpuOpsTest, and each
// interpreter run of the full step takes seconds.
INSTANTIATE_TEST_SUITE_P(Fusion, CpuTrainStep, ::testing::Values(true));

TEST(CpuKernelCache, SecondCompileLoadsEveryKernel) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  TempDir dir;
  setenv("KILN_CACHE_DIR", dir.path().string().c_str(), 1);
  std::unique_ptr<Graph> g = trainStep(true);
  CompileOptions opt;
  opt.verbose = true;
  std::ostringstream first, second;
  opt.log = &first;
  auto a = compile(*g, opt);
  opt.log = &second;
  auto b = compile(*g, opt);
  unsetenv("KILN_CACHE_DIR");
  EXPECT_NE(first.str().find("(0 from cache"), std::string::npos) << first.str();
  EXPECT_NE(second.str().find(", 0 compiled"), std::string::npos) << second.str();
  EXPECT_LT(b->compileSeconds(), a->compileSeconds());
}

} // namespace
} // namespace kiln::test
