// tests/runtime/CudaRandomGraphTest.cpp - random graphs, forward and backward, cuda vs interpreter.
//
// 40 graphs per run (seeds 1..40; KILN_RANDOM_GRAPHS=N changes the count),
// every other one fused for the cuda backend first, as the cpu test does
// with 200 (each cuda graph is a compile of its own), within 1e-5 relative. Runs on a GPU or on
// the CUDA emulator (KILN_CUDA_EMULATOR=1, as the suite's emulated/ tests
// do); skips otherwise.
#include "runtime/Backends.h"
#include "tests/support/RandomGraph.h"

#include <gtest/gtest.h>

namespace kiln::test {
namespace {

TEST(CudaRandomGraphs, MatchInterpreterForwardAndBackward) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  int count = randomGraphCount(40);
  for (uint32_t seed = 1; seed <= static_cast<uint32_t>(count); ++seed)
    EXPECT_TRUE(randomGraphMatchesInterpreter(seed, "cuda", 1e-5));
}

} // namespace
} // namespace kiln::test
