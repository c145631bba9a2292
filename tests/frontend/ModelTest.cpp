// tests/frontend/ModelTest.cpp - train/eval graphs of built models, run on the interpreter.
#include "examples/mnist/Models.h"
#include "frontend/Model.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace kiln {
namespace {

std::vector<const Node *> nodesOf(const Graph &g, OpKind k) {
  std::vector<const Node *> out;
  for (const Node *n : g.nodes())
    if (n->kind() == k)
      out.push_back(n);
  return out;
}

/// Deterministic pseudo-random doubles in [-1, 1).
std::vector<double> noise(size_t n, uint64_t seed) {
  SplitMix64 r(seed);
  std::vector<double> v(n);
  for (double &x : v)
    x = 2.0 * r.uniform() - 1.0;
  return v;
}

TEST(Model, TrainGraphHasDropoutEvalGraphHasNone) {
  Model m = mnist::makeModel("cnn", 1);
  std::unique_ptr<Graph> train = m.trainGraph(4), eval = m.evalGraph(4);
  verify(*train);
  verify(*eval);
  std::vector<const Node *> drops = nodesOf(*train, OpKind::Dropout);
  // Two forward dropouts plus their gradients (same attrs).
  ASSERT_GE(drops.size(), 2u);
  std::set<int64_t> seeds;
  Node *key = train->findSignatureNode("key");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->resultType(), (TensorType{DType::I64, {}}));
  for (const Node *d : drops) {
    seeds.insert(d->attrs().getInt("seed"));
    EXPECT_EQ(d->operand(1).node, key);
    EXPECT_DOUBLE_EQ(d->attrs().getFloat("rate"), 0.2);
  }
  EXPECT_EQ(seeds.size(), 2u) << "each dropout layer needs its own seed";
  EXPECT_TRUE(nodesOf(*eval, OpKind::Dropout).empty());
  EXPECT_EQ(eval->findSignatureNode("key"), nullptr);
}

TEST(Model, SignaturesOfTheTrainAndEvalSteps) {
  BuiltModel b = mnist::buildModel("cnn", 8, 1);
  const Graph &t = *b.train;
  ASSERT_EQ(t.inputs().size(), 4u);
  EXPECT_EQ(t.inputs()[0]->resultType(), (TensorType{DType::F32, {8, 1, 28, 28}}));
  EXPECT_EQ(t.inputs()[1]->resultType(), (TensorType{DType::I32, {8}}));
  EXPECT_EQ(t.findSignatureNode("lr")->resultType(), (TensorType{DType::F32, {}}));
  EXPECT_EQ(t.params().size(), 12u); // 2 conv + 4 dense layers, kernel and bias each
  EXPECT_EQ(t.states().size(), 24u); // Adadelta: two accumulators per parameter
  ASSERT_EQ(t.outputs().size(), 2u);
  EXPECT_EQ(t.outputs()[0].type(), (TensorType{DType::F32, {}}));
  EXPECT_EQ(t.outputs()[0].node->name(), "loss");
  EXPECT_EQ(nodesOf(t, OpKind::Assign).size(), 12u + 24u);
  const Graph &e = *b.eval;
  ASSERT_EQ(e.outputs().size(), 2u);
  EXPECT_EQ(e.outputs()[0].type(), (TensorType{DType::F32, {8, 10}}));
  EXPECT_EQ(e.outputs()[1].type(), (TensorType{DType::I32, {8}}));
  EXPECT_EQ(b.initialParams.size(), 12u);
  EXPECT_EQ(b.initialState.size(), 24u);
  EXPECT_EQ(b.learningRate, 1.0);
  int64_t total = 0;
  for (const auto &p : b.params)
    total += p.type.numel();
  EXPECT_EQ(total, 911664);
}

TEST(Model, LinearLossAndPredictionsMatchHandComputation) {
  const int64_t batch = 4;
  BuiltModel b = mnist::buildModel("linear", batch, 3);
  std::vector<double> x = noise(batch * 784, 9);
  std::vector<double> y{3, 7, 0, 9};
  TensorMap env = b.initialParams;
  env["x"] = HostTensor::fromDoubles({DType::F32, {batch, 1, 28, 28}}, x);
  // Hand forward pass in double: logits = x W + b (b = 0), softmax, cross-entropy.
  const HostTensor &w = b.initialParams.at("dense.kernel");
  double loss = 0;
  std::vector<int> preds(batch);
  std::vector<std::vector<double>> probs(batch, std::vector<double>(10));
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<double> z(10, 0.0);
    for (int64_t k = 0; k < 784; ++k)
      for (int c = 0; c < 10; ++c)
        z[c] += x[n * 784 + k] * w.at(k * 10 + c);
    double mx = *std::max_element(z.begin(), z.end()), sum = 0;
    for (double v : z)
      sum += std::exp(v - mx);
    loss += -(z[static_cast<size_t>(y[n])] - mx - std::log(sum)) / batch;
    preds[n] = static_cast<int>(std::max_element(z.begin(), z.end()) - z.begin());
    for (int c = 0; c < 10; ++c)
      probs[n][c] = std::exp(z[c] - mx) / sum;
  }
  std::vector<HostTensor> ev = interpret(*b.eval, env);
  for (int64_t n = 0; n < batch; ++n) {
    EXPECT_EQ(ev[1].at(n), preds[n]);
    for (int c = 0; c < 10; ++c)
      EXPECT_NEAR(ev[0].at(n * 10 + c), probs[n][c], 1e-5);
  }
  env["y"] = HostTensor::fromDoubles({DType::I32, {batch}}, y);
  env["key"] = HostTensor::scalar(DType::I64, 0);
  env["lr"] = HostTensor::scalar(DType::F32, b.learningRate);
  std::vector<HostTensor> tr = interpret(*b.train, env);
  EXPECT_NEAR(tr[0].at(0), loss, 1e-5);
  int correct = 0;
  for (int64_t n = 0; n < batch; ++n)
    correct += preds[n] == static_cast<int>(y[n]);
  EXPECT_EQ(tr[1].at(0), correct);
}

TEST(Model, ThreeAdadeltaStepsOfATinyModelLowerTheLoss) {
  auto net = std::make_shared<nn::Sequential>("tiny");
  net->add(nn::Dense(8, nn::Activation::Relu));
  net->add(nn::Dropout(0.25));
  net->add(nn::Dense(3, nn::Activation::Softmax));
  Model m(net, std::make_shared<optim::Adadelta>(), Shape{5}, 4);
  const int64_t batch = 6;
  BuiltModel b = m.build(batch);
  TensorMap env = b.initialParams;
  for (auto &[name, t] : b.initialState)
    env[name] = t;
  env["x"] = HostTensor::fromDoubles({DType::F32, {batch, 5}}, noise(batch * 5, 2));
  env["y"] = HostTensor::fromDoubles({DType::I32, {batch}}, std::vector<double>{0, 1, 2, 2, 1, 0});
  env["key"] = HostTensor::scalar(DType::I64, 0);
  env["lr"] = HostTensor::scalar(DType::F32, 1.0);
  // Eval-mode loss before and after (dropout masks would add noise to the comparison).
  auto evalLoss = [&] {
    TensorMap e = env;
    std::vector<HostTensor> out = interpret(*b.eval, e);
    double loss = 0;
    for (int64_t n = 0; n < batch; ++n)
      loss -= std::log(out[0].at(n * 3 + static_cast<int64_t>(env["y"].at(n)))) / batch;
    return loss;
  };
  double before = evalLoss();
  for (int step = 0; step < 3; ++step) {
    env["key"] = HostTensor::scalar(DType::I64, step);
    std::vector<HostTensor> out = interpret(*b.train, env);
    EXPECT_TRUE(std::isfinite(out[0].at(0)));
  }
  double after = evalLoss();
  EXPECT_LT(after, before);
  // Adadelta's first steps move each weight by about sqrt(eps / (1 - rho)) ~ 1.4e-3.
  double moved = maxRelativeDifference(env["dense.kernel"], b.initialParams.at("dense.kernel"));
  EXPECT_GT(moved, 1e-4);
  EXPECT_LT(moved, 1e-2);
}

TEST(Model, CnnTrainStepRunsOnTheInterpreter) {
  BuiltModel b = mnist::buildModel("keras-example", 2, 1);
  TensorMap env = b.initialParams;
  for (auto &[name, t] : b.initialState)
    env[name] = t;
  std::vector<double> x = noise(2 * 784, 5);
  for (double &v : x)
    v = (v + 1.0) / 2.0;
  env["x"] = HostTensor::fromDoubles({DType::F32, {2, 1, 28, 28}}, x);
  env["y"] = HostTensor::fromDoubles({DType::I32, {2}}, std::vector<double>{4, 1});
  env["key"] = HostTensor::scalar(DType::I64, 17);
  env["lr"] = HostTensor::scalar(DType::F32, 1.0);
  std::vector<HostTensor> out = interpret(*b.train, env);
  // At Glorot initialization the loss is close to ln(10).
  EXPECT_NEAR(out[0].at(0), std::log(10.0), 0.7);
  EXPECT_GE(out[1].at(0), 0.0);
  EXPECT_LE(out[1].at(0), 2.0);
  EXPECT_GT(maxRelativeDifference(env["conv2d.kernel"], b.initialParams.at("conv2d.kernel")), 0.0);
  EXPECT_GT(maxRelativeDifference(env["adadelta.acc_grad.dense_2.bias"],
                                  b.initialState.at("adadelta.acc_grad.dense_2.bias")), 0.0);
}

TEST(Model, AllFourModelsBuild) {
  for (const std::string &name : mnist::modelNames()) {
    BuiltModel b = mnist::buildModel(name, 16, 1);
    verify(*b.train);
    verify(*b.eval);
    EXPECT_EQ(b.initialParams.size(), b.params.size()) << name;
  }
  EXPECT_EQ(mnist::buildModel("mlp", 4).learningRate, 0.1);
}

} // namespace
} // namespace kiln
