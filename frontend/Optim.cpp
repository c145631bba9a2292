// frontend/Optim.cpp - SGD, Adam and Adadelta update builders (Keras formulas).
#include "frontend/Optim.h"

#include "ir/Error.h"
#include "passes/Autodiff.h"

#include <cmath>
#include <sstream>

namespace kiln::optim {

Tensor learningRateInput(Graph &g) {
  if (Node *n = g.findSignatureNode("lr")) {
    KILN_USER_CHECK(n->resultType() == (TensorType{DType::F32, {}}))
        << "graph @" << g.name() << ": `lr` must be an f32[] input, got " << typeString(n->resultType());
    return Tensor(g, n->result());
  }
  return input(g, "lr", TensorType{DType::F32, {}});
}

std::vector<Value> Optimizer::minimize(Graph &g, Value loss, std::span<const Value> params) const {
  std::vector<Value> grads = grad(g, loss, params);
  applyGradients(g, params, grads);
  return grads;
}

void Optimizer::applyGradients(Graph &g, std::span<const Value> params, std::span<const Value> grads) const {
  KILN_USER_CHECK(params.size() == grads.size())
      << name() << ": " << params.size() << " parameters but " << grads.size() << " gradients";
  for (size_t i = 0; i < params.size(); ++i) {
    KILN_USER_CHECK(params[i].type() == grads[i].type())
        << name() << ": gradient of " << params[i].node->name() << " has type " << typeString(grads[i].type())
        << ", expected " << typeString(params[i].type());
    KILN_USER_CHECK(isFloat(params[i].dtype()))
        << name() << ": parameter " << params[i].node->name() << " is not floating point";
  }
  Tensor lr = learningRateInput(g);
  apply(g, lr, params, grads);
}

Tensor Optimizer::slot(Graph &g, std::string_view slotName, Value param) const {
  std::string n = std::string(name()) + "." + std::string(slotName) + "." + param.node->name();
  return state(g, n, param.type());
}

namespace {
/// The learning rate converted to the parameter's dtype (f64 graphs).
Tensor lrFor(const Tensor &lr, const Tensor &p) { return p.dtype() == lr.dtype() ? lr : cast(lr, p.dtype()); }

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
} // namespace

// ---- SGD --------------------------------------------------------------------
SGD::SGD(double learningRate, double momentum, bool nesterov)
    : Optimizer(learningRate), momentum_(momentum), nesterov_(nesterov) {
  KILN_USER_CHECK(momentum_ >= 0.0 && momentum_ <= 1.0) << "sgd: momentum must be in [0,1], got " << momentum_;
}

std::string SGD::describe() const {
  return "SGD(learning_rate=" + fmt(lr_) + ", momentum=" + fmt(momentum_) +
         ", nesterov=" + (nesterov_ ? "true" : "false") + ")";
}

void SGD::apply(Graph &g, const Tensor &lrIn, std::span<const Value> params, std::span<const Value> grads) const {
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p(g, params[i]), gr(g, grads[i]);
    Tensor lr = lrFor(lrIn, p);
    if (momentum_ == 0.0) {
      assign(p, p - lr * gr);
      continue;
    }
    Tensor v = slot(g, "momentum", params[i]);
    Tensor vNew = v * momentum_ - lr * gr;
    assign(v, vNew);
    assign(p, nesterov_ ? p + vNew * momentum_ - lr * gr : p + vNew);
  }
}

// ---- Adam -------------------------------------------------------------------
Adam::Adam(double learningRate, double beta1, double beta2, double epsilon)
    : Optimizer(learningRate), beta1_(beta1), beta2_(beta2), eps_(epsilon) {
  KILN_USER_CHECK(beta1_ > 0.0 && beta1_ < 1.0 && beta2_ > 0.0 && beta2_ < 1.0)
      << "adam: betas must be in (0,1), got " << beta1_ << " and " << beta2_;
}

std::string Adam::describe() const {
  return "Adam(learning_rate=" + fmt(lr_) + ", beta_1=" + fmt(beta1_) + ", beta_2=" + fmt(beta2_) +
         ", epsilon=" + fmt(eps_) + ")";
}

void Adam::apply(Graph &g, const Tensor &lrIn, std::span<const Value> params, std::span<const Value> grads) const {
  Tensor it = state(g, "adam.iterations", TensorType{DType::F32, {}});
  Tensor t = it + 1.0;
  assign(it, t);
  // beta^t = exp(t * ln(beta)); the step count is exact in f32 up to 2^24.
  Tensor b1Power = exp(t * std::log(beta1_));
  Tensor b2Power = exp(t * std::log(beta2_));
  Tensor alpha = lrIn * sqrt(1.0 - b2Power) / (1.0 - b1Power);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p(g, params[i]), gr(g, grads[i]);
    Tensor m = slot(g, "m", params[i]);
    Tensor v = slot(g, "v", params[i]);
    Tensor mNew = m * beta1_ + gr * (1.0 - beta1_);
    Tensor vNew = v * beta2_ + gr * gr * (1.0 - beta2_);
    assign(m, mNew);
    assign(v, vNew);
    assign(p, p - lrFor(alpha, p) * mNew / (sqrt(vNew) + eps_));
  }
}

// ---- Adadelta ---------------------------------------------------------------
Adadelta::Adadelta(double learningRate, double rho, double epsilon)
    : Optimizer(learningRate), rho_(rho), eps_(epsilon) {
  KILN_USER_CHECK(rho_ > 0.0 && rho_ < 1.0) << "adadelta: rho must be in (0,1), got " << rho_;
}

std::string Adadelta::describe() const {
  return "Adadelta(learning_rate=" + fmt(lr_) + ", rho=" + fmt(rho_) + ", epsilon=" + fmt(eps_) + ")";
}

void Adadelta::apply(Graph &g, const Tensor &lrIn, std::span<const Value> params,
                     std::span<const Value> grads) const {
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p(g, params[i]), gr(g, grads[i]);
    Tensor accG = slot(g, "acc_grad", params[i]);
    Tensor accD = slot(g, "acc_delta", params[i]);
    Tensor accGNew = accG * rho_ + gr * gr * (1.0 - rho_);
    Tensor upd = gr * sqrt(accD + eps_) / sqrt(accGNew + eps_);
    Tensor accDNew = accD * rho_ + upd * upd * (1.0 - rho_);
    assign(accG, accGNew);
    assign(accD, accDNew);
    assign(p, p - lrFor(lrIn, p) * upd);
  }
}

} // namespace kiln::optim
