// tests/passes/ForwardExampleTest.cpp - the committed forward-with-loss IR of the report CNN.
//
// examples/mnist/cnn_forward.kir is the report CNN's forward graph (eval mode,
// batch 128) with its cross-entropy loss, the input of
// `kiln opt examples/mnist/cnn_forward.kir --passes=autodiff --print-after-all`.
// KILN_REGENERATE=1 rewrites it from the DSL (examples/mnist/Models.h).
#include "examples/mnist/Models.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Pass.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace kiln {
namespace {

const std::string kPath = std::string(KILN_SOURCE_DIR) + "/examples/mnist/cnn_forward.kir";

const char *kHeader =
    "// examples/mnist/cnn_forward.kir - the report CNN's forward graph (batch 128, eval mode) and its\n"
    "// cross-entropy loss. Generated from examples/mnist/Models.h by tests/passes/ForwardExampleTest.cpp\n"
    "// (KILN_REGENERATE=1). Try: kiln opt cnn_forward.kir --passes=autodiff --print-after-all\n";

std::unique_ptr<Graph> forwardWithLoss() {
  auto g = std::make_unique<Graph>("cnn_forward");
  Tensor x = input(*g, "x", TensorType{DType::F32, {128, 1, 28, 28}});
  Tensor y = input(*g, "y", TensorType{DType::I32, {128}});
  nn::BuildContext ctx(*g, nn::Mode::Eval);
  Tensor loss = softmax_cross_entropy(mnist::makeNetwork("cnn")->forward(ctx, x, /*logits=*/true), y).named("loss");
  g->setOutputs({loss.value()});
  return g;
}

TEST(ForwardExample, CommittedFileIsTheDslGraph) {
  std::string text = kHeader + toText(*forwardWithLoss());
  if (std::getenv("KILN_REGENERATE")) {
    std::ofstream(kPath) << text;
    std::cout << "wrote " << kPath << "\n";
  }
  std::ifstream in(kPath);
  ASSERT_TRUE(in) << kPath;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), text) << "the DSL's forward graph changed: rerun with KILN_REGENERATE=1";
}

TEST(ForwardExample, AutodiffAppendsOneGradientPerParameter) {
  std::unique_ptr<Graph> g = parseGraphFile(kPath);
  ASSERT_EQ(g->params().size(), 12u);
  PassManager pm;
  pm.add("autodiff");
  PassContext ctx;
  pm.run(*g, ctx);
  ASSERT_EQ(g->outputs().size(), 13u);
  for (size_t i = 0; i < g->params().size(); ++i) {
    EXPECT_EQ(g->outputs()[i + 1].node->name(), "d_" + g->params()[i]->name());
    EXPECT_EQ(g->outputs()[i + 1].type(), g->params()[i]->resultType(0));
  }
}

} // namespace
} // namespace kiln
