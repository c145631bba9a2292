// tests/support/GradCheck.cpp - the float64 finite-difference gradient checker.
#include "tests/support/GradCheck.h"

#include "ir/Error.h"
#include "passes/Autodiff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace kiln::test {

namespace {

bool isProbe(const std::string &name) { return name.rfind("probe", 0) == 0; }

HostTensor randomFor(const TensorType &t, std::mt19937 &gen, const GradCheckOptions &opt) {
  HostTensor h(t);
  if (isFloat(t.dtype)) {
    std::uniform_real_distribution<double> dist(opt.lo, opt.hi);
    for (int64_t i = 0; i < h.numel(); ++i) {
      double v = dist(gen);
      for (int tries = 0; std::fabs(v) < opt.minAbs && tries < 100; ++tries)
        v = dist(gen);
      h.set(i, v);
    }
  } else {
    std::uniform_int_distribution<int64_t> dist(0, t.dtype == DType::Bool ? 1 : opt.intHigh - 1);
    for (int64_t i = 0; i < h.numel(); ++i)
      h.set(i, static_cast<double>(dist(gen)));
  }
  return h;
}

double scalarOf(const HostTensor &t) {
  KILN_INTERNAL_CHECK(t.numel() == 1) << "gradcheck: loss is not a scalar";
  return t.at(0);
}

} // namespace

TensorMap randomEnv(const Graph &g, const GradCheckOptions &opt) {
  std::mt19937 gen(opt.seed);
  TensorMap env;
  for (const auto *list : {&g.inputs(), &g.params(), &g.states()}) {
    for (const Node *n : *list) {
      const TensorType &t = n->resultType();
      auto it = opt.fixed.find(n->name());
      if (it == opt.fixed.end()) {
        env[n->name()] = randomFor(t, gen, opt);
        continue;
      }
      KILN_INTERNAL_CHECK(it->second.shape() == t.shape)
          << "gradcheck: fixed input '" << n->name() << "' has shape "
          << shapeString(it->second.shape()) << ", the graph wants " << typeString(t);
      env[n->name()] = it->second.dtype() == t.dtype ? it->second.clone() : it->second.cast(t.dtype);
    }
  }
  return env;
}

Value probeLoss(Graph &g, Value v) {
  int k = 0;
  for (const Node *n : g.inputs())
    k += isProbe(n->name()) ? 1 : 0;
  Value probe = g.addInput("probe" + std::to_string(k), v.type());
  return g.build(OpKind::ReduceSum, {g.build(OpKind::Mul, {v, probe})});
}

GradCheckResult gradCheck(const GraphBuilderFn &build, const GradCheckOptions &opt) {
  Graph g("gradcheck");
  Value loss = build(g);
  std::vector<Value> wrt;
  std::vector<std::string> names;
  if (opt.wrt.empty()) {
    for (const auto *list : {&g.inputs(), &g.params()})
      for (Node *n : *list)
        if (isFloat(n->resultType().dtype) && !isProbe(n->name())) {
          wrt.push_back(n->result());
          names.push_back(n->name());
        }
  } else {
    for (const std::string &name : opt.wrt) {
      Node *n = g.findSignatureNode(name);
      KILN_INTERNAL_CHECK(n) << "gradcheck: no input or parameter named '" << name << "'";
      wrt.push_back(n->result());
      names.push_back(name);
    }
  }
  KILN_INTERNAL_CHECK(!wrt.empty()) << "gradcheck: nothing to differentiate with respect to";

  // Forward-only copy for the differences; the original gets the gradients.
  g.setOutputs({loss});
  std::unique_ptr<Graph> forward = widenToF64(g);
  std::vector<Value> grads = grad(g, loss, wrt);
  std::vector<Value> outs{loss};
  outs.insert(outs.end(), grads.begin(), grads.end());
  g.setOutputs(outs);
  verify(g);
  std::unique_ptr<Graph> full = widenToF64(g);

  // Both graphs are already widened, so the interpreter runs them as they are.
  const InterpretOptions f64{};
  TensorMap env = randomEnv(*full, opt);
  TensorMap runEnv = env;
  std::vector<HostTensor> analytic = interpret(*full, runEnv, f64);

  GradCheckResult res;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const HostTensor &base = env.at(names[k]);
    const HostTensor &an = analytic.at(k + 1);
    KILN_INTERNAL_CHECK(an.numel() == base.numel()) << "gradcheck: gradient of " << names[k]
                                                    << " has " << an.numel() << " elements";
    for (int64_t j = 0; j < base.numel(); ++j) {
      auto lossAt = [&](double x) {
        TensorMap e = env;
        e[names[k]] = base.clone();
        e[names[k]].set(j, x);
        return scalarOf(interpret(*forward, e, f64).at(0));
      };
      double x = base.at(j);
      double numeric = (lossAt(x + opt.step) - lossAt(x - opt.step)) / (2 * opt.step);
      double a = an.at(j);
      double err = std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), opt.floor});
      bool worse = std::isnan(err) || err > res.maxRelErr || res.checked == 0;
      if (worse) {
        std::ostringstream os;
        os.precision(12);
        os << names[k] << "[" << j << "]: autodiff " << a << " vs numeric " << numeric;
        res.maxRelErr = std::isnan(err) ? INFINITY : err;
        res.where = os.str();
      }
      ++res.checked;
    }
  }
  return res;
}

void expectGradCheck(const GraphBuilderFn &build, const GradCheckOptions &opt) {
  GradCheckResult r = gradCheck(build, opt);
  EXPECT_GT(r.checked, 0);
  EXPECT_LT(r.maxRelErr, opt.tol) << "worst element " << r.where;
}

} // namespace kiln::test
