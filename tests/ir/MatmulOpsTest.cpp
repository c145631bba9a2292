// tests/ir/MatmulOpsTest.cpp - matmul: hand values, a naive oracle, type errors, gradient rule.
#include "ir/Error.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using test::checkGradRule;
using test::evalOp;
using test::randomTensor;
using test::tensorOf;
using test::userErrorOf;

AttrMap transposes(bool ta, bool tb) {
  AttrMap a;
  a.set("transpose_a", ta);
  a.set("transpose_b", tb);
  return a;
}

/// Explicit transpose of a 2-D tensor, element by element.
HostTensor transposed(const HostTensor &t) {
  int64_t r = t.shape()[0], c = t.shape()[1];
  HostTensor out(TensorType{t.dtype(), {c, r}});
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      out.set(j * r + i, t.at(i * c + j));
  return out;
}

/// Oracle: c[i][j] = sum_p a[i][p] b[p][j], summed over p in the outer loop.
HostTensor naiveProduct(const HostTensor &a, const HostTensor &b) {
  int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  std::vector<double> c(m * n, 0.0);
  for (int64_t p = 0; p < k; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * n + j] += a.at(i * k + p) * b.at(p * n + j);
  return tensorOf(TensorType{DType::F64, {m, n}}, c);
}

TEST(MatmulOps, HandComputedProduct) {
  HostTensor a = tensorOf({DType::F32, {2, 3}}, {1, 2, 3, 4, 5, 6});
  HostTensor b = tensorOf({DType::F32, {3, 2}}, {7, 8, 9, 10, 11, 12});
  HostTensor c = evalOp(OpKind::Matmul, {a, b});
  EXPECT_EQ(typeString(c.type()), "f32[2,2]");
  EXPECT_EQ(c.at(0), 58);
  EXPECT_EQ(c.at(1), 64);
  EXPECT_EQ(c.at(2), 139);
  EXPECT_EQ(c.at(3), 154);
}

TEST(MatmulOps, TransposesMatchNaiveOracle) {
  HostTensor a = randomTensor({DType::F64, {3, 5}}, 1);
  HostTensor b = randomTensor({DType::F64, {5, 4}}, 2);
  HostTensor expected = naiveProduct(a, b);
  HostTensor at = transposed(a), bt = transposed(b);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::Matmul, {a, b}), expected), 1e-14);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::Matmul, {at, b}, transposes(true, false)), expected), 1e-14);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::Matmul, {a, bt}, transposes(false, true)), expected), 1e-14);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::Matmul, {at, bt}, transposes(true, true)), expected), 1e-14);
}

TEST(MatmulOps, Float32MatchesFloat64Oracle) {
  HostTensor a = randomTensor({DType::F32, {7, 9}}, 3);
  HostTensor b = randomTensor({DType::F32, {9, 1}}, 4);
  HostTensor c = evalOp(OpKind::Matmul, {a, b});
  EXPECT_EQ(c.dtype(), DType::F32);
  EXPECT_LT(maxRelativeDifference(c.cast(DType::F64), naiveProduct(a.cast(DType::F64), b.cast(DType::F64))), 1e-6);
}

TEST(MatmulOps, ShapeErrors) {
  auto infer = [](TensorType a, TensorType b, AttrMap attrs = {}) {
    return userErrorOf([&] { test::inferOp(OpKind::Matmul, {a, b}, attrs); });
  };
  EXPECT_NE(infer({DType::F32, {2, 3}}, {DType::F32, {4, 5}})
                .find("matmul: inner dimensions differ: f32[2,3] x f32[4,5]"),
            std::string::npos);
  EXPECT_NE(infer({DType::F32, {3, 2}}, {DType::F32, {3, 5}}, transposes(false, false)).find("inner"),
            std::string::npos);
  EXPECT_NE(infer({DType::F32, {2, 3, 4}}, {DType::F32, {4, 5}}).find("2-D"), std::string::npos);
  EXPECT_NE(infer({DType::F32, {2, 3}}, {DType::F64, {3, 5}}).find("dtypes differ"), std::string::npos);
  EXPECT_NE(infer({DType::I32, {2, 3}}, {DType::I32, {3, 5}}).find("f32 or f64"), std::string::npos);
  // With transpose_a the same operands fit: [3,2]^T x [3,5] -> [2,5].
  EXPECT_EQ(typeString(test::inferOp(OpKind::Matmul, {{DType::F32, {3, 2}}, {DType::F32, {3, 5}}},
                                     transposes(true, false))[0]),
            "f32[2,5]");
}

class MatmulGrad : public ::testing::TestWithParam<std::pair<bool, bool>> {};

TEST_P(MatmulGrad, MatchesFiniteDifferences) {
  auto [ta, tb] = GetParam();
  Shape as = ta ? Shape{4, 3} : Shape{3, 4};
  Shape bs = tb ? Shape{5, 4} : Shape{4, 5};
  checkGradRule(OpKind::Matmul, {randomTensor({DType::F64, as}, 5), randomTensor({DType::F64, bs}, 6)},
                transposes(ta, tb));
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, MatmulGrad,
                         ::testing::Values(std::pair{false, false}, std::pair{true, false},
                                           std::pair{false, true}, std::pair{true, true}));

} // namespace
} // namespace kiln
