// tests/frontend/OptimTest.cpp - optimizers against hand-computed Keras updates.
//
// Each case minimizes loss(p) = sum((p - t)^2), whose gradient is 2(p - t),
// for three steps on the interpreter, and compares p after every step with
// the Keras formulas evaluated here in double precision.
#include "frontend/Optim.h"
#include "ir/Error.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace kiln {
namespace {

const std::vector<double> kP0{0.5, 0.3, -1.2};
const std::vector<double> kTarget{1.0, -2.0, 0.25};

/// One hand-written update: p and the optimizer's own scalar history.
using HandStep = std::function<void(std::vector<double> &p, const std::vector<double> &g, int step)>;

void checkThreeSteps(const optim::Optimizer &opt, double lr, HandStep hand, size_t expectedStates) {
  Graph g("quadratic");
  TensorType t3{DType::F32, {3}};
  Tensor p = parameter(g, "p", t3);
  Tensor target = input(g, "t", t3);
  Tensor d = p - target;
  Tensor loss = reduce_sum(d * d).named("loss");
  std::vector<Value> params{p.value()};
  std::vector<Value> grads = opt.minimize(g, loss.value(), params);
  ASSERT_EQ(grads.size(), 1u);
  g.setOutputs({loss.value()});
  verify(g);
  EXPECT_EQ(g.states().size(), expectedStates);
  ASSERT_NE(g.findSignatureNode("lr"), nullptr);

  TensorMap env;
  env["p"] = HostTensor::fromDoubles(t3, kP0);
  env["t"] = HostTensor::fromDoubles(t3, kTarget);
  env["lr"] = HostTensor::scalar(DType::F32, lr);
  for (const Node *s : g.states())
    env[s->name()] = HostTensor(s->resultType());

  std::vector<double> ref = kP0;
  for (int step = 1; step <= 3; ++step) {
    double refLoss = 0;
    std::vector<double> gr(3);
    for (int i = 0; i < 3; ++i) {
      gr[i] = 2.0 * (ref[i] - kTarget[i]);
      refLoss += (ref[i] - kTarget[i]) * (ref[i] - kTarget[i]);
    }
    std::vector<HostTensor> out = interpret(g, env);
    EXPECT_NEAR(out[0].at(0), refLoss, 1e-5 * std::max(1.0, refLoss)) << "step " << step;
    hand(ref, gr, step);
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(env["p"].at(i), ref[i], 2e-6 * std::max(1.0, std::abs(ref[i])))
          << opt.describe() << " step " << step << " element " << i;
  }
}

TEST(Optim, PlainSgd) {
  double lr = 0.1;
  checkThreeSteps(optim::SGD(lr), lr,
                  [&](std::vector<double> &p, const std::vector<double> &g, int) {
                    for (int i = 0; i < 3; ++i)
                      p[i] -= lr * g[i];
                  },
                  0);
}

TEST(Optim, SgdMomentum) {
  double lr = 0.05, mu = 0.9;
  std::vector<double> v(3, 0.0);
  checkThreeSteps(optim::SGD(lr, mu), lr,
                  [&](std::vector<double> &p, const std::vector<double> &g, int) {
                    for (int i = 0; i < 3; ++i) {
                      v[i] = mu * v[i] - lr * g[i];
                      p[i] += v[i];
                    }
                  },
                  1);
}

TEST(Optim, SgdNesterov) {
  double lr = 0.05, mu = 0.8;
  std::vector<double> v(3, 0.0);
  checkThreeSteps(optim::SGD(lr, mu, true), lr,
                  [&](std::vector<double> &p, const std::vector<double> &g, int) {
                    for (int i = 0; i < 3; ++i) {
                      v[i] = mu * v[i] - lr * g[i];
                      p[i] += mu * v[i] - lr * g[i];
                    }
                  },
                  1);
}

TEST(Optim, AdamWithBiasCorrection) {
  double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  std::vector<double> m(3, 0.0), v(3, 0.0);
  checkThreeSteps(optim::Adam(lr), lr,
                  [&](std::vector<double> &p, const std::vector<double> &g, int t) {
                    double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
                    for (int i = 0; i < 3; ++i) {
                      m[i] = b1 * m[i] + (1 - b1) * g[i];
                      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                      p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
                    }
                  },
                  3); // m, v and the step count
}

TEST(Optim, Adadelta) {
  double lr = 1.0, rho = 0.95, eps = 1e-7;
  std::vector<double> accG(3, 0.0), accD(3, 0.0);
  checkThreeSteps(optim::Adadelta(), lr,
                  [&](std::vector<double> &p, const std::vector<double> &g, int) {
                    for (int i = 0; i < 3; ++i) {
                      accG[i] = rho * accG[i] + (1 - rho) * g[i] * g[i];
                      double upd = g[i] * std::sqrt(accD[i] + eps) / std::sqrt(accG[i] + eps);
                      accD[i] = rho * accD[i] + (1 - rho) * upd * upd;
                      p[i] -= lr * upd;
                    }
                  },
                  2);
}

TEST(Optim, AdadeltaStateNames) {
  Graph g;
  Tensor w = parameter(g, "dense.kernel", {DType::F32, {2, 2}});
  Tensor loss = reduce_sum(w * w);
  std::vector<Value> params{w.value()};
  optim::Adadelta().minimize(g, loss.value(), params);
  EXPECT_NE(g.findSignatureNode("adadelta.acc_grad.dense.kernel"), nullptr);
  EXPECT_NE(g.findSignatureNode("adadelta.acc_delta.dense.kernel"), nullptr);
  int assigns = 0;
  for (const Node *n : g.nodes())
    assigns += n->kind() == OpKind::Assign;
  EXPECT_EQ(assigns, 3);
}

TEST(Optim, DefaultsAndDescriptions) {
  EXPECT_EQ(optim::Adadelta().learningRate(), 1.0);
  EXPECT_EQ(optim::Adam().learningRate(), 0.001);
  EXPECT_EQ(optim::SGD().learningRate(), 0.01);
  EXPECT_EQ(optim::Adadelta().describe(), "Adadelta(learning_rate=1, rho=0.95, epsilon=1e-07)");
  EXPECT_THROW(optim::Adadelta(1.0, 1.5), UserError);
}

} // namespace
} // namespace kiln
