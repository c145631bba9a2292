// tests/passes/AutodiffPassTest.cpp - the `autodiff` pass: which loss, which
// values, the d_<name> outputs, and gradient values checked by hand.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"
#include "tests/support/OpCheck.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln {
namespace {

using ::testing::HasSubstr;

using test::f32;

/// loss = sum(x * w) + sum(b); other = sum(w * w). Gradients by hand:
/// d loss/dw = x, d loss/db = 1, d other/dw = 2w.
std::unique_ptr<Graph> model(bool nameLoss) {
  auto g = std::make_unique<Graph>("model");
  Value x = g->addInput("x", f32({3}));
  Value w = g->addParam("w", f32({3}));
  Value b = g->addParam("b", f32({}));
  Value other = g->build(OpKind::ReduceSum, {g->build(OpKind::Mul, {w, w})});
  other.node->setName("other");
  Value loss = g->build(OpKind::Add, {g->build(OpKind::ReduceSum, {g->build(OpKind::Mul, {x, w})}), b});
  if (nameLoss)
    loss.node->setName("loss");
  g->setOutputs({other, loss});
  return g;
}

TensorMap env() {
  TensorMap e;
  e["x"] = HostTensor::fromDoubles(f32({3}), std::vector<double>{1.5, -2.0, 4.0});
  e["w"] = HostTensor::fromDoubles(f32({3}), std::vector<double>{0.5, 3.0, -1.0});
  e["b"] = HostTensor::scalar(DType::F32, 7.0);
  return e;
}

std::vector<double> values(const HostTensor &t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.at(i));
  return v;
}

TEST(AutodiffPass, DifferentiatesTheOutputNamedLossWrtAllParams) {
  auto g = model(/*nameLoss=*/true);
  PassContext ctx;
  ASSERT_TRUE(autodiffPass(*g, ctx));
  verify(*g);
  ASSERT_EQ(g->outputs().size(), 4u);
  EXPECT_EQ(g->outputs()[2].node->name(), "d_w");
  EXPECT_EQ(g->outputs()[3].node->name(), "d_b");
  TensorMap e = env();
  std::vector<HostTensor> out = interpret(*g, e);
  EXPECT_EQ(values(out[2]), (std::vector<double>{1.5, -2.0, 4.0}));
  EXPECT_EQ(values(out[3]), (std::vector<double>{1.0}));
  EXPECT_EQ(ctx.stats["autodiff.gradients"], 2);
}

TEST(AutodiffPass, DefaultsToOutputZeroAndHonorsLossAndWrt) {
  {
    auto g = model(/*nameLoss=*/false); // no `loss`: output 0 (other) is differentiated
    PassContext ctx;
    autodiffPass(*g, ctx);
    TensorMap e = env();
    std::vector<HostTensor> out = interpret(*g, e);
    EXPECT_EQ(values(out[2]), (std::vector<double>{1.0, 6.0, -2.0}));
    EXPECT_EQ(values(out[3]), (std::vector<double>{0.0}));
  }
  {
    auto g = model(/*nameLoss=*/true);
    PassContext ctx;
    ctx.loss = "other";
    ctx.wrt = {"w"};
    autodiffPass(*g, ctx);
    ASSERT_EQ(g->outputs().size(), 3u);
    EXPECT_EQ(g->outputs()[2].node->name(), "d_w");
    TensorMap e = env();
    EXPECT_EQ(values(interpret(*g, e)[2]), (std::vector<double>{1.0, 6.0, -2.0}));
  }
}

TEST(AutodiffPass, SharedGradientsGetTheirOwnNames) {
  // loss = a + b: both gradients are the seed itself; each output still gets a name.
  Graph g;
  Value a = g.addParam("a", f32({})), b = g.addParam("b", f32({}));
  Value loss = g.build(OpKind::Add, {a, b});
  loss.node->setName("loss");
  g.addOutput(loss);
  PassContext ctx;
  autodiffPass(g, ctx);
  verify(g);
  EXPECT_EQ(g.outputs()[1].node->name(), "d_a");
  EXPECT_EQ(g.outputs()[2].node->name(), "d_b");
  TensorMap e{{"a", HostTensor::scalar(DType::F32, 2)}, {"b", HostTensor::scalar(DType::F32, 3)}};
  std::vector<HostTensor> out = interpret(g, e);
  EXPECT_EQ(out[1].at(0), 1.0);
  EXPECT_EQ(out[2].at(0), 1.0);
}

TEST(AutodiffPass, UnknownNamesAreUserErrors) {
  auto g = model(true);
  PassContext ctx;
  ctx.loss = "nope";
  EXPECT_THROW(autodiffPass(*g, ctx), UserError);
  PassContext ctx2;
  ctx2.wrt = {"missing"};
  try {
    autodiffPass(*g, ctx2);
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_THAT(e.what(), HasSubstr("no value named 'missing'"));
  }
}

TEST(AutodiffPass, RunningTwiceKeepsNamesUnique) {
  auto g = model(true);
  PassContext ctx;
  autodiffPass(*g, ctx);
  autodiffPass(*g, ctx);
  verify(*g);
  EXPECT_EQ(g->outputs().back().node->name(), "d_b_2");
}

} // namespace
} // namespace kiln
