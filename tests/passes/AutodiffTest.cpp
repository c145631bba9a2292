// tests/passes/AutodiffTest.cpp - the autodiff driver against float64 central
// differences, per op family and for second derivatives, plus its errors.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "passes/Autodiff.h"
#include "tests/support/GradCheck.h"
#include "tests/support/OpCheck.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>

namespace kiln::test {
namespace {

using ::testing::HasSubstr;

Value un(Graph &g, OpKind k, Value x, AttrMap a = {}) { return g.build(k, {x}, std::move(a)); }
Value bin(Graph &g, OpKind k, Value x, Value y, AttrMap a = {}) {
  return g.build(k, {x, y}, std::move(a));
}

// ---- elementwise --------------------------------------------------------------

TEST(AutodiffGradCheck, UnaryElementwise) {
  for (OpKind k : {OpKind::Neg, OpKind::Exp, OpKind::Abs, OpKind::Relu, OpKind::Sigmoid,
                   OpKind::Tanh}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    expectGradCheck([k](Graph &g) { return probeLoss(g, un(g, k, g.addParam("x", f32({2, 3})))); });
  }
  GradCheckOptions positive;
  positive.lo = 0.5;
  positive.hi = 2.0;
  for (OpKind k : {OpKind::Log, OpKind::Sqrt, OpKind::Rsqrt}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    expectGradCheck([k](Graph &g) { return probeLoss(g, un(g, k, g.addParam("x", f32({2, 3})))); },
                    positive);
  }
}

TEST(AutodiffGradCheck, BinaryElementwiseWithBroadcasting) {
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Maximum, OpKind::Minimum}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    // Same shapes, numpy trailing broadcasting, and explicit broadcast dims.
    expectGradCheck([k](Graph &g) {
      return probeLoss(g, bin(g, k, g.addParam("a", f32({2, 3})), g.addParam("b", f32({2, 3}))));
    });
    expectGradCheck([k](Graph &g) {
      return probeLoss(g, bin(g, k, g.addParam("a", f32({2, 3})), g.addParam("b", f32({3}))));
    });
    expectGradCheck([k](Graph &g) {
      return probeLoss(g, bin(g, k, g.addParam("a", f32({2})), g.addParam("b", f32({2, 3})),
                              attrs({{"broadcast", Ints{0}}})));
    });
  }
  GradCheckOptions positive;
  positive.lo = 0.5;
  positive.hi = 2.0;
  expectGradCheck([](Graph &g) {
    return probeLoss(g, bin(g, OpKind::Div, g.addParam("a", f32({4, 3})), g.addParam("b", f32({3}))));
  }, positive);
}

TEST(AutodiffGradCheck, SelectCastAndConstants) {
  expectGradCheck([](Graph &g) {
    Value a = g.addParam("a", f32({3, 4})), b = g.addParam("b", f32({3, 4}));
    Value cond = bin(g, OpKind::Cmp, a, b, attrs({{"pred", std::string("gt")}}));
    Value s = g.build(OpKind::Select, {cond, bin(g, OpKind::Mul, a, a), b});
    Value c = un(g, OpKind::Cast, s, attrs({{"dtype", std::string("f64")}}));
    return probeLoss(g, bin(g, OpKind::Add, c, g.constant(0.5, {DType::F64, {}})));
  });
}

TEST(AutodiffGradCheck, DropoutWithFixedKey) {
  GradCheckOptions opt;
  opt.fixed["key"] = HostTensor::scalar(DType::I64, 1234);
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({4, 5}));
    Value key = g.addInput("key", {DType::I64, {}});
    Value y = g.build(OpKind::Dropout, {x, key}, attrs({{"rate", 0.3}, {"seed", int64_t{7}}}));
    return probeLoss(g, un(g, OpKind::Tanh, y));
  }, opt);
}

// ---- layout and reductions ----------------------------------------------------------

TEST(AutodiffGradCheck, Layout) {
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({2, 3, 4}));
    Value r = un(g, OpKind::Reshape, x, attrs({{"shape", Ints{4, -1}}}));
    Value t = un(g, OpKind::Transpose, r, attrs({{"perm", Ints{1, 0}}}));
    Value f = un(g, OpKind::Flatten, un(g, OpKind::Tanh, x), attrs({{"axis", int64_t{2}}}));
    return bin(g, OpKind::Add, probeLoss(g, t), probeLoss(g, f));
  });
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({3, 1}));
    Value b = un(g, OpKind::Broadcast, x, attrs({{"shape", Ints{2, 3, 4}}}));
    Value y = g.addParam("y", f32({3}));
    Value c = un(g, OpKind::Broadcast, y, attrs({{"shape", Ints{3, 2}}, {"dims", Ints{0}}}));
    return bin(g, OpKind::Add, probeLoss(g, b), probeLoss(g, c));
  });
}

TEST(AutodiffGradCheck, Reductions) {
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    expectGradCheck([k](Graph &g) {
      Value x = g.addParam("x", f32({2, 3, 4}));
      Value all = un(g, OpKind::Exp, un(g, k, x));
      Value mid = un(g, k, x, attrs({{"axes", Ints{1}}, {"keepdims", true}}));
      Value outer = un(g, k, x, attrs({{"axes", Ints{0, -1}}}));
      return bin(g, OpKind::Add, all, bin(g, OpKind::Add, probeLoss(g, mid), probeLoss(g, outer)));
    });
  }
}

// ---- matmul, conv, pool ---------------------------------------------------------------

TEST(AutodiffGradCheck, Matmul) {
  for (auto [ta, tb] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
    SCOPED_TRACE(std::to_string(ta) + std::to_string(tb));
    expectGradCheck([ta, tb](Graph &g) {
      Value a = g.addParam("a", f32(ta ? Shape{4, 3} : Shape{3, 4}));
      Value b = g.addParam("b", f32(tb ? Shape{5, 4} : Shape{4, 5}));
      return probeLoss(g, bin(g, OpKind::Matmul, a, b,
                              attrs({{"transpose_a", ta}, {"transpose_b", tb}})));
    });
  }
}

struct ConvCase {
  const char *name;
  Shape x, w;
  Ints stride;
  Attr padding;
};

TEST(AutodiffGradCheck, Conv2d) {
  const ConvCase cases[] = {
      {"valid", {2, 2, 5, 5}, {3, 2, 3, 3}, {1, 1}, std::string("valid")},
      {"stride 2", {1, 2, 7, 7}, {2, 2, 3, 3}, {2, 2}, std::string("valid")},
      {"same stride 2", {1, 1, 6, 5}, {2, 1, 3, 3}, {2, 2}, std::string("same")},
      {"non-square", {2, 1, 6, 4}, {2, 1, 3, 2}, {2, 1}, std::string("same")},
      {"explicit padding", {1, 2, 4, 4}, {1, 2, 2, 3}, {1, 1}, Ints{1, 0, 0, 2}},
  };
  for (const ConvCase &c : cases) {
    SCOPED_TRACE(c.name);
    expectGradCheck([&c](Graph &g) {
      Value x = g.addParam("x", f32(c.x)), w = g.addParam("w", f32(c.w));
      return probeLoss(g, bin(g, OpKind::Conv2d, x, w,
                              attrs({{"stride", c.stride}, {"padding", c.padding}})));
    });
  }
}

TEST(AutodiffGradCheck, Pools) {
  for (OpKind k : {OpKind::MaxPool2d, OpKind::AvgPool2d}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    expectGradCheck([k](Graph &g) { return probeLoss(g, un(g, k, g.addParam("x", f32({2, 2, 4, 6})))); });
    expectGradCheck([k](Graph &g) {
      return probeLoss(g, un(g, k, g.addParam("x", f32({1, 1, 5, 5})),
                             attrs({{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}},
                                    {"padding", std::string("same")}})));
    });
  }
}

// ---- softmax and losses ---------------------------------------------------------------

TEST(AutodiffGradCheck, SoftmaxAndLogSoftmax) {
  for (OpKind k : {OpKind::Softmax, OpKind::LogSoftmax})
    for (int64_t axis : {-1, 0}) {
      SCOPED_TRACE(std::string(opInfo(k).mnemonic) + " axis " + std::to_string(axis));
      expectGradCheck([k, axis](Graph &g) {
        return probeLoss(g, un(g, k, g.addParam("x", f32({3, 4})), attrs({{"axis", axis}})));
      });
    }
}

TEST(AutodiffGradCheck, SoftmaxCrossEntropy) {
  GradCheckOptions opt;
  opt.fixed["labels"] = HostTensor::fromDoubles({DType::I32, {4}}, std::vector<double>{2, 0, 4, 2});
  opt.lo = -3;
  opt.hi = 3;
  expectGradCheck([](Graph &g) {
    Value logits = g.addParam("logits", f32({4, 5}));
    Value labels = g.addInput("labels", {DType::I32, {4}});
    return bin(g, OpKind::SoftmaxCrossEntropy, logits, labels);
  }, opt);
}

// ---- second derivatives ----------------------------------------------------------------

/// probe . d/dx [first(x)], a scalar whose gradient is a Hessian-vector product.
Value gradOfGrad(Graph &g, Value first, std::vector<Value> wrt) {
  std::vector<Value> d = grad(g, first, wrt);
  Value sum = probeLoss(g, d[0]);
  for (size_t i = 1; i < d.size(); ++i)
    sum = bin(g, OpKind::Add, sum, probeLoss(g, d[i]));
  return sum;
}

TEST(AutodiffSecondOrder, Elementwise) {
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({2, 3})), y = g.addParam("y", f32({3}));
    Value f = bin(g, OpKind::Mul, un(g, OpKind::Tanh, x), un(g, OpKind::Sigmoid, y));
    f = bin(g, OpKind::Add, f, un(g, OpKind::Exp, bin(g, OpKind::Mul, x, x)));
    return gradOfGrad(g, probeLoss(g, f), {x, y});
  });
}

TEST(AutodiffSecondOrder, MatmulAndReductions) {
  expectGradCheck([](Graph &g) {
    Value a = g.addParam("a", f32({3, 4})), b = g.addParam("b", f32({4, 2}));
    Value m = un(g, OpKind::Tanh, bin(g, OpKind::Matmul, a, b));
    Value r = un(g, OpKind::ReduceMean, m, attrs({{"axes", Ints{1}}}));
    return gradOfGrad(g, probeLoss(g, un(g, OpKind::Exp, r)), {a, b});
  });
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({2, 3, 2}));
    Value s = un(g, OpKind::ReduceSum, bin(g, OpKind::Mul, x, x), attrs({{"axes", Ints{0, 2}}}));
    Value m = un(g, OpKind::ReduceMax, un(g, OpKind::Sigmoid, x), attrs({{"axes", Ints{1}}}));
    return gradOfGrad(g, bin(g, OpKind::Add, probeLoss(g, un(g, OpKind::Tanh, s)), probeLoss(g, m)), {x});
  });
}

TEST(AutodiffSecondOrder, ReshapeAndSoftmax) {
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({2, 6}));
    Value r = un(g, OpKind::Reshape, un(g, OpKind::Tanh, x), attrs({{"shape", Ints{3, 4}}}));
    Value s = un(g, OpKind::LogSoftmax, bin(g, OpKind::Mul, r, r));
    return gradOfGrad(g, probeLoss(g, s), {x});
  });
}

TEST(AutodiffSecondOrder, Conv2d) {
  expectGradCheck([](Graph &g) {
    Value x = g.addParam("x", f32({1, 2, 5, 4})), w = g.addParam("w", f32({2, 2, 3, 2}));
    Value c = bin(g, OpKind::Conv2d, x, w,
                  attrs({{"stride", Ints{2, 1}}, {"padding", std::string("same")}}));
    return gradOfGrad(g, probeLoss(g, un(g, OpKind::Tanh, c)), {x, w});
  });
}

// ---- the driver itself -----------------------------------------------------------------

TEST(Autodiff, MultiUseAccumulatesAndUnrelatedIsZero) {
  // loss = sum(x*x + 3x) -> dloss/dx = 2x + 3 (hand-derived); z is unused.
  Graph g;
  Value x = g.addParam("x", f32({3}));
  Value z = g.addParam("z", f32({2}));
  Value three = g.constant(3.0, f32({3}));
  Value f = bin(g, OpKind::Add, bin(g, OpKind::Mul, x, x), bin(g, OpKind::Mul, three, x));
  Value loss = un(g, OpKind::ReduceSum, f);
  std::vector<Value> wrt{x, z};
  std::vector<Value> d = grad(g, loss, wrt);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].type(), x.type());
  EXPECT_EQ(d[1].type(), z.type());
  g.setOutputs({d[0], d[1]});
  verify(g);
  TensorMap env;
  env["x"] = HostTensor::fromDoubles(x.type(), std::vector<double>{1.0, -2.0, 0.5});
  env["z"] = HostTensor::fromDoubles(z.type(), std::vector<double>{7.0, 8.0});
  std::vector<HostTensor> out = interpret(g, env);
  EXPECT_EQ(out[0].at(0), 5.0);
  EXPECT_EQ(out[0].at(1), -1.0);
  EXPECT_EQ(out[0].at(2), 4.0);
  EXPECT_EQ(out[1].at(0), 0.0);
  EXPECT_EQ(out[1].at(1), 0.0);
}

TEST(Autodiff, LossIsTheWrtValue) {
  Graph g;
  Value x = g.addParam("x", f32({}));
  std::vector<Value> wrt{x};
  std::vector<Value> d = grad(g, x, wrt);
  g.setOutputs({d[0]});
  TensorMap env;
  env["x"] = HostTensor::scalar(DType::F32, 4.0);
  EXPECT_EQ(interpret(g, env).at(0).at(0), 1.0);
}

TEST(Autodiff, IntegerWrtIsAUserError) {
  Graph g;
  Value x = g.addParam("x", f32({128}));
  Value y = g.addInput("y", {DType::I32, {128}});
  Value loss = un(g, OpKind::ReduceSum, x);
  std::vector<Value> wrt{x, y};
  try {
    grad(g, loss, wrt);
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_STREQ(e.what(),
                 "autodiff: cannot differentiate with respect to %y: i32[128] is not a floating-point value");
  }
}

TEST(Autodiff, NonScalarLossIsAUserError) {
  Graph g;
  Value x = g.addParam("x", f32({3}));
  std::vector<Value> wrt{x};
  EXPECT_THROW(grad(g, un(g, OpKind::Exp, x), wrt), UserError);
}

TEST(Autodiff, OpWithoutRuleIsNamed) {
  // max_pool2d_grad has no gradient rule, so a second derivative through max
  // pooling must fail naming it.
  Graph g;
  Value x = g.addParam("x", f32({1, 1, 4, 4}));
  Value first = probeLoss(g, un(g, OpKind::MaxPool2d, x));
  std::vector<Value> wrt{x};
  Value dx = grad(g, first, wrt)[0];
  Value second = probeLoss(g, dx);
  try {
    grad(g, second, wrt);
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_THAT(e.what(), HasSubstr("autodiff: op 'max_pool2d_grad' (%"));
    EXPECT_THAT(e.what(), HasSubstr(") has no gradient rule"));
  }
}

TEST(Autodiff, NoGradientOpsContributeZero) {
  // argmax and cmp are kNoGradient: paths through them carry nothing.
  Graph g;
  Value x = g.addParam("x", f32({2, 3}));
  Value idx = un(g, OpKind::Cast, un(g, OpKind::Argmax, x), attrs({{"dtype", std::string("f32")}}));
  Value loss = bin(g, OpKind::Add, un(g, OpKind::ReduceSum, idx), un(g, OpKind::ReduceSum, x));
  std::vector<Value> wrt{x};
  Value d = grad(g, loss, wrt)[0];
  g.setOutputs({d});
  TensorMap env;
  env["x"] = HostTensor::fromDoubles(x.type(), std::vector<double>{1, 5, 2, 7, 3, 4});
  HostTensor out = interpret(g, env).at(0);
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(out.at(i), 1.0);
}

} // namespace
} // namespace kiln::test

namespace kiln::test {
namespace {

TEST(GradCheck, DetectsADisagreement) {
  // A central difference with a huge step misses exp's curvature: the checker
  // must report it (h^2/6 * exp(x) ~ 1.5% here).
  GradCheckOptions opt;
  opt.step = 0.3;
  GradCheckResult r = gradCheck([](Graph &g) {
    return probeLoss(g, g.build(OpKind::Exp, {g.addParam("x", {DType::F32, {3}})}));
  }, opt);
  EXPECT_EQ(r.checked, 3);
  EXPECT_GT(r.maxRelErr, 1e-3);
  EXPECT_THAT(r.where, ::testing::HasSubstr("x["));
}

} // namespace
} // namespace kiln::test
