// tests/frontend/DslTest.cpp - the Tensor DSL: ops built, attributes, error locations.
#include "frontend/Layers.h"
#include "frontend/Tensor.h"
#include "ir/Error.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace kiln {
namespace {

/// The message of the UserError `f` throws ("" if none).
template <typename F> std::string userErrorOf(F &&f) {
  try {
    f();
  } catch (const UserError &e) {
    return e.what();
  }
  return "";
}

TEST(Dsl, ShapeErrorNamesTheCallersFileAndLine) {
  Graph g;
  Tensor x = input(g, "x", {DType::F32, {2, 3, 8, 8}});
  Tensor w = parameter(g, "w", {DType::F32, {4, 1, 3, 3}});
  int line = __LINE__ + 1;
  std::string msg = userErrorOf([&] { conv2d(x, w); });
  std::string where = "DslTest.cpp:" + std::to_string(line) + ": conv2d: ";
  EXPECT_EQ(msg.rfind(where, 0), 0u) << msg;
  // The message names the channel counts, and the location appears once.
  EXPECT_NE(msg.find('3'), std::string::npos) << msg;
  EXPECT_EQ(msg.find("DslTest.cpp", 1), std::string::npos) << msg;
}

TEST(Dsl, OperatorErrorsNameTheExpression) {
  Graph g;
  Tensor a = input(g, "a", {DType::F32, {2, 3}});
  Tensor b = input(g, "b", {DType::F32, {4}});
  int line = __LINE__ + 1;
  std::string msg = userErrorOf([&] { (void)(a + b); });
  EXPECT_EQ(msg.rfind("DslTest.cpp:" + std::to_string(line) + ": add: ", 0), 0u) << msg;
}

TEST(Dsl, LayerErrorsPointAtTheLayersConstruction) {
  Graph g;
  nn::Sequential net("net");
  int line = __LINE__ + 1;
  net.add(nn::Dense(10));
  nn::BuildContext ctx(g, nn::Mode::Eval);
  Tensor x = input(g, "x", {DType::F32, {2, 1, 4, 4}});
  std::string msg = userErrorOf([&] { net.forward(ctx, x); });
  EXPECT_EQ(msg.rfind("DslTest.cpp:" + std::to_string(line) + ": dense", 0), 0u) << msg;
  EXPECT_NE(msg.find("f32[2,1,4,4]"), std::string::npos) << msg;
}

TEST(Dsl, OpsCarryAttributesAndLocations) {
  Graph g;
  Tensor x = input(g, "x", {DType::F32, {2, 3, 8, 8}});
  Tensor w = parameter(g, "w", {DType::F32, {4, 3, 3, 3}});
  Tensor b = parameter(g, "b", {DType::F32, {4}});
  int line = __LINE__ + 1;
  Tensor y = add(conv2d(x, w, {1, 1}, "same"), b, {1});
  EXPECT_EQ(y.shape(), (Shape{2, 4, 8, 8}));
  EXPECT_EQ(y.node()->kind(), OpKind::Add);
  EXPECT_EQ(y.node()->attrs().getInts("broadcast"), (std::vector<int64_t>{1}));
  EXPECT_EQ(y.node()->location(), "DslTest.cpp:" + std::to_string(line));
  Node *conv = y.node()->operand(0).node;
  EXPECT_EQ(conv->attrs().getString("padding"), "same");
  Tensor p = max_pool2d(relu(y));
  EXPECT_EQ(p.shape(), (Shape{2, 4, 4, 4}));
  EXPECT_EQ(flatten(p).shape(), (Shape{2, 64}));
  EXPECT_EQ(argmax(flatten(p)).dtype(), DType::I32);
  EXPECT_EQ(reduce_mean(p, {2, 3}, true).shape(), (Shape{2, 4, 1, 1}));
  EXPECT_EQ(transpose(flatten(p), {1, 0}).shape(), (Shape{64, 2}));
}

TEST(Dsl, ArithmeticEvaluatesLikeHandValues) {
  Graph g;
  Tensor a = input(g, "a", {DType::F32, {3}});
  Tensor b = input(g, "b", {DType::F32, {3}});
  Tensor c = (a * 2.0 + b) / (1.0 + a) - -b; // (2a+b)/(1+a) + b
  Tensor d = select(greater(a, b), sqrt(a), exp(b));
  g.setOutputs({c.value(), d.value()});
  TensorMap env;
  env["a"] = HostTensor::fromDoubles({DType::F32, {3}}, std::vector<double>{1, 3, 0.5});
  env["b"] = HostTensor::fromDoubles({DType::F32, {3}}, std::vector<double>{2, -1, 0.25});
  std::vector<HostTensor> out = interpret(g, env);
  double expC[3] = {(2 + 2) / 2.0 + 2, (6 - 1) / 4.0 - 1, (1 + 0.25) / 1.5 + 0.25};
  double expD[3] = {std::exp(2.0), std::sqrt(3.0), std::sqrt(0.5)};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(out[0].at(i), expC[i], 1e-6);
    EXPECT_NEAR(out[1].at(i), expD[i], 1e-6);
  }
}

TEST(Dsl, MixingGraphsIsAnError) {
  Graph g1, g2;
  Tensor a = input(g1, "a", {DType::F32, {2}});
  Tensor b = input(g2, "b", {DType::F32, {2}});
  std::string msg = userErrorOf([&] { add(a, b); });
  EXPECT_NE(msg.find("different graphs"), std::string::npos) << msg;
}

TEST(Dsl, SequentialNamesLayersLikeKeras) {
  nn::Sequential net;
  net.add(nn::Conv2D(2, {3, 3})).add(nn::Conv2D(2, {3, 3})).add(nn::Flatten()).add(nn::Dense(3));
  ASSERT_EQ(net.layers().size(), 4u);
  EXPECT_EQ(net.layers()[0]->name(), "conv2d");
  EXPECT_EQ(net.layers()[1]->name(), "conv2d_1");
  EXPECT_EQ(net.layers()[2]->name(), "flatten");
  EXPECT_EQ(net.layers()[3]->name(), "dense");
  Graph g;
  nn::BuildContext ctx(g, nn::Mode::Eval);
  Tensor y = net.forward(ctx, input(g, "x", {DType::F32, {1, 1, 7, 7}}));
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  ASSERT_EQ(ctx.params().size(), 6u);
  EXPECT_EQ(ctx.params()[0].name, "conv2d.kernel");
  EXPECT_EQ(ctx.params()[0].type.shape, (Shape{2, 1, 3, 3}));
  EXPECT_EQ(ctx.params()[3].name, "conv2d_1.bias");
  EXPECT_EQ(ctx.params()[4].type.shape, (Shape{18, 3}));
  EXPECT_EQ(g.params().size(), 6u);
}

} // namespace
} // namespace kiln
