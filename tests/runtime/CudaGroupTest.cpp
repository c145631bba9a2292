// tests/runtime/CudaGroupTest.cpp - launch groups: independent kernels of a CUDA step as one launch.
//
// Which kernels share a launch is checked against the graph's dependences by
// hand; what a group computes is checked against the interpreter (on a GPU,
// or on the emulator), and every group must assemble for sm_90, where ptxas
// rejects a kernel that declares more static shared memory than 48 KiB.
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln::test {
namespace {

#if KILN_WITH_CUDA
/// The names of the program kernels each GPU launch of p runs, in order.
std::vector<std::vector<std::string>> launchMembers(const cuda::CudaProgram &p) {
  std::vector<std::vector<std::string>> out;
  for (const Launch &l : p.launches) {
    out.emplace_back();
    auto g = p.groups.find(l.kernel);
    if (g == p.groups.end())
      out.back().push_back(p.program.kernels.at(l.kernel).name);
    else
      for (int k : g->second)
        out.back().push_back(p.program.kernels.at(k).name);
  }
  return out;
}

using Members = std::vector<std::vector<std::string>>;

/// g assembles for sm_90 (lowered with `lo`) and, with a GPU (or the
/// emulator), computes what the interpreter does.
void expectAssemblesAndRuns(const Graph &g, const cuda::CudaLowerOptions &lo = {}) {
  EXPECT_TRUE(assemblesForSm90(g, false, lo));
  if (hasCudaBackend()) {
    EXPECT_TRUE(sameAsInterpreter(g, "cuda"));
  }
}
#endif

// Generic kernels that touch nothing another writes are one launch: exp,
// neg and tanh of x (the scheduler moves tanh up beside the other two), then
// the sum of exp and neg, which reads them, on its own. The results stay the
// interpreter's.
TEST(CudaLaunchGroups, IndependentKernelsShareALaunchAndDependentOnesDoNot) {
#if KILN_WITH_CUDA
  Graph g("groups");
  Value x = g.addInput("x", f32({64, 70}));
  Value e = g.build(OpKind::Exp, {x});
  Value n = g.build(OpKind::Neg, {x});
  Value sum = g.build(OpKind::Add, {e, n});
  Value t = g.build(OpKind::Tanh, {x});
  g.setOutputs({sum, t});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  ASSERT_EQ(p.program.launches.size(), 4u) << printProgram(p.program);
  ASSERT_EQ(p.launches.size(), 2u);
  ASSERT_TRUE(p.groups.count(p.launches[0].kernel)) << p.kernels[p.launches[0].kernel].name << " is not a group";
  std::vector<std::string> members;
  for (int k : p.groups.at(p.launches[0].kernel))
    members.push_back(p.program.kernels[k].name);
  EXPECT_EQ(members, (std::vector<std::string>{"exp1", "neg2", "tanh4"}));
  EXPECT_EQ(p.kernels[p.launches[0].kernel].grid[0], 3 * ((64 * 70 + 255) / 256)) << "each member keeps its blocks";
  EXPECT_EQ(p.program.kernels[p.launches[1].kernel].name, "add3");
  expectAssemblesAndRuns(g);
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// GEMMs are kernels in body form too: two products of the same x, one with
// each weight, are independent, so they share a launch (a layer's weight and
// input gradients do, in a train step); their sum, which reads both, follows.
TEST(CudaLaunchGroups, IndependentGemmsShareALaunch) {
#if KILN_WITH_CUDA
  Graph g("gemms");
  Value x = g.addInput("x", f32({96, 40}));
  Value a = g.build(OpKind::Matmul, {x, g.addInput("w1", f32({40, 72}))});
  Value b = g.build(OpKind::Matmul, {x, g.addInput("w2", f32({40, 72}))});
  g.setOutputs({g.build(OpKind::Add, {a, b})});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  EXPECT_EQ(launchMembers(p), (Members{{"matmul2", "matmul4"}, {"add5"}})) << printProgram(p.program);
  // 96 x 72 is 2 x 2 tiles of 64x64 each; the group runs both GEMMs' blocks.
  EXPECT_EQ(p.kernels.at(p.launches[0].kernel).grid[0], 8);
  EXPECT_EQ(p.kernels.at(p.launches[0].kernel).staticSharedBytes, 2 * 16 * (68 + 68) * 4); // A, B slices
  expectAssemblesAndRuns(g);
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// Each 64x64 GEMM stages its slices in 8,704 bytes of shared memory, and a
// kernel may declare 48 KiB: seven independent GEMMs are a group of five and
// a group of two. ptxas fails a kernel that declares more, so the program
// assembling is the independent check.
TEST(CudaLaunchGroups, AGroupDeclaresAtMost48KiBOfSharedMemory) {
#if KILN_WITH_CUDA
  Graph g("many_gemms");
  Value x = g.addInput("x", f32({64, 64}));
  std::vector<Value> outs;
  for (int i = 0; i < 7; ++i)
    outs.push_back(g.build(OpKind::Matmul, {x, g.addInput("w" + std::to_string(i), f32({64, 64}))}));
  g.setOutputs(outs);
  cuda::CudaProgram p = cuda::lowerCuda(g);
  Members members = launchMembers(p);
  ASSERT_EQ(members.size(), 2u) << printProgram(p.program);
  EXPECT_EQ(members[0].size(), 5u);
  EXPECT_EQ(members[1].size(), 2u);
  for (const Launch &l : p.launches)
    EXPECT_LE(p.kernels.at(l.kernel).staticSharedBytes, 48 * 1024);
  expectAssemblesAndRuns(g);
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// A group runs with its heaviest member's registers a thread, so a GEMM and
// an elementwise kernel of more blocks than two per SM stay apart (the
// latter would run in more, thinner waves); on a GPU with enough SMs for
// it, they share a launch.
TEST(CudaLaunchGroups, AGemmAndAWideKernelShareALaunchOnlyWhenItFitsOneWave) {
#if KILN_WITH_CUDA
  Graph g("gemm_and_wide");
  Value x = g.addInput("x", f32({64, 64}));
  Value y = g.addInput("y", f32({600, 256})); // 600 blocks of 256 threads
  g.setOutputs({g.build(OpKind::Matmul, {x, g.addInput("w", f32({64, 64}))}), g.build(OpKind::Exp, {y})});
  EXPECT_EQ(launchMembers(cuda::lowerCuda(g, {/*smCount=*/132})), (Members{{"matmul3"}, {"exp4"}}));
  EXPECT_EQ(launchMembers(cuda::lowerCuda(g, {/*smCount=*/300})), (Members{{"matmul3", "exp4"}}));
  expectAssemblesAndRuns(g, {/*smCount=*/300});
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// A kernel nothing waits for that would not share its round's launch (a
// GEMM beside the wide exp) waits for the next round: x times w, the first
// ready, joins the launch of the GEMM that reads exp(y), two launches instead
// of three (x times w, exp, the GEMM).
TEST(CudaLaunchGroups, AKernelNothingWaitsForJoinsALaterLaunch) {
#if KILN_WITH_CUDA
  Graph g("later");
  Value p = g.build(OpKind::Matmul, {g.addInput("x", f32({64, 64})), g.addInput("w", f32({64, 64}))});
  Value e = g.build(OpKind::Exp, {g.addInput("y", f32({2400, 64}))}); // 600 blocks of 256 threads
  Value z = g.build(OpKind::Matmul, {e, g.addInput("v", f32({64, 64}))});
  g.setOutputs({z, p});
  EXPECT_EQ(launchMembers(cuda::lowerCuda(g, {/*smCount=*/132})), (Members{{"exp4"}, {"matmul2", "matmul6"}}));
  expectAssemblesAndRuns(g);
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

} // namespace
} // namespace kiln::test
