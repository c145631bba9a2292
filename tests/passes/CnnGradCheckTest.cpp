// tests/passes/CnnGradCheckTest.cpp - the report CNN's loss gradient vs float64 central differences.
//
// The whole network of `kiln mnist --model cnn` (train mode, dropout with a
// fixed key) on two images: autodiff's gradient of the cross-entropy loss with
// respect to every one of the 12 parameters is compared, on sampled elements
// of each, with central differences of the loss in float64 on the interpreter.
#include "examples/mnist/Models.h"
#include "ir/Interpreter.h"
#include "passes/Autodiff.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>

namespace kiln {
namespace {

struct CnnGraphs {
  std::unique_ptr<Graph> lossOnly; ///< loss
  std::unique_ptr<Graph> withGrads; ///< loss, then one gradient per parameter
  std::vector<std::string> params;
};

CnnGraphs buildCnn(int64_t batch) {
  CnnGraphs out;
  auto net = mnist::makeNetwork("cnn");
  for (bool withGrads : {false, true}) {
    auto g = std::make_unique<Graph>(withGrads ? "cnn_grads" : "cnn_loss");
    Tensor x = input(*g, "x", TensorType{DType::F32, {batch, 1, 28, 28}});
    Tensor y = input(*g, "y", TensorType{DType::I32, {batch}});
    Tensor key = input(*g, "key", TensorType{DType::I64, {}});
    nn::BuildContext ctx(*g, nn::Mode::Train, key, /*seed=*/1);
    Tensor loss = softmax_cross_entropy(net->forward(ctx, x, /*logits=*/true), y);
    std::vector<Value> outputs{loss.value()};
    if (withGrads) {
      std::vector<Value> params = ctx.paramValues();
      for (Value v : grad(*g, loss.value(), params))
        outputs.push_back(v);
      for (const auto &p : ctx.params())
        out.params.push_back(p.name);
    }
    g->setOutputs(outputs);
    (withGrads ? out.withGrads : out.lossOnly) = widenToF64(*g);
  }
  return out;
}

TEST(CnnGradCheck, EveryParameterOfTheReportCnnMatchesCentralDifferences) {
  const int64_t batch = 2;
  CnnGraphs cnn = buildCnn(batch);
  ASSERT_EQ(cnn.params.size(), 12u);

  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  TensorMap env;
  HostTensor x(TensorType{DType::F64, {batch, 1, 28, 28}});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, unit(rng));
  env["x"] = x;
  env["y"] = HostTensor::fromDoubles(TensorType{DType::I32, {batch}}, std::vector<double>{3, 7});
  env["key"] = HostTensor::scalar(DType::I64, 5);
  // Glorot-like weights and small nonzero biases: no pre-activation sits on a relu kink.
  for (Node *p : cnn.withGrads->params()) {
    const TensorType &t = p->resultType(0);
    HostTensor v(t);
    double fanIn = t.rank() == 1 ? 1.0 : static_cast<double>(t.numel() / t.shape[0]);
    double scale = t.rank() == 1 ? 0.05 : std::sqrt(3.0 / fanIn);
    for (int64_t i = 0; i < v.numel(); ++i)
      v.set(i, (2 * unit(rng) - 1) * scale);
    env[p->name()] = v;
  }

  TensorMap gradEnv = env;
  std::vector<HostTensor> analytic = interpret(*cnn.withGrads, gradEnv);
  ASSERT_EQ(analytic.size(), 13u);

  auto lossAt = [&](const std::string &name, int64_t i, double delta) {
    TensorMap e = env;
    HostTensor p = e[name].clone();
    p.set(i, p.at(i) + delta);
    e[name] = p;
    return interpret(*cnn.lossOnly, e)[0].at(0);
  };

  const double h = 1e-6;
  double worst = 0;
  std::string where;
  int64_t checked = 0;
  for (size_t k = 0; k < cnn.params.size(); ++k) {
    const std::string &name = cnn.params[k];
    const HostTensor &g = analytic[k + 1];
    ASSERT_EQ(g.shape(), env[name].shape()) << name;
    // Sample elements, always including the one with the largest gradient.
    std::vector<int64_t> picks{0};
    for (int64_t i = 1; i < g.numel(); ++i)
      if (std::fabs(g.at(i)) > std::fabs(g.at(picks[0])))
        picks[0] = i;
    std::uniform_int_distribution<int64_t> any(0, g.numel() - 1);
    for (int s = 0; s < 3; ++s)
      picks.push_back(any(rng));
    for (int64_t i : picks) {
      double numeric = (lossAt(name, i, h) - lossAt(name, i, -h)) / (2 * h);
      double a = g.at(i);
      double err = std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), 1e-3});
      ++checked;
      if (err > worst) {
        worst = err;
        where = name + "[" + std::to_string(i) + "]: autodiff " + std::to_string(a) + " vs numeric " +
                std::to_string(numeric);
      }
    }
  }
  std::cout << "report cnn: " << checked << " gradient elements over 12 parameters, worst relative error "
            << worst << " (" << where << ")\n";
  EXPECT_EQ(checked, 48);
  EXPECT_LT(worst, 1e-6) << "worst: " << where;
}

} // namespace
} // namespace kiln
