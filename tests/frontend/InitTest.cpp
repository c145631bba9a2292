// tests/frontend/InitTest.cpp - initializer statistics, fans and reproducibility.
#include "frontend/Init.h"
#include "ir/Error.h"
#include "frontend/Model.h"
#include "examples/mnist/Models.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

struct Stats {
  double mean = 0, var = 0, minV = 1e30, maxV = -1e30;
};
Stats statsOf(const HostTensor &t) {
  Stats s;
  int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    double v = t.at(i);
    s.mean += v;
    s.minV = std::min(s.minV, v);
    s.maxV = std::max(s.maxV, v);
  }
  s.mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    s.var += (t.at(i) - s.mean) * (t.at(i) - s.mean);
  s.var /= static_cast<double>(n);
  return s;
}

TEST(Init, FansFollowKeras) {
  Fans dense = computeFans({1600, 512});
  EXPECT_EQ(dense.in, 1600);
  EXPECT_EQ(dense.out, 512);
  Fans conv = computeFans({64, 32, 3, 3}); // OIHW
  EXPECT_EQ(conv.in, 32 * 9);
  EXPECT_EQ(conv.out, 64 * 9);
  Fans bias = computeFans({10});
  EXPECT_EQ(bias.in, 10);
  EXPECT_EQ(bias.out, 10);
}

TEST(Init, GlorotUniformBoundsAndMoments) {
  Shape s{300, 200};
  HostTensor t = glorotUniform(s, 42);
  EXPECT_EQ(t.dtype(), DType::F32);
  double limit = std::sqrt(6.0 / (300 + 200));
  Stats st = statsOf(t);
  EXPECT_GE(st.minV, -limit);
  EXPECT_LE(st.maxV, limit);
  // 60,000 draws of U(-l,l): mean 0 (sd l/sqrt(3n) ~ 0.00049), variance l^2/3.
  EXPECT_NEAR(st.mean, 0.0, 0.003);
  EXPECT_NEAR(st.var, limit * limit / 3.0, 0.02 * limit * limit / 3.0);
  // The extremes come close to the bound.
  EXPECT_GT(st.maxV, 0.99 * limit);
  EXPECT_LT(st.minV, -0.99 * limit);
}

TEST(Init, GlorotUniformConvUsesReceptiveField) {
  HostTensor t = glorotUniform({32, 1, 5, 5}, 7);
  double limit = std::sqrt(6.0 / (25 + 800));
  Stats st = statsOf(t);
  EXPECT_LE(st.maxV, limit);
  EXPECT_GT(st.maxV, 0.9 * limit);
}

TEST(Init, HeNormalIsTruncatedWithVarianceTwoOverFanIn) {
  HostTensor t = heNormal({400, 100}, 3);
  double sd = std::sqrt(2.0 / 400.0);
  Stats st = statsOf(t);
  EXPECT_NEAR(st.mean, 0.0, 0.1 * sd);
  EXPECT_NEAR(std::sqrt(st.var), sd, 0.03 * sd);
  double cut = 2.0 * sd / 0.87962566103423978;
  EXPECT_LE(st.maxV, cut + 1e-7);
  EXPECT_GE(st.minV, -cut - 1e-7);
}

TEST(Init, ReproducibleWithSeedDifferentAcrossSeeds) {
  HostTensor a = glorotUniform({20, 30}, 5), b = glorotUniform({20, 30}, 5), c = glorotUniform({20, 30}, 6);
  int same = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_EQ(a.at(i), b.at(i));
    same += a.at(i) == c.at(i);
  }
  EXPECT_EQ(same, 0);
}

TEST(Init, ZerosAndConstants) {
  HostTensor z = initialize(Initializer::zeros(), {DType::F32, {3, 4}}, 1);
  HostTensor k = initialize(Initializer::constant(2.5), {DType::F64, {5}}, 1);
  for (int64_t i = 0; i < z.numel(); ++i)
    EXPECT_EQ(z.at(i), 0.0);
  for (int64_t i = 0; i < k.numel(); ++i)
    EXPECT_EQ(k.at(i), 2.5);
  EXPECT_THROW(initialize(Initializer::ones(), {DType::I32, {2}}, 1), UserError);
}

TEST(Init, ModelParamsSeededPerNameWithZeroBiases) {
  Model m1 = mnist::makeModel("keras-example", 11), m2 = mnist::makeModel("keras-example", 11),
        m3 = mnist::makeModel("keras-example", 12);
  NamedTensors p1 = m1.initialParams(), p2 = m2.initialParams(), p3 = m3.initialParams();
  ASSERT_EQ(p1.size(), 10u); // 5 layers with kernel + bias
  for (const auto &[name, t] : p1) {
    ASSERT_TRUE(p2.count(name)) << name;
    EXPECT_EQ(maxRelativeDifference(t, p2.at(name)), 0.0) << name;
    if (name.ends_with(".bias")) {
      EXPECT_EQ(statsOf(t).maxV, 0.0) << name;
      EXPECT_EQ(statsOf(t).minV, 0.0) << name;
    } else {
      EXPECT_GT(maxRelativeDifference(t, p3.at(name)), 0.0) << name;
    }
  }
  // Two kernels of the same shape in one model still differ (seeded by name).
  Model mlp = mnist::makeModel("cnn", 1);
  NamedTensors p = mlp.initialParams();
  EXPECT_EQ(p.at("dense_3.kernel").shape(), (Shape{50, 10}));
  EXPECT_EQ(p.at("conv2d.kernel").shape(), (Shape{32, 1, 5, 5}));
}

} // namespace
} // namespace kiln
