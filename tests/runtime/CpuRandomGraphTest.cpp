// tests/runtime/CpuRandomGraphTest.cpp - random graphs, forward and backward, cpu vs interpreter.
//
// 200 graphs per run (seeds 1..200; KILN_RANDOM_GRAPHS=N changes the count),
// every other one fused first (the `fuse` pipeline) so regions and epilogues
// are covered. On a mismatch the seed and the graph's text are printed.
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/RandomGraph.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

namespace kiln::test {
namespace {

/// The fusion passes to apply (KILN_RANDOM_FUSE overrides, e.g. "fuse").
std::string fusePipeline() {
  if (const char *p = std::getenv("KILN_RANDOM_FUSE"))
    return p;
  return "fuse";
}

TEST(CpuRandomGraphs, MatchInterpreterForwardAndBackward) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  int count = 200;
  if (const char *n = std::getenv("KILN_RANDOM_GRAPHS"))
    count = std::atoi(n);
  for (uint32_t seed = 1; seed <= static_cast<uint32_t>(count); ++seed) {
    std::unique_ptr<Graph> g = randomGraph(seed);
    bool fused = seed % 2 == 0;
    if (fused) {
      // Fusion is another stage's responsibility: when it rejects a graph,
      // say so and test the unfused graph.
      std::unique_ptr<Graph> copy = g->clone();
      try {
        PassManager pm;
        pm.addPipeline(fusePipeline());
        PassContext ctx;
        ctx.backend = "cpu";
        pm.run(*copy, ctx);
        g = std::move(copy);
      } catch (const std::exception &e) {
        fused = false;
        std::cerr << "note: fuse failed on random graph seed " << seed << ": " << e.what() << "\n";
      }
    }
    ::testing::AssertionResult r = ::testing::AssertionFailure();
    try {
      r = sameAsInterpreter(*g, "cpu", 2e-5, {}, false, seed);
    } catch (const std::exception &e) {
      r = ::testing::AssertionFailure() << "exception: " << e.what();
    }
    EXPECT_TRUE(r) << "random graph seed " << seed << (fused ? " (fused)" : "") << ":\n" << toText(*g);
  }
}

} // namespace
} // namespace kiln::test
