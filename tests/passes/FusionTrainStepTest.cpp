// tests/passes/FusionTrainStepTest.cpp - fusion and memory planning of the MNIST train steps.
//
// The report CNN's train step (batch 128, forward + backward + Adadelta) is
// committed as examples/mnist/train_step.kir; KILN_REGENERATE=1 rewrites it
// from the DSL (examples/mnist/Models.h). Numerical equivalence runs on small
// batches of every model (the interpreter is slow at batch 128).
#include "FusionTestUtil.h"

#include "examples/mnist/Models.h"
#include "ir/Printer.h"
#include "passes/Fusion.h"
#include "passes/MemoryPlan.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace kiln::test {
namespace {

const std::string kTrainStepPath = std::string(KILN_SOURCE_DIR) + "/examples/mnist/train_step.kir";

const char *kHeader = "// examples/mnist/train_step.kir - the report CNN's train step, batch 128: forward,\n"
                      "// backward (autodiff) and the Adadelta update of all 911,664 parameters.\n"
                      "// Generated from examples/mnist/Models.h by tests/passes/FusionTrainStepTest.cpp\n"
                      "// (KILN_REGENERATE=1); try `kiln opt train_step.kir --passes=fuse,plan-memory --stats`.\n";

TEST(FusionTrainStep, CommittedTrainStepIsTheDslGraph) {
  BuiltModel m = mnist::buildModel("cnn", 128);
  std::string text = kHeader + toText(*m.train);
  if (std::getenv("KILN_REGENERATE")) {
    std::ofstream(kTrainStepPath) << text;
    std::cout << "wrote " << kTrainStepPath << "\n";
  }
  std::ifstream in(kTrainStepPath);
  ASSERT_TRUE(in) << kTrainStepPath;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), text) << "the DSL's train step changed: rerun with KILN_REGENERATE=1";
}

size_t countRegions(const Graph &g, const std::string &name) { return regionsNamed(g, name).size(); }

TEST(FusionTrainStep, ReportCnnFusesIntoTheExpectedRegions) {
  std::unique_ptr<Graph> g = parseGraphFile(kTrainStepPath);
  MemoryPlan unfused = planMemory(*g);
  PassContext ctx = runPasses(*g, "simplify,cse,constant-fold,dce,fuse,plan-memory", "cuda");
  EXPECT_EQ(countRegions(*g, "conv_bias_relu_pool"), 2u) << toText(*g);
  EXPECT_EQ(countRegions(*g, "matmul_bias_act"), 3u);
  EXPECT_EQ(countRegions(*g, "matmul_bias"), 1u);
  EXPECT_EQ(countRegions(*g, "softmax_xent"), 1u);
  EXPECT_EQ(countRegions(*g, "pool_grad_mask"), 2u);
  EXPECT_EQ(countRegions(*g, "matmul_grad_mask"), 3u);
  EXPECT_EQ(countRegions(*g, "grad_update"), 12u); // 6 layers x (kernel, bias), each with its gradient
  EXPECT_EQ(countRegions(*g, "optimizer_update"), 0u);
  MemoryPlan plan = planMemory(*g);
  EXPECT_EQ(ctx.stats.at("plan-memory.arena-bytes"), static_cast<int64_t>(plan.arenaBytes));
  EXPECT_LT(plan.arenaBytes, unfused.arenaBytes);
  // Reuse: the arena is within 5% of the bytes live at the busiest point (a
  // bound no placement can beat), and far below one buffer per value.
  EXPECT_LE(plan.arenaBytes, plan.peakLiveBytes + plan.peakLiveBytes / 20);
  EXPECT_LT(plan.arenaBytes, plan.unplannedBytes * 3 / 5);
  std::cout << "train step, batch 128: unfused arena " << unfused.arenaBytes << " bytes (unplanned "
            << unfused.unplannedBytes << "); fused arena " << plan.arenaBytes << ", peak live "
            << plan.peakLiveBytes << ", unplanned " << plan.unplannedBytes << ", in place " << plan.inPlace
            << "\n";
}

TEST(FusionTrainStep, EveryModelComputesTheSameAfterFusion) {
  for (const std::string &name : mnist::modelNames()) {
    BuiltModel m = mnist::buildModel(name, 3);
    for (Graph *step : {m.train.get(), m.eval.get()}) {
      std::unique_ptr<Graph> fused = step->clone();
      runPasses(*fused, "fuse,plan-memory");
      size_t regions = 0;
      for (Node *n : fused->nodes())
        regions += n->kind() == OpKind::Fused;
      EXPECT_GT(regions, 0u) << name;
      expectSameResults(*step, *fused, 5, 10);
    }
  }
}

} // namespace
} // namespace kiln::test
