// tests/support/OpCheck.h - per-op test helpers: run one op's eval hook, check its gradient rule.
//
// evalOp builds a one-node graph and calls the op's eval hook directly (no
// interpreter), so forward tests see exactly the op block's loops.
// checkGradRule applies the op's gradient rule through a minimal GradContext
// and compares the gradients, run by the interpreter in float64, with central
// finite differences of <dy, op(x)>. Header-only.
#ifndef KILN_TESTS_SUPPORT_OPCHECK_H
#define KILN_TESTS_SUPPORT_OPCHECK_H

#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace kiln::test {

/// The f32 tensor type of shape `s`.
inline TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

/// Attributes from name-value pairs: attrs({{"axes", Ints{0}}, {"keepdims", true}}).
inline AttrMap attrs(std::initializer_list<std::pair<const char *, Attr>> list) {
  AttrMap a;
  for (const auto &[name, value] : list)
    a.set(name, value);
  return a;
}
/// An ints attribute's value.
using Ints = std::vector<int64_t>;

/// A tensor of `t` with values uniform in [lo, hi), reproducible from `seed`.
inline HostTensor randomTensor(TensorType t, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  HostTensor h(std::move(t));
  for (int64_t i = 0; i < h.numel(); ++i)
    h.set(i, dist(gen));
  return h;
}

/// A tensor of `t` holding `values` (row-major).
inline HostTensor tensorOf(TensorType t, std::vector<double> values) {
  return HostTensor::fromDoubles(std::move(t), values);
}

/// Builds op `kind` on graph inputs typed like `inputs` (which throws UserError
/// on bad types) and returns the result types.
inline std::vector<TensorType> inferOp(OpKind kind, const std::vector<TensorType> &inputs,
                                       AttrMap attrs = {}) {
  Graph g;
  std::vector<Value> vals;
  for (size_t i = 0; i < inputs.size(); ++i)
    vals.push_back(g.addInput("in" + std::to_string(i), inputs[i]));
  Node *n = g.create(kind, vals, std::move(attrs));
  return {n->resultTypes().begin(), n->resultTypes().end()};
}

/// Runs the eval hook of op `kind` on `inputs` and returns its single result.
inline HostTensor evalOp(OpKind kind, const std::vector<HostTensor> &inputs, AttrMap attrs = {}) {
  Graph g;
  std::vector<Value> vals;
  std::vector<const HostTensor *> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    vals.push_back(g.addInput("in" + std::to_string(i), inputs[i].type()));
    ptrs.push_back(&inputs[i]);
  }
  Node *n = g.create(kind, vals, std::move(attrs));
  std::vector<HostTensor> out;
  for (const TensorType &t : n->resultTypes())
    out.emplace_back(t);
  n->info().hooks.eval(*n, ptrs, out);
  return out.at(0);
}

/// The message of the UserError `fn` throws; fails the test (returning "")
/// when it throws nothing.
inline std::string userErrorOf(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const UserError &e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

/// Sum of a[i] * b[i] in double.
inline double dot(const HostTensor &a, const HostTensor &b) {
  double s = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i)
    s += a.at(i) * b.at(i);
  return s;
}

/// The GradContext of one node: the upstream gradient is a graph input, and
/// the gradients of float operands are recorded (summed when added twice).
class RecordingGradContext : public GradContext {
public:
  RecordingGradContext(Graph &g, Node &n, Value dy) : g_(g), n_(n), dy_(dy), grads_(n.numOperands()) {}
  Graph &graph() override { return g_; }
  Node &node() override { return n_; }
  Value outGrad(size_t) override { return dy_; }
  bool needsGrad(size_t i) override { return isFloat(n_.operand(i).dtype()); }
  void addGrad(size_t i, Value v) override {
    EXPECT_EQ(typeString(v.type()), typeString(n_.operand(i).type())) << "gradient of operand " << i;
    grads_.at(i) = grads_[i] ? g_.build(OpKind::Add, {grads_[i], v}) : v;
  }
  const std::vector<Value> &grads() const { return grads_; }

private:
  Graph &g_;
  Node &n_;
  Value dy_;
  std::vector<Value> grads_;
};

/// Checks the gradient rule of op `kind` at `inputs` (f64 tensors; integer
/// inputs are held fixed): every float operand's gradient for a random
/// upstream dy must match central differences of <dy, op(x)> within `tol`
/// (relative to max(1, |gradient|)). Returns the gradient tensors (by operand;
/// empty for integer operands) for further checks.
inline std::vector<HostTensor> checkGradRule(OpKind kind, const std::vector<HostTensor> &inputs,
                                             AttrMap attrs = {}, double tol = 1e-6,
                                             double eps = 1e-6) {
  Graph g;
  TensorMap env;
  std::vector<Value> vals;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    vals.push_back(g.addInput(name, inputs[i].type()));
    env[name] = inputs[i].clone();
  }
  Value y = g.build(kind, vals, std::move(attrs));
  Value dy = g.addInput("dy", y.type());
  env["dy"] = randomTensor(y.type(), /*seed=*/77);
  RecordingGradContext ctx(g, *y.node, dy);
  y.node->info().hooks.grad(ctx);
  std::vector<size_t> checked;
  g.addOutput(y);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!isFloat(inputs[i].dtype()))
      continue;
    EXPECT_TRUE(ctx.grads()[i]) << "no gradient for operand " << i;
    if (!ctx.grads()[i])
      continue;
    g.addOutput(ctx.grads()[i]);
    checked.push_back(i);
  }
  verify(g);
  std::vector<HostTensor> results = interpret(g, env);
  const HostTensor dyValue = env["dy"].clone();
  auto objective = [&](TensorMap &e) {
    TensorMap copy = e;
    return dot(interpret(g, copy).at(0), dyValue);
  };
  std::vector<HostTensor> grads(inputs.size());
  for (size_t k = 0; k < checked.size(); ++k) {
    size_t i = checked[k];
    std::string name = "in" + std::to_string(i);
    grads[i] = results.at(k + 1);
    double worst = 0.0;
    int64_t worstAt = -1;
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      TensorMap plus = env, minus = env;
      plus[name] = inputs[i].clone();
      minus[name] = inputs[i].clone();
      plus[name].set(j, inputs[i].at(j) + eps);
      minus[name].set(j, inputs[i].at(j) - eps);
      double fd = (objective(plus) - objective(minus)) / (2 * eps);
      double an = grads[i].at(j);
      double err = std::abs(fd - an) / std::max(1.0, std::abs(an));
      if (err > worst) {
        worst = err;
        worstAt = j;
      }
    }
    EXPECT_LT(worst, tol) << "operand " << i << " element " << worstAt << " of "
                          << typeString(inputs[i].type());
  }
  return grads;
}

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_OPCHECK_H
