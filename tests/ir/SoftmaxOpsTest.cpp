// tests/ir/SoftmaxOpsTest.cpp - softmax, log_softmax, cross-entropy and one_hot: hand
// values, stability, label errors, shape errors, gradient rules vs finite differences.
#include "ir/Error.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

using test::checkGradRule;
using test::evalOp;
using test::randomTensor;
using test::tensorOf;
using test::userErrorOf;

AttrMap axisAttr(int64_t axis) {
  AttrMap a;
  a.set("axis", axis);
  return a;
}

// softmax([1,2,3]) and its log, computed separately in double.
const double kSoft123[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
const double kLogSoft123[] = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};

TEST(SoftmaxOps, HandValuesAndStability) {
  for (double shift : {0.0, 1000.0}) {
    HostTensor x = tensorOf({DType::F64, {1, 3}}, {1 + shift, 2 + shift, 3 + shift});
    HostTensor y = evalOp(OpKind::Softmax, {x});
    HostTensor ly = evalOp(OpKind::LogSoftmax, {x});
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(y.at(i), kSoft123[i], 1e-15) << "shift " << shift;
      EXPECT_NEAR(ly.at(i), kLogSoft123[i], 1e-13) << "shift " << shift;
    }
  }
  HostTensor x32 = tensorOf({DType::F32, {3}}, {-500, -501, -499});
  HostTensor y32 = evalOp(OpKind::Softmax, {x32});
  EXPECT_EQ(y32.dtype(), DType::F32);
  EXPECT_NEAR(y32.at(2), kSoft123[2], 1e-7);
}

TEST(SoftmaxOps, RowsSumToOneAlongAnyAxis) {
  HostTensor x = randomTensor({DType::F64, {2, 5, 3}}, 1, -3, 3);
  for (int64_t axis : {0, 1, 2, -1, -2}) {
    HostTensor y = evalOp(OpKind::Softmax, {x}, axisAttr(axis));
    HostTensor ly = evalOp(OpKind::LogSoftmax, {x}, axisAttr(axis));
    int64_t a = axis < 0 ? axis + 3 : axis;
    Shape s = x.shape();
    std::vector<int64_t> strides{15, 3, 1};
    // Oracle: exp(x) / sum(exp(x)) over each line along the axis (no max shift needed here).
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t start = i - ((i / strides[a]) % s[a]) * strides[a];
      double sum = 0, ysum = 0;
      for (int64_t k = 0; k < s[a]; ++k) {
        sum += std::exp(x.at(start + k * strides[a]));
        ysum += y.at(start + k * strides[a]);
      }
      EXPECT_NEAR(ysum, 1.0, 1e-14);
      EXPECT_NEAR(y.at(i), std::exp(x.at(i)) / sum, 1e-15) << "axis " << axis;
      EXPECT_NEAR(ly.at(i), x.at(i) - std::log(sum), 1e-14) << "axis " << axis;
    }
  }
}

TEST(SoftmaxOps, CrossEntropyHandValue) {
  HostTensor logits = tensorOf({DType::F32, {2, 3}}, {1, 2, 3, 1, 1, 1});
  HostTensor labels = tensorOf({DType::I32, {2}}, {2, 0});
  HostTensor loss = evalOp(OpKind::SoftmaxCrossEntropy, {logits, labels});
  EXPECT_EQ(typeString(loss.type()), "f32[]");
  // (-log(0.66524096) + log(3)) / 2
  EXPECT_NEAR(loss.at(0), (0.4076059644443806 + 1.0986122886681098) / 2, 1e-7);
}

TEST(SoftmaxOps, CrossEntropyGradHandValue) {
  HostTensor logits = tensorOf({DType::F64, {2, 3}}, {1, 2, 3, 1, 1, 1});
  HostTensor labels = tensorOf({DType::I64, {2}}, {2, 0});
  HostTensor dloss = HostTensor::scalar(DType::F64, 2.0); // dloss / N = 1
  HostTensor g = evalOp(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, dloss});
  std::vector<double> expected{kSoft123[0], kSoft123[1], kSoft123[2] - 1, 1.0 / 3 - 1, 1.0 / 3, 1.0 / 3};
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(g.at(i), expected[i], 1e-15) << i;
}

TEST(SoftmaxOps, LabelOutOfRangeIsRuntimeError) {
  HostTensor logits = randomTensor({DType::F32, {3, 4}}, 2);
  for (double bad : {4.0, -1.0}) {
    HostTensor labels = tensorOf({DType::I32, {3}}, {0, bad, 1});
    try {
      evalOp(OpKind::SoftmaxCrossEntropy, {logits, labels});
      ADD_FAILURE() << "no error for label " << bad;
    } catch (const RuntimeError &e) {
      std::string expected = "softmax_cross_entropy: label " + std::to_string(int(bad)) + " of row 1";
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
    EXPECT_THROW(evalOp(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, HostTensor::scalar(DType::F32, 1)}),
                 RuntimeError);
  }
}

TEST(SoftmaxOps, OneHot) {
  AttrMap attrs;
  attrs.set("depth", int64_t{3});
  attrs.set("dtype", std::string("f64"));
  HostTensor y = evalOp(OpKind::OneHot, {tensorOf({DType::I32, {3}}, {2, 0, 5})}, attrs);
  EXPECT_EQ(typeString(y.type()), "f64[3,3]");
  std::vector<double> expected{0, 0, 1, 1, 0, 0, 0, 0, 0};
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(y.at(i), expected[i]) << i;
}

TEST(SoftmaxOps, ShapeErrors) {
  auto err = [](OpKind k, std::vector<TensorType> in, AttrMap attrs = {}) {
    return userErrorOf([&] { test::inferOp(k, in, attrs); });
  };
  auto has = [](const std::string &msg, const char *part) {
    return msg.find(part) != std::string::npos;
  };
  TensorType logits{DType::F32, {4, 10}};
  EXPECT_TRUE(has(err(OpKind::SoftmaxCrossEntropy, {logits, {DType::I32, {3}}}),
                  "softmax_cross_entropy: labels i32[3] do not match logits f32[4,10]"));
  EXPECT_TRUE(has(err(OpKind::SoftmaxCrossEntropy, {logits, {DType::F32, {4}}}), "1-D integers"));
  EXPECT_TRUE(has(err(OpKind::SoftmaxCrossEntropy, {{DType::F32, {10}}, {DType::I32, {4}}}), "f32[N,C]"));
  EXPECT_TRUE(has(err(OpKind::SoftmaxCrossEntropyGrad, {logits, {DType::I32, {4}}, {DType::F32, {1}}}),
                  "loss gradient must be f32[]"));
  EXPECT_TRUE(has(err(OpKind::Softmax, {logits}, axisAttr(2)), "softmax: axis 2 out of range for rank 2"));
  EXPECT_TRUE(has(err(OpKind::LogSoftmax, {{DType::I32, {4}}}), "f32 or f64"));
  AttrMap oh;
  oh.set("depth", int64_t{0});
  EXPECT_TRUE(has(err(OpKind::OneHot, {{DType::I32, {4}}}, oh), "depth must be positive"));
}

TEST(SoftmaxOps, GradRulesMatchFiniteDifferences) {
  HostTensor x = randomTensor({DType::F64, {3, 4}}, 3, -2, 2);
  HostTensor x3 = randomTensor({DType::F64, {2, 3, 4}}, 4, -2, 2);
  checkGradRule(OpKind::Softmax, {x});
  checkGradRule(OpKind::Softmax, {x3}, axisAttr(1));
  checkGradRule(OpKind::LogSoftmax, {x});
  checkGradRule(OpKind::LogSoftmax, {x3}, axisAttr(0));
  HostTensor labels = tensorOf({DType::I32, {3}}, {1, 3, 0});
  checkGradRule(OpKind::SoftmaxCrossEntropy, {x, labels});
  checkGradRule(OpKind::SoftmaxCrossEntropyGrad, {x, labels, HostTensor::scalar(DType::F64, 0.7)});
}

} // namespace
} // namespace kiln
