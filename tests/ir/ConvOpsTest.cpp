// tests/ir/ConvOpsTest.cpp - conv2d and its gradient ops: hand values, a naive oracle
// on explicitly padded input, adjoint identities, finite differences, errors.
#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using test::checkGradRule;
using test::dot;
using test::evalOp;
using test::randomTensor;
using test::tensorOf;
using test::userErrorOf;

AttrMap convAttrs(std::vector<int64_t> stride, Attr padding) {
  AttrMap a;
  a.set("stride", std::move(stride));
  a.set("padding", std::move(padding));
  return a;
}

AttrMap withShape(AttrMap a, std::string_view name, Shape s) {
  a.set(name, std::move(s));
  return a;
}

/// Oracle: copies x into an explicitly zero-padded buffer (pads given by
/// hand), then sums with the batch/channel/tap loops outermost.
HostTensor naiveConv(const HostTensor &x, const HostTensor &w, int64_t sh, int64_t sw, int64_t top,
                     int64_t left, int64_t bottom, int64_t right) {
  int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  int64_t o = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  int64_t hp = h + top + bottom, wp = wd + left + right;
  std::vector<double> xp(n * c * hp * wp, 0.0);
  for (int64_t i = 0; i < n * c; ++i)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t q = 0; q < wd; ++q)
        xp[(i * hp + r + top) * wp + q + left] = x.at((i * h + r) * wd + q);
  int64_t oh = (hp - kh) / sh + 1, ow = (wp - kw) / sw + 1;
  std::vector<double> y(n * o * oh * ow, 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t a = 0; a < kh; ++a)
        for (int64_t e = 0; e < kw; ++e)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j)
              for (int64_t oc = 0; oc < o; ++oc)
                y[((b * o + oc) * oh + i) * ow + j] +=
                    xp[((b * c + ci) * hp + i * sh + a) * wp + j * sw + e] *
                    w.at(((oc * c + ci) * kh + a) * kw + e);
  return tensorOf(TensorType{DType::F64, {n, o, oh, ow}}, y);
}

TEST(ConvOps, HandComputedValid) {
  HostTensor x = tensorOf({DType::F32, {1, 1, 3, 3}}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  HostTensor w = tensorOf({DType::F32, {1, 1, 2, 2}}, {1, 0, 0, 1});
  HostTensor y = evalOp(OpKind::Conv2d, {x, w});
  ASSERT_EQ(typeString(y.type()), "f32[1,1,2,2]");
  std::vector<double> expected{6, 8, 12, 14};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(y.at(i), expected[i]) << i;
}

TEST(ConvOps, HandComputedSameNeighbourSums) {
  HostTensor x = tensorOf({DType::F64, {1, 1, 3, 3}}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  HostTensor w = tensorOf({DType::F64, {1, 1, 3, 3}}, std::vector<double>(9, 1.0));
  HostTensor y = evalOp(OpKind::Conv2d, {x, w}, convAttrs({1, 1}, std::string("same")));
  ASSERT_EQ(typeString(y.type()), "f64[1,1,3,3]");
  std::vector<double> expected{12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(y.at(i), expected[i]) << i;
}

struct ConvCase {
  Shape x, w;
  std::vector<int64_t> stride;
  Attr padding;
  int64_t top, left, bottom, right; // the padding, worked out by hand
  Shape y;                          // the output shape, worked out by hand
};

std::vector<ConvCase> convCases() {
  return {
      // "same", stride 2, odd height: out 3x2, H total 2 -> 1/1, W total 0.
      {{1, 2, 5, 4}, {3, 2, 3, 2}, {2, 2}, std::string("same"), 1, 0, 1, 0, {1, 3, 3, 2}},
      // "same", stride 1, even kernel: H total 3 -> 1/2, W total 2 -> 1/1.
      {{1, 1, 6, 5}, {2, 1, 4, 3}, {1, 1}, std::string("same"), 1, 1, 2, 1, {1, 2, 6, 5}},
      // explicit padding, stride [1,2], batch 2: 7x6 padded -> 6x2.
      {{2, 3, 4, 5}, {2, 3, 2, 3}, {1, 2}, std::vector<int64_t>{1, 0, 2, 1}, 1, 0, 2, 1, {2, 2, 6, 2}},
      // valid, stride [3,2]: rows 2 and 5 are never read.
      {{1, 2, 6, 7}, {1, 2, 2, 3}, {3, 2}, std::string("valid"), 0, 0, 0, 0, {1, 1, 2, 3}},
  };
}

TEST(ConvOps, MatchesNaiveOracle) {
  uint32_t seed = 10;
  for (const ConvCase &c : convCases()) {
    HostTensor x = randomTensor({DType::F64, c.x}, seed++), w = randomTensor({DType::F64, c.w}, seed++);
    HostTensor y = evalOp(OpKind::Conv2d, {x, w}, convAttrs(c.stride, c.padding));
    EXPECT_EQ(y.shape(), c.y) << shapeString(c.x);
    HostTensor ref = naiveConv(x, w, c.stride[0], c.stride[1], c.top, c.left, c.bottom, c.right);
    EXPECT_LT(maxRelativeDifference(y, ref), 1e-13) << shapeString(c.x);
    // The float32 path agrees to float32 precision.
    HostTensor y32 = evalOp(OpKind::Conv2d, {x.cast(DType::F32), w.cast(DType::F32)},
                            convAttrs(c.stride, c.padding));
    EXPECT_LT(maxRelativeDifference(y32.cast(DType::F64), ref), 1e-5);
  }
}

TEST(ConvOps, GradientOpsAreAdjointOfConv) {
  uint32_t seed = 30;
  for (const ConvCase &c : convCases()) {
    AttrMap attrs = convAttrs(c.stride, c.padding);
    HostTensor x = randomTensor({DType::F64, c.x}, seed++), w = randomTensor({DType::F64, c.w}, seed++);
    HostTensor dy = randomTensor({DType::F64, c.y}, seed++);
    HostTensor y = evalOp(OpKind::Conv2d, {x, w}, attrs);
    HostTensor dx = evalOp(OpKind::Conv2dInputGrad, {dy, w}, withShape(attrs, "input_shape", c.x));
    HostTensor dw = evalOp(OpKind::Conv2dFilterGrad, {x, dy}, withShape(attrs, "filter_shape", c.w));
    double ref = dot(y, dy);
    EXPECT_NEAR(dot(x, dx), ref, 1e-12 * std::max(1.0, std::abs(ref))) << shapeString(c.x);
    EXPECT_NEAR(dot(w, dw), ref, 1e-12 * std::max(1.0, std::abs(ref))) << shapeString(c.x);
  }
}

TEST(ConvOps, UncoveredInputGetsZeroGradient) {
  // One 2x2 window (stride 3 over 4x4): rows and columns 2 and 3 are never read.
  AttrMap attrs = withShape(convAttrs({3, 3}, std::string("valid")), "input_shape", {1, 1, 4, 4});
  HostTensor dy = tensorOf({DType::F64, {1, 1, 1, 1}}, {1.0});
  HostTensor w = tensorOf({DType::F64, {1, 1, 2, 2}}, {1, 2, 3, 4});
  HostTensor dx = evalOp(OpKind::Conv2dInputGrad, {dy, w}, attrs);
  std::vector<double> expected{1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(dx.at(i), expected[i]) << i;
}

TEST(ConvOps, GradRuleMatchesFiniteDifferences) {
  uint32_t seed = 50;
  for (const ConvCase &c : convCases()) {
    SCOPED_TRACE(shapeString(c.x));
    checkGradRule(OpKind::Conv2d, {randomTensor({DType::F64, c.x}, seed), randomTensor({DType::F64, c.w}, seed + 1)},
                  convAttrs(c.stride, c.padding));
    seed += 2;
  }
}

TEST(ConvOps, SecondOrderRulesMatchFiniteDifferences) {
  uint32_t seed = 70;
  for (const ConvCase &c : convCases()) {
    SCOPED_TRACE(shapeString(c.x));
    AttrMap attrs = convAttrs(c.stride, c.padding);
    HostTensor x = randomTensor({DType::F64, c.x}, seed++), w = randomTensor({DType::F64, c.w}, seed++);
    HostTensor dy = randomTensor({DType::F64, c.y}, seed++);
    checkGradRule(OpKind::Conv2dInputGrad, {dy, w}, withShape(attrs, "input_shape", c.x));
    checkGradRule(OpKind::Conv2dFilterGrad, {x, dy}, withShape(attrs, "filter_shape", c.w));
  }
}

TEST(ConvOps, ShapeErrors) {
  auto err = [](OpKind k, Shape a, Shape b, AttrMap attrs = {}) {
    return userErrorOf([&] { test::inferOp(k, {{DType::F32, a}, {DType::F32, b}}, attrs); });
  };
  auto has = [](const std::string &msg, const char *part) {
    return msg.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 3, 5, 5}, {1, 1, 3, 3}),
                  "conv2d: input has 3 channels, weight expects 1"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 2, 2}, {1, 1, 3, 3}), "conv2d: window 3x3 does not fit"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 5, 5}, {1, 1, 3, 3}), "4-D"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 5, 5}, {1, 1, 3, 3}, convAttrs({1, 1}, std::string("full"))),
                  "padding must be"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 5, 5}, {1, 1, 3, 3}, convAttrs({1, 1}, std::vector<int64_t>{1, 1, 1})),
                  "4 values"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 5, 5}, {1, 1, 3, 3}, convAttrs({1, 1}, std::vector<int64_t>{1, -1, 1, 1})),
                  "negative"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 5, 5}, {1, 1, 3, 3}, convAttrs({0, 1}, std::string("valid"))),
                  "stride must be positive"));
  EXPECT_TRUE(has(err(OpKind::Conv2d, {1, 1, 5, 5}, {1, 1, 3, 3}, convAttrs({1}, std::string("valid"))),
                  "stride needs 2 values"));
  AttrMap ig = withShape(convAttrs({1, 1}, std::string("valid")), "input_shape", {1, 1, 5, 5});
  EXPECT_TRUE(has(err(OpKind::Conv2dInputGrad, {1, 1, 4, 4}, {1, 1, 3, 3}, ig),
                  "conv2d_input_grad: output gradient is f32[1,1,4,4]"));
  AttrMap fg = withShape(convAttrs({1, 1}, std::string("valid")), "filter_shape", {1, 1, 3});
  EXPECT_TRUE(has(err(OpKind::Conv2dFilterGrad, {1, 1, 5, 5}, {1, 1, 3, 3}, fg),
                  "conv2d_filter_grad: filter_shape needs 4 values"));
}

TEST(ConvUtil, SamePaddingFollowsTheFormula) {
  // out = ceil(in/stride), total = max((out-1)*stride + k - in, 0), top = total/2.
  Window2d g = windowGeometry("t", 28, 27, 5, 4, std::vector<int64_t>{2, 3}, Attr(std::string("same")));
  EXPECT_EQ(g.outH, 14); // total = 13*2 + 5 - 28 = 3
  EXPECT_EQ(g.pad.top, 1);
  EXPECT_EQ(g.pad.bottom, 2);
  EXPECT_EQ(g.outW, 9); // total = 8*3 + 4 - 27 = 1
  EXPECT_EQ(g.pad.left, 0);
  EXPECT_EQ(g.pad.right, 1);
  Window2d big = windowGeometry("t", 5, 5, 1, 1, std::vector<int64_t>{3, 3}, Attr(std::string("same")));
  EXPECT_EQ(big.outH, 2); // total = max(3 + 1 - 5, 0) = 0
  EXPECT_EQ(big.pad.top + big.pad.bottom, 0);
}

} // namespace
} // namespace kiln
