// tests/ir/ElementwiseOpsTest.cpp - elementwise ops: values against std:: math and
// hand-computed tables, broadcasting, type errors, gradient rules.
#include "ir/Error.h"
#include "ir/Formula.h"
#include "passes/Autodiff.h"
#include "tests/support/GradCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace kiln {
namespace {

using test::checkGradRule;
using test::randomTensor;
using test::runOp;
using test::tensorOf;
using test::userErrorOf;

AttrMap attrs(std::string_view name, Attr v) {
  AttrMap m;
  m.set(name, std::move(v));
  return m;
}
AttrMap bcast(std::vector<int64_t> dims) { return attrs("broadcast", std::move(dims)); }
AttrMap pred(const char *p) { return attrs("pred", std::string(p)); }

struct UnaryCase {
  OpKind kind;
  std::function<double(double)> ref;
  bool positive; ///< domain restricted to x > 0
};

const std::vector<UnaryCase> &unaryCases() {
  static const std::vector<UnaryCase> cases = {
      {OpKind::Neg, [](double x) { return -x; }, false},
      {OpKind::Exp, [](double x) { return std::exp(x); }, false},
      {OpKind::Log, [](double x) { return std::log(x); }, true},
      {OpKind::Sqrt, [](double x) { return std::sqrt(x); }, true},
      {OpKind::Rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, true},
      {OpKind::Abs, [](double x) { return std::fabs(x); }, false},
      {OpKind::Relu, [](double x) { return x > 0 ? x : 0.0; }, false},
      {OpKind::Sigmoid, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, false},
      {OpKind::Tanh, [](double x) { return std::tanh(x); }, false},
  };
  return cases;
}

TEST(ElementwiseOps, UnaryMatchStdMathInF32AndF64) {
  std::vector<double> any = {-2.5, -0.5, 0.0, 0.75, 3.0}, pos = {0.25, 1.0, 2.5, 9.0, 100.0};
  for (const UnaryCase &c : unaryCases()) {
    const std::vector<double> &xs = c.positive ? pos : any;
    std::vector<double> want;
    for (double x : xs) want.push_back(c.ref(x));
    for (DType t : {DType::F32, DType::F64}) {
      Shape s{static_cast<int64_t>(xs.size())};
      HostTensor y = runOp(c.kind, {tensorOf({t, s}, xs)});
      SCOPED_TRACE(std::string(opInfo(c.kind).mnemonic) + " " + std::string(dtypeName(t)));
      EXPECT_TENSOR_NEAR(y, TensorType{t, s}, want, t == DType::F32 ? 1e-6 : 1e-14);
    }
  }
}

TEST(ElementwiseOps, NegAndAbsOnIntegers) {
  HostTensor x = tensorOf({DType::I32, {4}}, {-3, 0, 5, -7});
  EXPECT_TENSOR_EQ(runOp(OpKind::Neg, {x}), TensorType{DType::I32, {4}}, {3, 0, -5, 7});
  EXPECT_TENSOR_EQ(runOp(OpKind::Abs, {x}), TensorType{DType::I32, {4}}, {3, 0, 5, 7});
  HostTensor y = tensorOf({DType::I64, {2}}, {-9, 4});
  EXPECT_TENSOR_EQ(runOp(OpKind::Abs, {y}), TensorType{DType::I64, {2}}, {9, 4});
}

TEST(ElementwiseOps, CastConvertsBetweenDTypes) {
  HostTensor f = tensorOf({DType::F32, {4}}, {2.7, -2.7, 0.0, 1.5});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cast, {f}, attrs("dtype", std::string("i32"))), TensorType{DType::I32, {4}},
                   {2, -2, 0, 1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cast, {f}, attrs("dtype", std::string("bool"))),
                   TensorType{DType::Bool, {4}}, {1, 1, 0, 1});
  HostTensor i = tensorOf({DType::I32, {3}}, {-4, 0, 16777217});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cast, {i}, attrs("dtype", std::string("f64"))), TensorType{DType::F64, {3}},
                   {-4, 0, 16777217});
  HostTensor b = tensorOf({DType::Bool, {2}}, {1, 0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cast, {b}, attrs("dtype", std::string("f32"))), TensorType{DType::F32, {2}},
                   {1, 0});
}

TEST(ElementwiseOps, BinaryHandValues) {
  for (DType t : {DType::F32, DType::F64}) {
    HostTensor a = tensorOf({t, {2, 2}}, {1, -2, 3.5, 8});
    HostTensor b = tensorOf({t, {2, 2}}, {4, 5, -0.5, 2});
    TensorType r{t, {2, 2}};
    EXPECT_TENSOR_EQ(runOp(OpKind::Add, {a, b}), r, {5, 3, 3, 10});
    EXPECT_TENSOR_EQ(runOp(OpKind::Sub, {a, b}), r, {-3, -7, 4, 6});
    EXPECT_TENSOR_EQ(runOp(OpKind::Mul, {a, b}), r, {4, -10, -1.75, 16});
    EXPECT_TENSOR_NEAR(runOp(OpKind::Div, {a, b}), r, {0.25, -0.4, -7, 4}, 1e-7);
    EXPECT_TENSOR_EQ(runOp(OpKind::Maximum, {a, b}), r, {4, 5, 3.5, 8});
    EXPECT_TENSOR_EQ(runOp(OpKind::Minimum, {a, b}), r, {1, -2, -0.5, 2});
  }
}

TEST(ElementwiseOps, IntegerArithmeticTruncates) {
  HostTensor a = tensorOf({DType::I32, {4}}, {7, -7, 9, 5});
  HostTensor b = tensorOf({DType::I32, {4}}, {2, 2, -4, 5});
  EXPECT_TENSOR_EQ(runOp(OpKind::Div, {a, b}), TensorType{DType::I32, {4}}, {3, -3, -2, 1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Mul, {a, b}), TensorType{DType::I32, {4}}, {14, -14, -36, 25});
}

TEST(ElementwiseOps, NumpyBroadcasting) {
  HostTensor m = tensorOf({DType::F32, {2, 3}}, {1, 2, 3, 4, 5, 6});
  HostTensor row = tensorOf({DType::F32, {3}}, {10, 20, 30});
  EXPECT_TENSOR_EQ(runOp(OpKind::Add, {m, row}), TensorType{DType::F32, {2, 3}}, {11, 22, 33, 14, 25, 36});
  EXPECT_TENSOR_EQ(runOp(OpKind::Sub, {row, m}), TensorType{DType::F32, {2, 3}}, {9, 18, 27, 6, 15, 24});
  HostTensor col = tensorOf({DType::F64, {2, 1}}, {2, 3});
  HostTensor r = tensorOf({DType::F64, {1, 3}}, {1, 10, 100});
  EXPECT_TENSOR_EQ(runOp(OpKind::Mul, {col, r}), TensorType{DType::F64, {2, 3}}, {2, 20, 200, 3, 30, 300});
  HostTensor s = tensorOf({DType::F64, {}}, {0.5});
  EXPECT_TENSOR_EQ(runOp(OpKind::Div, {col, s}), TensorType{DType::F64, {2, 1}}, {4, 6});
}

TEST(ElementwiseOps, BroadcastAttrMapsLowerRankOperand) {
  // a[i,j,k] - b[j]: b's dim 0 maps to result dim 1.
  std::vector<double> av(24);
  for (int i = 0; i < 24; ++i) av[i] = i;
  HostTensor a = tensorOf({DType::F32, {2, 3, 4}}, av);
  HostTensor b = tensorOf({DType::F32, {3}}, {100, 200, 300});
  std::vector<double> ab(24), ba(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        int at = (i * 3 + j) * 4 + k;
        ab[at] = av[at] - 100 * (j + 1);
        ba[at] = 100 * (j + 1) - av[at];
      }
  TensorType r{DType::F32, {2, 3, 4}};
  EXPECT_TENSOR_EQ(runOp(OpKind::Sub, {a, b}, bcast({1})), r, ab);
  EXPECT_TENSOR_EQ(runOp(OpKind::Sub, {b, a}, bcast({1})), r, ba);
  EXPECT_TENSOR_EQ(runOp(OpKind::Sub, {a, b}, bcast({-2})), r, ab);
  // A [2,1] operand mapped to dims [0,2] broadcasts along dims 1 and 2.
  HostTensor c = tensorOf({DType::F32, {2, 1}}, {1000, 2000});
  std::vector<double> ac(24);
  for (int at = 0; at < 24; ++at) ac[at] = av[at] + (at < 12 ? 1000 : 2000);
  EXPECT_TENSOR_EQ(runOp(OpKind::Add, {a, c}, bcast({0, 2})), r, ac);
}

TEST(ElementwiseOps, CmpPredicates) {
  HostTensor a = tensorOf({DType::F32, {3}}, {1, 2, 3});
  HostTensor b = tensorOf({DType::F32, {3}}, {2, 2, 2});
  TensorType r{DType::Bool, {3}};
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("lt")), r, {1, 0, 0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("le")), r, {1, 1, 0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("gt")), r, {0, 0, 1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("ge")), r, {0, 1, 1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("eq")), r, {0, 1, 0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {a, b}, pred("ne")), r, {1, 0, 1});
  HostTensor i = tensorOf({DType::I32, {2, 2}}, {1, 5, 7, 2});
  HostTensor s = tensorOf({DType::I32, {}}, {4});
  EXPECT_TENSOR_EQ(runOp(OpKind::Cmp, {i, s}, pred("gt")), TensorType{DType::Bool, {2, 2}}, {0, 1, 1, 0});
}

TEST(ElementwiseOps, SelectBroadcastsAllThree) {
  HostTensor c = tensorOf({DType::Bool, {2, 1}}, {1, 0});
  HostTensor a = tensorOf({DType::F64, {3}}, {1, 2, 3});
  HostTensor b = tensorOf({DType::F64, {}}, {-1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Select, {c, a, b}), TensorType{DType::F64, {2, 3}}, {1, 2, 3, -1, -1, -1});
}

TEST(ElementwiseOps, DropoutKeepsScaledOrZero) {
  const int64_t n = 4000;
  HostTensor x = tensorOf({DType::F32, {n}}, std::vector<double>(n, 3.0));
  HostTensor key = tensorOf({DType::I64, {}}, {12345});
  AttrMap a;
  a.set("rate", 0.25);
  a.set("seed", int64_t{7});
  HostTensor y = runOp(OpKind::Dropout, {x, key}, a);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool keep = kilnRandomUniform(7, 12345, static_cast<uint64_t>(i)) >= 0.25f;
    ASSERT_NEAR(y.at(i), keep ? 4.0 : 0.0, 1e-6) << "element " << i;
    kept += keep;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.03);
  // Same seed and key: same mask; another key: another mask.
  EXPECT_TENSOR_EQ(runOp(OpKind::Dropout, {x, key}, a), y);
  HostTensor other = runOp(OpKind::Dropout, {x, tensorOf({DType::I64, {}}, {12346})}, a);
  EXPECT_FALSE(test::tensorsNear(other, y, 0.0));
}

TEST(ElementwiseOps, TypeAndShapeErrorsNameOpAndShapes) {
  auto err = [](OpKind k, std::vector<TensorType> ts, AttrMap a = {}) {
    return userErrorOf([&] { test::inferOp(k, ts, a); });
  };
  TensorType f23{DType::F32, {2, 3}}, f4{DType::F32, {4}}, i3{DType::I32, {3}};
  EXPECT_NE(err(OpKind::Add, {f23, f4}).find("add: cannot broadcast shapes [2,3] and [4]"), std::string::npos);
  EXPECT_NE(err(OpKind::Mul, {f23, TensorType{DType::F64, {2, 3}}}).find("mul: operand dtypes differ"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Sub, {f23, f4}, bcast({1})).find("sub: cannot broadcast [4] to [2,3]"), std::string::npos);
  EXPECT_NE(err(OpKind::Sub, {f23, TensorType{DType::F32, {3}}}, bcast({0, 1})).find("sub: broadcast dims"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Exp, {i3}).find("exp: expects a float operand, got i32[3]"), std::string::npos);
  EXPECT_NE(err(OpKind::Relu, {i3}).find("relu:"), std::string::npos);
  EXPECT_NE(err(OpKind::Cmp, {f4, f4}, pred("gte")).find("cmp: unknown predicate \"gte\""), std::string::npos);
  EXPECT_NE(err(OpKind::Cmp, {f4, f4}).find("cmp: missing required attribute 'pred'"), std::string::npos);
  EXPECT_NE(err(OpKind::Cast, {f4}, attrs("dtype", std::string("f16"))).find("cast: unknown dtype"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Select, {f4, f4, f4}).find("select: condition must be bool"), std::string::npos);
  EXPECT_NE(err(OpKind::Select, {TensorType{DType::Bool, {2}}, f4, f4}).find("select: cannot broadcast"),
            std::string::npos);
  AttrMap rate = attrs("rate", 0.5);
  EXPECT_NE(err(OpKind::Dropout, {f4, TensorType{DType::I64, {1}}}, rate).find("dropout: key must be i64[]"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Dropout, {f4, TensorType{DType::I64, {}}}, attrs("rate", 1.0)).find("rate"),
            std::string::npos);
}

// ---- gradients ---------------------------------------------------------------

TEST(ElementwiseOps, UnaryGradientsMatchFiniteDifferences) {
  for (const UnaryCase &c : unaryCases()) {
    SCOPED_TRACE(opInfo(c.kind).mnemonic);
    HostTensor x = c.positive ? randomTensor({DType::F64, {2, 3}}, 11, 0.5, 2.0)
                              : randomTensor({DType::F64, {2, 3}}, 12, 0.1, 1.5);
    if (!c.positive) // put half the elements below zero, away from relu/abs kinks
      for (int64_t i = 0; i < x.numel(); i += 2) x.set(i, -x.at(i));
    checkGradRule(c.kind, {x});
  }
}

TEST(ElementwiseOps, BinaryGradientsMatchFiniteDifferences) {
  HostTensor a = randomTensor({DType::F64, {2, 3}}, 21), b = randomTensor({DType::F64, {2, 3}}, 22, 0.5, 2.0);
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Maximum, OpKind::Minimum}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    checkGradRule(k, {a, b});
    // Numpy broadcasting both ways ([2,3] with [3] and [2,1] with [1,3]).
    HostTensor row = randomTensor({DType::F64, {3}}, 23, 0.5, 2.0);
    checkGradRule(k, {a, row});
    checkGradRule(k, {row, b});
    checkGradRule(k, {randomTensor({DType::F64, {2, 1}}, 24, 0.5, 2.0),
                      randomTensor({DType::F64, {1, 3}}, 25, 0.5, 2.0)});
    // The broadcast attr: a [2,4] operand along dims 0 and 2 of [2,3,4].
    HostTensor big = randomTensor({DType::F64, {2, 3, 4}}, 26, 0.5, 2.0);
    HostTensor small = randomTensor({DType::F64, {2, 4}}, 27, 0.5, 2.0);
    checkGradRule(k, {big, small}, bcast({0, 2}));
    checkGradRule(k, {small, big}, bcast({0, 2}));
  }
}

TEST(ElementwiseOps, MaximumTiesGoToFirstOperand) {
  HostTensor a = tensorOf({DType::F64, {3}}, {1, 2, 3}), b = tensorOf({DType::F64, {3}}, {1, 5, 3});
  Graph g;
  Value va = g.addInput("a", a.type()), vb = g.addInput("b", b.type()), dy = g.addInput("dy", a.type());
  Value y = g.build(OpKind::Maximum, {va, vb});
  test::RecordingGradContext ctx(g, *y.node, dy);
  y.node->info().hooks.grad(ctx);
  g.setOutputs({ctx.grads()[0], ctx.grads()[1]});
  TensorMap env{{"a", a}, {"b", b}, {"dy", tensorOf(a.type(), {10, 20, 30})}};
  std::vector<HostTensor> out = interpret(g, env);
  EXPECT_TENSOR_EQ(out[0], a.type(), {10, 0, 30});
  EXPECT_TENSOR_EQ(out[1], a.type(), {0, 20, 0});
}

TEST(ElementwiseOps, SelectCastAndDropoutGradients) {
  HostTensor c = tensorOf({DType::Bool, {2, 1}}, {1, 0});
  checkGradRule(OpKind::Select, {c, randomTensor({DType::F64, {2, 3}}, 31), randomTensor({DType::F64, {3}}, 32)});
  checkGradRule(OpKind::Cast, {randomTensor({DType::F64, {4}}, 33)}, attrs("dtype", std::string("f64")));
  AttrMap a;
  a.set("rate", 0.5);
  a.set("seed", int64_t{3});
  checkGradRule(OpKind::Dropout, {randomTensor({DType::F64, {16}}, 34), tensorOf({DType::I64, {}}, {9})}, a);

  // Casting f32 to f64 sends the gradient back as f32; casting to an integer sends none.
  Graph g;
  Value x = g.addInput("x", {DType::F32, {2}});
  Value wide = g.build(OpKind::Cast, {x}, attrs("dtype", std::string("f64")));
  test::RecordingGradContext ctx(g, *wide.node, g.addInput("dy", wide.type()));
  wide.node->info().hooks.grad(ctx);
  ASSERT_TRUE(ctx.grads()[0]);
  EXPECT_EQ(typeString(ctx.grads()[0].type()), "f32[2]");
  Value narrow = g.build(OpKind::Cast, {x}, attrs("dtype", std::string("i32")));
  test::RecordingGradContext ictx(g, *narrow.node, g.addInput("di", narrow.type()));
  narrow.node->info().hooks.grad(ictx);
  EXPECT_FALSE(ictx.grads()[0]);
}

TEST(ElementwiseOps, SecondDerivativesMatchFiniteDifferences) {
  // loss = <probe2, d<probe1, op(x)>/dx>: its gradient needs the grad rule's own gradient.
  for (const UnaryCase &c : unaryCases()) {
    if (c.kind == OpKind::Relu || c.kind == OpKind::Abs || c.kind == OpKind::Neg) continue; // piecewise linear
    SCOPED_TRACE(opInfo(c.kind).mnemonic);
    test::GradCheckOptions opt;
    opt.wrt = {"x"};
    if (c.positive) opt.lo = 0.5, opt.hi = 2.0;
    test::expectGradCheck(
        [&](Graph &g) {
          Value x = g.addInput("x", {DType::F32, {5}});
          Value loss1 = test::probeLoss(g, g.build(c.kind, {x}));
          Value dx = grad(g, loss1, std::vector<Value>{x})[0];
          return test::probeLoss(g, dx);
        },
        opt);
  }
  for (OpKind k : {OpKind::Mul, OpKind::Div}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    test::GradCheckOptions opt;
    opt.lo = 0.5, opt.hi = 2.0;
    opt.wrt = {"a", "b"};
    test::expectGradCheck(
        [&](Graph &g) {
          Value a = g.addInput("a", {DType::F32, {2, 3}}), b = g.addInput("b", {DType::F32, {3}});
          Value l = test::probeLoss(g, g.build(k, {a, b}));
          std::vector<Value> d = grad(g, l, std::vector<Value>{a, b});
          Value s = g.build(OpKind::ReduceSum, {g.build(OpKind::Mul, {d[1], d[1]})});
          return g.build(OpKind::Add, {test::probeLoss(g, d[0]), s});
        },
        opt);
  }
}

} // namespace
} // namespace kiln
