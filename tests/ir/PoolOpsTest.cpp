// tests/ir/PoolOpsTest.cpp - max and average pooling and their gradients: hand values,
// padding that never wins, tie routing, a naive oracle, adjointness, finite differences.
#include "ir/Error.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

using test::checkGradRule;
using test::dot;
using test::evalOp;
using test::randomTensor;
using test::tensorOf;
using test::userErrorOf;

AttrMap poolAttrs(std::vector<int64_t> kernel, std::vector<int64_t> stride, Attr padding) {
  AttrMap a;
  a.set("kernel", std::move(kernel));
  a.set("stride", std::move(stride));
  a.set("padding", std::move(padding));
  return a;
}

void expectValues(const HostTensor &t, std::vector<double> expected) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_DOUBLE_EQ(t.at(static_cast<int64_t>(i)), expected[i]) << "element " << i;
}

TEST(PoolOps, MaxPoolHandValues) {
  HostTensor x = tensorOf({DType::F32, {1, 1, 4, 4}},
                          {1, 5, 2, 0, 3, 4, 8, 7, -1, -2, 6, 9, -3, 0, 9, 1});
  HostTensor y = evalOp(OpKind::MaxPool2d, {x});
  EXPECT_EQ(typeString(y.type()), "f32[1,1,2,2]");
  expectValues(y, {5, 8, 0, 9});
}

TEST(PoolOps, MaxPoolPaddingNeverWins) {
  // "same" 2x2 stride 2 over 3x3 pads one row below and one column right;
  // all inputs are negative, so a padded zero would win if it counted.
  HostTensor x = tensorOf({DType::F64, {1, 1, 3, 3}}, {-1, -2, -3, -4, -5, -6, -7, -8, -9});
  HostTensor y = evalOp(OpKind::MaxPool2d, {x}, poolAttrs({2, 2}, {}, std::string("same")));
  EXPECT_EQ(typeString(y.type()), "f64[1,1,2,2]");
  expectValues(y, {-1, -3, -7, -9});
}

TEST(PoolOps, AvgPoolCountsOnlyRealElements) {
  HostTensor x = tensorOf({DType::F64, {1, 1, 3, 3}}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expectValues(evalOp(OpKind::AvgPool2d, {x}, poolAttrs({2, 2}, {}, std::string("same"))),
               {3, 4.5, 7.5, 9});
  // 3x3 windows with one pad all around: means of the neighbourhoods.
  HostTensor y = evalOp(OpKind::AvgPool2d, {x}, poolAttrs({3, 3}, {1, 1}, std::vector<int64_t>{1, 1, 1, 1}));
  expectValues(y, {12.0 / 4, 21.0 / 6, 16.0 / 4, 27.0 / 6, 5, 33.0 / 6, 24.0 / 4, 39.0 / 6, 28.0 / 4});
}

TEST(PoolOps, NanPropagatesAndTheGradientSkipsIt) {
  // A window holding a NaN outputs NaN (as in PyTorch); its gradient goes to
  // the first maximal element by comparisons false for NaN: the first element
  // unless a later number is larger.
  HostTensor x = tensorOf({DType::F32, {1, 1, 2, 6}}, {1, NAN, 5, NAN, NAN, 2, 3, 2, NAN, 9, 1, 0});
  HostTensor y = evalOp(OpKind::MaxPool2d, {x});
  ASSERT_EQ(y.numel(), 3);
  EXPECT_TRUE(std::isnan(y.at(0)));
  EXPECT_TRUE(std::isnan(y.at(1)));
  EXPECT_TRUE(std::isnan(y.at(2)));
  HostTensor dy = tensorOf({DType::F32, {1, 1, 1, 3}}, {10, 20, 30});
  AttrMap a;
  a.set("kernel", std::vector<int64_t>{2, 2});
  expectValues(evalOp(OpKind::MaxPool2dGrad, {dy, x}, a), {0, 0, 0, 0, 30, 0, 10, 0, 0, 20, 0, 0});
}

TEST(PoolOps, MaxPoolGradRoutesToFirstMaximum) {
  HostTensor dy = tensorOf({DType::F64, {1, 1, 1, 1}}, {5});
  HostTensor equal = tensorOf({DType::F64, {1, 1, 2, 2}}, {3, 3, 3, 3});
  expectValues(evalOp(OpKind::MaxPool2dGrad, {dy, equal}), {5, 0, 0, 0});
  HostTensor tie = tensorOf({DType::F64, {1, 1, 2, 2}}, {3, 5, 5, 1});
  expectValues(evalOp(OpKind::MaxPool2dGrad, {dy, tie}), {0, 5, 0, 0});
  // Overlapping windows (stride 1) both pick (0,1) and their gradients add up.
  HostTensor x = tensorOf({DType::F32, {1, 1, 2, 3}}, {1, 4, 2, 0, 4, 3});
  HostTensor dy2 = tensorOf({DType::F32, {1, 1, 1, 2}}, {1, 10});
  expectValues(evalOp(OpKind::MaxPool2dGrad, {dy2, x}, poolAttrs({2, 2}, {1, 1}, std::string("valid"))),
               {0, 11, 0, 0, 0, 0});
}

/// Oracle: explicit padded copies (-inf for max, a 0/1 mask for the count),
/// then plain window loops. Pads and strides given by hand.
void naivePool(const HostTensor &x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t top,
               int64_t left, int64_t bottom, int64_t right, HostTensor &mx, HostTensor &avg) {
  int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  int64_t hp = h + top + bottom, wp = w + left + right;
  int64_t oh = (hp - kh) / sh + 1, ow = (wp - kw) / sw + 1;
  std::vector<double> xp(planes * hp * wp, -INFINITY), mask(planes * hp * wp, 0.0);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t c = 0; c < w; ++c) {
        xp[(p * hp + r + top) * wp + c + left] = x.at((p * h + r) * w + c);
        mask[(p * hp + r + top) * wp + c + left] = 1.0;
      }
  Shape ys{x.shape()[0], x.shape()[1], oh, ow};
  mx = HostTensor({DType::F64, ys});
  avg = HostTensor({DType::F64, ys});
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double best = -INFINITY, sum = 0, count = 0;
        for (int64_t a = 0; a < kh; ++a)
          for (int64_t b = 0; b < kw; ++b) {
            int64_t k = (p * hp + i * sh + a) * wp + j * sw + b;
            best = std::max(best, xp[k]);
            if (mask[k] == 0.0)
              continue;
            sum += xp[k];
            count += 1;
          }
        mx.set((p * oh + i) * ow + j, best);
        avg.set((p * oh + i) * ow + j, sum / count);
      }
}

TEST(PoolOps, MatchNaiveOracle) {
  HostTensor x = randomTensor({DType::F64, {2, 3, 5, 7}}, 1);
  HostTensor mx, avg;
  AttrMap attrs = poolAttrs({3, 2}, {2, 3}, std::vector<int64_t>{1, 0, 2, 1});
  naivePool(x, 3, 2, 2, 3, 1, 0, 2, 1, mx, avg);
  EXPECT_EQ(shapeString(mx.shape()), "[2,3,3,3]");
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::MaxPool2d, {x}, attrs), mx), 1e-15);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::AvgPool2d, {x}, attrs), avg), 1e-14);
  // Default stride = kernel, valid padding.
  naivePool(x, 2, 3, 2, 3, 0, 0, 0, 0, mx, avg);
  AttrMap dflt = poolAttrs({2, 3}, {}, std::string("valid"));
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::MaxPool2d, {x}, dflt), mx), 1e-15);
  EXPECT_LT(maxRelativeDifference(evalOp(OpKind::AvgPool2d, {x}, dflt), avg), 1e-14);
}

TEST(PoolOps, AvgPoolGradIsAdjoint) {
  HostTensor x = randomTensor({DType::F64, {1, 2, 5, 6}}, 2);
  AttrMap attrs = poolAttrs({3, 2}, {2, 1}, std::string("same"));
  HostTensor y = evalOp(OpKind::AvgPool2d, {x}, attrs);
  HostTensor dy = randomTensor(y.type(), 3);
  attrs.set("input_shape", x.shape());
  HostTensor dx = evalOp(OpKind::AvgPool2dGrad, {dy}, attrs);
  EXPECT_NEAR(dot(x, dx), dot(y, dy), 1e-12);
}

TEST(PoolOps, GradRulesMatchFiniteDifferences) {
  HostTensor x = randomTensor({DType::F64, {2, 2, 5, 4}}, 4);
  for (AttrMap attrs : {poolAttrs({2, 2}, {}, std::string("valid")),
                        poolAttrs({3, 2}, {2, 1}, std::string("same")),
                        poolAttrs({2, 3}, {1, 2}, std::vector<int64_t>{1, 0, 0, 2})}) {
    SCOPED_TRACE(attrString(attrs.get("kernel")));
    checkGradRule(OpKind::MaxPool2d, {x}, attrs);
    checkGradRule(OpKind::AvgPool2d, {x}, attrs);
    AttrMap gradAttrs = attrs;
    gradAttrs.set("input_shape", x.shape());
    Shape ys = test::inferOp(OpKind::AvgPool2d, {x.type()}, attrs)[0].shape;
    checkGradRule(OpKind::AvgPool2dGrad, {randomTensor({DType::F64, ys}, 5)}, gradAttrs);
  }
}

TEST(PoolOps, Errors) {
  auto err = [](OpKind k, std::vector<TensorType> in, AttrMap attrs = {}) {
    return userErrorOf([&] { test::inferOp(k, in, attrs); });
  };
  auto has = [](const std::string &msg, const char *part) {
    return msg.find(part) != std::string::npos;
  };
  TensorType x{DType::F32, {1, 2, 4, 4}};
  EXPECT_TRUE(has(err(OpKind::MaxPool2d, {x}, poolAttrs({2, 2}, {}, std::vector<int64_t>{2, 0, 0, 0})),
                  "max_pool2d: padding [2,0,0,0] must be smaller than the 2x2 kernel"));
  EXPECT_TRUE(has(err(OpKind::MaxPool2d, {{DType::F32, {2, 4, 4}}}), "4-D"));
  EXPECT_TRUE(has(err(OpKind::AvgPool2d, {x}, poolAttrs({2}, {}, std::string("valid"))), "kernel needs 2"));
  EXPECT_TRUE(has(err(OpKind::MaxPool2d, {x}, poolAttrs({5, 5}, {}, std::string("valid"))), "does not fit"));
  EXPECT_TRUE(has(err(OpKind::MaxPool2dGrad, {{DType::F32, {1, 2, 3, 2}}, x}),
                  "max_pool2d_grad: output gradient is f32[1,2,3,2]"));
  AttrMap ag = poolAttrs({2, 2}, {}, std::string("valid"));
  ag.set("input_shape", std::vector<int64_t>{1, 2, 4});
  EXPECT_TRUE(has(err(OpKind::AvgPool2dGrad, {{DType::F32, {1, 2, 2, 2}}}, ag), "input_shape needs 4"));
}

} // namespace
} // namespace kiln
