// tests/ir/LayoutOpsTest.cpp - reshape, flatten, transpose, broadcast: values
// against index loops written here, every dtype, errors, gradient rules.
#include "ir/Error.h"
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

AttrMap ints(std::string_view name, std::vector<int64_t> v) {
  AttrMap m;
  m.set(name, std::move(v));
  return m;
}

std::vector<double> iota(int64_t n) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

std::string errorOf(OpKind k, TensorType t, AttrMap a) {
  return userErrorOf([&] { test::inferOp(k, {t}, a); });
}

TEST(LayoutOps, ReshapeKeepsRowMajorOrder) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::U8}) {
    HostTensor x = tensorOf({t, {2, 3}}, iota(6));
    EXPECT_TENSOR_EQ(runOp(OpKind::Reshape, {x}, ints("shape", {3, 2})), TensorType{t, {3, 2}}, iota(6));
    EXPECT_TENSOR_EQ(runOp(OpKind::Reshape, {x}, ints("shape", {-1})), TensorType{t, {6}}, iota(6));
    EXPECT_TENSOR_EQ(runOp(OpKind::Reshape, {x}, ints("shape", {1, -1, 2})), TensorType{t, {1, 3, 2}}, iota(6));
  }
  HostTensor s = tensorOf({DType::F32, {1, 1}}, {4});
  EXPECT_TENSOR_EQ(runOp(OpKind::Reshape, {s}, ints("shape", {})), TensorType{DType::F32, {}}, {4});
}

TEST(LayoutOps, FlattenSplitsAtAxis) {
  HostTensor x = tensorOf({DType::F32, {2, 3, 4}}, iota(24));
  EXPECT_EQ(typeString(runOp(OpKind::Flatten, {x}).type()), "f32[2,12]");
  AttrMap a0, am1, a3;
  a0.set("axis", int64_t{0});
  am1.set("axis", int64_t{-1});
  a3.set("axis", int64_t{3});
  EXPECT_TENSOR_EQ(runOp(OpKind::Flatten, {x}, a0), TensorType{DType::F32, {1, 24}}, iota(24));
  EXPECT_TENSOR_EQ(runOp(OpKind::Flatten, {x}, am1), TensorType{DType::F32, {6, 4}}, iota(24));
  EXPECT_TENSOR_EQ(runOp(OpKind::Flatten, {x}, a3), TensorType{DType::F32, {24, 1}}, iota(24));
  AttrMap a4;
  a4.set("axis", int64_t{4});
  EXPECT_NE(errorOf(OpKind::Flatten, x.type(), a4).find("flatten: axis 4 out of range for rank 3"),
            std::string::npos);
}

TEST(LayoutOps, TransposeMatchesIndexLoop) {
  for (DType t : {DType::F32, DType::F64, DType::I64}) {
    HostTensor x = tensorOf({t, {2, 3, 4}}, iota(24));
    // y[a,b,c] = x[b,c,a] for perm [2,0,1]: y has shape [4,2,3].
    std::vector<double> want(24);
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 3; ++c) want[(a * 2 + b) * 3 + c] = (b * 3 + c) * 4 + a;
    EXPECT_TENSOR_EQ(runOp(OpKind::Transpose, {x}, ints("perm", {2, 0, 1})), TensorType{t, {4, 2, 3}}, want);
    EXPECT_TENSOR_EQ(runOp(OpKind::Transpose, {x}, ints("perm", {-1, 0, -2})), TensorType{t, {4, 2, 3}}, want);
  }
  HostTensor m = tensorOf({DType::F32, {2, 3}}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR_EQ(runOp(OpKind::Transpose, {m}, ints("perm", {1, 0})), TensorType{DType::F32, {3, 2}},
                   {1, 4, 2, 5, 3, 6});
}

TEST(LayoutOps, BroadcastTrailingAndByDims) {
  HostTensor row = tensorOf({DType::F32, {3}}, {1, 2, 3});
  EXPECT_TENSOR_EQ(runOp(OpKind::Broadcast, {row}, ints("shape", {2, 3})), TensorType{DType::F32, {2, 3}},
                   {1, 2, 3, 1, 2, 3});
  AttrMap byDim = ints("shape", {3, 2});
  byDim.set("dims", std::vector<int64_t>{0});
  EXPECT_TENSOR_EQ(runOp(OpKind::Broadcast, {row}, byDim), TensorType{DType::F32, {3, 2}}, {1, 1, 2, 2, 3, 3});
  HostTensor col = tensorOf({DType::I32, {2, 1}}, {7, 8});
  EXPECT_TENSOR_EQ(runOp(OpKind::Broadcast, {col}, ints("shape", {2, 2, 3})), TensorType{DType::I32, {2, 2, 3}},
                   {7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8});
  HostTensor s = tensorOf({DType::F64, {}}, {2.5});
  EXPECT_TENSOR_EQ(runOp(OpKind::Broadcast, {s}, ints("shape", {2, 2})), TensorType{DType::F64, {2, 2}},
                   {2.5, 2.5, 2.5, 2.5});
}

TEST(LayoutOps, ErrorsNameOpAndShapes) {
  TensorType x{DType::F32, {2, 3}};
  EXPECT_NE(errorOf(OpKind::Reshape, x, ints("shape", {4, 2})).find("reshape: cannot reshape [2,3]"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Reshape, x, ints("shape", {-1, -1})).find("reshape: more than one -1"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Reshape, x, ints("shape", {-1, 4})).find("reshape: cannot reshape [2,3] to [-1,4]"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Transpose, x, ints("perm", {0})).find("transpose: perm [0] does not match rank 2"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Transpose, x, ints("perm", {1, 1})).find("transpose: perm [1,1] is not a permutation"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Transpose, x, ints("perm", {0, 2})).find("transpose: axis 2 out of range"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Broadcast, x, ints("shape", {3, 3})).find("broadcast: cannot broadcast [2,3] to [3,3]"),
            std::string::npos);
  EXPECT_NE(errorOf(OpKind::Broadcast, x, ints("shape", {3})).find("broadcast: cannot broadcast [2,3] to [3]"),
            std::string::npos);
  AttrMap bad = ints("shape", {2, 4, 3});
  bad.set("dims", std::vector<int64_t>{2, 0});
  EXPECT_NE(errorOf(OpKind::Broadcast, x, bad).find("broadcast: broadcast dims [2,0] must be increasing"),
            std::string::npos);
}

TEST(LayoutOps, GradientsMatchFiniteDifferences) {
  HostTensor x = randomTensor({DType::F64, {2, 3, 4}}, 41);
  checkGradRule(OpKind::Reshape, {x}, ints("shape", {4, -1}));
  AttrMap axis2;
  axis2.set("axis", int64_t{2});
  checkGradRule(OpKind::Flatten, {x}, axis2);
  checkGradRule(OpKind::Transpose, {x}, ints("perm", {1, 2, 0}));
  checkGradRule(OpKind::Broadcast, {randomTensor({DType::F64, {3, 1}}, 42)}, ints("shape", {2, 3, 4}));
  AttrMap byDim = ints("shape", {2, 3, 4});
  byDim.set("dims", std::vector<int64_t>{0, 2});
  checkGradRule(OpKind::Broadcast, {randomTensor({DType::F64, {2, 1}}, 43)}, byDim);
  checkGradRule(OpKind::Broadcast, {randomTensor({DType::F64, {}}, 44)}, ints("shape", {3, 2}));
}

TEST(LayoutOps, SecondDerivativesMatchFiniteDifferences) {
  // loss = <probe, d/dx sum(probe0 * (T(x) * T(x)) broadcast)>: layout grads inside a second derivative.
  test::GradCheckOptions opt;
  opt.wrt = {"x"};
  test::expectGradCheck(
      [](Graph &g) {
        Value x = g.addInput("x", {DType::F32, {2, 3}});
        Value t = g.build(OpKind::Transpose, {x}, ints("perm", {1, 0}));
        Value r = g.build(OpKind::Reshape, {g.build(OpKind::Mul, {t, t})}, ints("shape", {3, 2, 1}));
        Value b = g.build(OpKind::Broadcast, {r}, ints("shape", {3, 2, 4}));
        Value dx = grad(g, test::probeLoss(g, b), std::vector<Value>{x})[0];
        return test::probeLoss(g, dx);
      },
      opt);
}

} // namespace
} // namespace kiln
