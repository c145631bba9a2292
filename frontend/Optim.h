// frontend/Optim.h - optimizers as graph builders: optim::SGD, Adam, Adadelta.
//
// minimize() differentiates the loss with kiln::grad (passes/Autodiff.h) and
// appends the update as ordinary ops plus `assign`s to the parameters and to
// zero-initialized optimizer state, so one run of the graph is one training
// step. Formulas are those of Keras. The learning rate is the graph input
// `lr: f32[]` (created when absent), so a schedule changes an input, not the
// graph; learningRate() is the value to feed by default. State is named
// "<optimizer>.<slot>.<param>", e.g. "adadelta.acc_grad.dense.kernel".
#ifndef KILN_FRONTEND_OPTIM_H
#define KILN_FRONTEND_OPTIM_H

#include "frontend/Tensor.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::optim {

/// The `lr: f32[]` input of `g`, added when `g` has none.
Tensor learningRateInput(Graph &g);

/// Base of the optimizers: gradient plus update builder.
class Optimizer {
public:
  explicit Optimizer(double learningRate) : lr_(learningRate) {}
  virtual ~Optimizer() = default;

  /// Lower-case name, the prefix of state names: "sgd", "adam", "adadelta".
  virtual std::string_view name() const = 0;
  /// "Adadelta(learning_rate=1, rho=0.95, epsilon=1e-07)".
  virtual std::string describe() const = 0;
  /// The default value to feed as `lr`.
  double learningRate() const { return lr_; }

  /// Appends the gradients of `loss` w.r.t. `params` and the update of every
  /// parameter (and of the optimizer state); returns the gradients.
  std::vector<Value> minimize(Graph &g, Value loss, std::span<const Value> params) const;
  /// Appends only the update, given one gradient per parameter (equal types).
  void applyGradients(Graph &g, std::span<const Value> params, std::span<const Value> grads) const;

protected:
  /// Builds the update of all parameters; `lr` is the learning-rate input.
  virtual void apply(Graph &g, const Tensor &lr, std::span<const Value> params,
                     std::span<const Value> grads) const = 0;
  /// Zero-initialized state "<name>.<slot>.<param>" of the parameter's type.
  Tensor slot(Graph &g, std::string_view slotName, Value param) const;

  double lr_;
};

/// Stochastic gradient descent, with optional (Nesterov) momentum:
///   v = momentum*v - lr*g;  p += v  (Nesterov: p += momentum*v - lr*g);  without momentum p -= lr*g.
class SGD : public Optimizer {
public:
  explicit SGD(double learningRate = 0.01, double momentum = 0.0, bool nesterov = false);
  std::string_view name() const override { return "sgd"; }
  std::string describe() const override;

protected:
  void apply(Graph &g, const Tensor &lr, std::span<const Value> params,
             std::span<const Value> grads) const override;

private:
  double momentum_;
  bool nesterov_;
};

/// Adam with bias correction through the step-count state "adam.iterations" (f32[]):
///   t += 1;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
///   p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps).
class Adam : public Optimizer {
public:
  explicit Adam(double learningRate = 0.001, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-7);
  std::string_view name() const override { return "adam"; }
  std::string describe() const override;

protected:
  void apply(Graph &g, const Tensor &lr, std::span<const Value> params,
             std::span<const Value> grads) const override;

private:
  double beta1_, beta2_, eps_;
};

/// Adadelta:
///   acc_g = rho*acc_g + (1-rho)*g^2;  upd = g*sqrt(acc_d+eps)/sqrt(acc_g+eps);
///   acc_d = rho*acc_d + (1-rho)*upd^2;  p -= lr*upd.
class Adadelta : public Optimizer {
public:
  explicit Adadelta(double learningRate = 1.0, double rho = 0.95, double epsilon = 1e-7);
  std::string_view name() const override { return "adadelta"; }
  std::string describe() const override;

protected:
  void apply(Graph &g, const Tensor &lr, std::span<const Value> params,
             std::span<const Value> grads) const override;

private:
  double rho_, eps_;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_H
