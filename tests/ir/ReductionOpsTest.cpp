// tests/ir/ReductionOpsTest.cpp - reduce_sum, reduce_mean, reduce_max, argmax and
// sumToShape: hand values, axes and keepdims, errors, gradient rules.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "passes/Autodiff.h"
#include "tests/support/GradCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using test::checkGradRule;
using test::randomTensor;
using test::runOp;
using test::tensorOf;
using test::userErrorOf;

AttrMap reduceAttrs(std::vector<int64_t> axes, bool keepdims = false) {
  AttrMap m;
  m.set("axes", std::move(axes));
  m.set("keepdims", keepdims);
  return m;
}

AttrMap argmaxAttrs(int64_t axis, bool keepdims = false) {
  AttrMap m;
  m.set("axis", axis);
  m.set("keepdims", keepdims);
  return m;
}

// x = [[[0,1,2,3],[4,5,6,7],[8,9,10,11]], [[12..15],[16..19],[20..23]]] of shape [2,3,4].
HostTensor iota234(DType t) {
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  return tensorOf({t, {2, 3, 4}}, v);
}

TEST(ReductionOps, ReduceSumOverAxes) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64}) {
    SCOPED_TRACE(dtypeName(t));
    HostTensor x = iota234(t);
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceSum, {x}), TensorType{t, {}}, {276});
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceSum, {x}, reduceAttrs({1})), TensorType{t, {2, 4}},
                     {12, 15, 18, 21, 48, 51, 54, 57});
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceSum, {x}, reduceAttrs({0, 2})), TensorType{t, {3}}, {60, 92, 124});
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceSum, {x}, reduceAttrs({-1}, true)), TensorType{t, {2, 3, 1}},
                     {6, 22, 38, 54, 70, 86});
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceSum, {x}, reduceAttrs({}, true)), TensorType{t, {1, 1, 1}}, {276});
  }
}

TEST(ReductionOps, ReduceMeanAndMax) {
  for (DType t : {DType::F32, DType::F64}) {
    HostTensor x = iota234(t);
    EXPECT_TENSOR_NEAR(runOp(OpKind::ReduceMean, {x}), TensorType{t, {}}, {11.5}, 1e-7);
    EXPECT_TENSOR_NEAR(runOp(OpKind::ReduceMean, {x}, reduceAttrs({0, -1}, true)), TensorType{t, {1, 3, 1}},
                       {7.5, 11.5, 15.5}, 1e-7);
    EXPECT_TENSOR_EQ(runOp(OpKind::ReduceMax, {x}, reduceAttrs({1})), TensorType{t, {2, 4}},
                     {8, 9, 10, 11, 20, 21, 22, 23});
  }
  HostTensor neg = tensorOf({DType::F32, {2, 2}}, {-5, -3, -7, -9});
  EXPECT_TENSOR_EQ(runOp(OpKind::ReduceMax, {neg}, reduceAttrs({1})), TensorType{DType::F32, {2}}, {-3, -7});
  HostTensor i = tensorOf({DType::I32, {3}}, {-4, 9, 2});
  EXPECT_TENSOR_EQ(runOp(OpKind::ReduceMax, {i}), TensorType{DType::I32, {}}, {9});
}

TEST(ReductionOps, ArgmaxFirstMaximum) {
  HostTensor x = tensorOf({DType::F32, {2, 3}}, {1, 7, 7, 9, 2, 9});
  EXPECT_TENSOR_EQ(runOp(OpKind::Argmax, {x}), TensorType{DType::I32, {2}}, {1, 0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Argmax, {x}, argmaxAttrs(0)), TensorType{DType::I32, {3}}, {1, 0, 1});
  EXPECT_TENSOR_EQ(runOp(OpKind::Argmax, {x}, argmaxAttrs(-2, true)), TensorType{DType::I32, {1, 3}}, {1, 0, 1});
  HostTensor y = iota234(DType::I64);
  EXPECT_TENSOR_EQ(runOp(OpKind::Argmax, {y}, argmaxAttrs(1)), TensorType{DType::I32, {2, 4}},
                   {2, 2, 2, 2, 2, 2, 2, 2});
  HostTensor d = tensorOf({DType::F64, {4}}, {-1, -0.5, -3, -0.5});
  EXPECT_TENSOR_EQ(runOp(OpKind::Argmax, {d}), TensorType{DType::I32, {}}, {1});
}

TEST(ReductionOps, ErrorsNameOpAndShapes) {
  auto err = [](OpKind k, TensorType t, AttrMap a) { return userErrorOf([&] { test::inferOp(k, {t}, a); }); };
  TensorType x{DType::F32, {2, 3}};
  EXPECT_NE(err(OpKind::ReduceSum, x, reduceAttrs({2})).find("reduce_sum: axis 2 out of range for rank 2"),
            std::string::npos);
  EXPECT_NE(err(OpKind::ReduceMax, x, reduceAttrs({-3})).find("reduce_max: axis -3 out of range for rank 2"),
            std::string::npos);
  EXPECT_NE(err(OpKind::ReduceSum, x, reduceAttrs({1, -1})).find("reduce_sum: repeated axis in [1,-1]"),
            std::string::npos);
  EXPECT_NE(err(OpKind::ReduceMean, {DType::I32, {3}}, reduceAttrs({})).find("reduce_mean: expects a float"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Argmax, {DType::F32, {}}, argmaxAttrs(-1)).find("argmax: expects a numeric operand of rank"),
            std::string::npos);
  EXPECT_NE(err(OpKind::Argmax, x, argmaxAttrs(2)).find("argmax: axis 2 out of range"), std::string::npos);
}

TEST(ReductionOps, GradientsMatchFiniteDifferences) {
  HostTensor x = randomTensor({DType::F64, {2, 3, 4}}, 51);
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    checkGradRule(k, {x});
    checkGradRule(k, {x}, reduceAttrs({1}));
    checkGradRule(k, {x}, reduceAttrs({0, 2}));
    checkGradRule(k, {x}, reduceAttrs({-1, 0}, true));
  }
}

TEST(ReductionOps, ReduceMaxGradientGoesToEveryTiedMaximum) {
  Graph g;
  Value x = g.addInput("x", {DType::F64, {2, 3}});
  Value y = g.build(OpKind::ReduceMax, {x}, reduceAttrs({1}));
  test::RecordingGradContext ctx(g, *y.node, g.addInput("dy", y.type()));
  y.node->info().hooks.grad(ctx);
  g.setOutputs({ctx.grads()[0]});
  TensorMap env{{"x", tensorOf({DType::F64, {2, 3}}, {4, 1, 4, 0, 2, 1})},
                {"dy", tensorOf({DType::F64, {2}}, {10, 20})}};
  EXPECT_TENSOR_EQ(interpret(g, env).at(0), TensorType{DType::F64, {2, 3}}, {10, 0, 10, 0, 20, 0});
}

TEST(ReductionOps, SecondDerivativesMatchFiniteDifferences) {
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax}) {
    SCOPED_TRACE(opInfo(k).mnemonic);
    test::GradCheckOptions opt;
    opt.wrt = {"x"};
    test::expectGradCheck(
        [&](Graph &g) {
          Value x = g.addInput("x", {DType::F32, {3, 4}});
          Value sq = g.build(OpKind::Mul, {x, x});
          Value r = g.build(k, {sq}, reduceAttrs({0}));
          Value dx = grad(g, test::probeLoss(g, g.build(OpKind::Mul, {r, r})), std::vector<Value>{x})[0];
          return test::probeLoss(g, dx);
        },
        opt);
  }
}

// ---- sumToShape --------------------------------------------------------------

HostTensor sumTo(const HostTensor &v, Shape target, std::vector<int64_t> dims = {}) {
  Graph g;
  Value in = g.addInput("v", v.type());
  Value r = sumToShape(g, in, target, dims);
  EXPECT_EQ(shapeString(r.shape()), shapeString(target));
  g.setOutputs({r});
  TensorMap env{{"v", v}};
  return interpret(g, env).at(0);
}

TEST(ReductionOps, SumToShapeUndoesBroadcasting) {
  HostTensor v = iota234(DType::F64);
  EXPECT_TENSOR_EQ(sumTo(v, {2, 3, 4}), v);
  EXPECT_TENSOR_EQ(sumTo(v, {4}), TensorType{DType::F64, {4}}, {60, 66, 72, 78});
  EXPECT_TENSOR_EQ(sumTo(v, {3, 1}), TensorType{DType::F64, {3, 1}}, {60, 92, 124});
  EXPECT_TENSOR_EQ(sumTo(v, {1, 1, 4}), TensorType{DType::F64, {1, 1, 4}}, {60, 66, 72, 78});
  EXPECT_TENSOR_EQ(sumTo(v, {}), TensorType{DType::F64, {}}, {276});
  EXPECT_TENSOR_EQ(sumTo(v, {3}, {1}), TensorType{DType::F64, {3}}, {60, 92, 124});
  EXPECT_TENSOR_EQ(sumTo(v, {2, 1}, {0, 2}), TensorType{DType::F64, {2, 1}}, {66, 210});
}

} // namespace
} // namespace kiln
