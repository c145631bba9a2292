// tests/support/TestSupport.cpp - shared test helpers (see TestSupport.h).
#include "tests/support/TestSupport.h"

#include <cmath>
#include <random>
#include <sstream>

namespace kiln::test {

HostTensor randomInts(TensorType t, uint32_t seed, int64_t lo, int64_t hi) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  HostTensor h(std::move(t));
  for (int64_t i = 0; i < h.numel(); ++i)
    h.set(i, static_cast<double>(dist(gen)));
  return h;
}

HostTensor runOp(OpKind kind, const std::vector<HostTensor> &inputs, AttrMap attrs, bool f64) {
  Graph g;
  TensorMap env;
  std::vector<Value> vals;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    vals.push_back(g.addInput(name, inputs[i].type()));
    env[name] = inputs[i];
  }
  g.addOutput(g.create(kind, vals, std::move(attrs))->result(0));
  verify(g);
  return runGraph(g, env, f64).at(0);
}

std::vector<HostTensor> runGraph(const Graph &g, const TensorMap &env, bool f64) {
  TensorMap copy = env;
  InterpretOptions opt;
  opt.f64 = f64;
  return interpret(g, copy, opt);
}

::testing::AssertionResult tensorsNear(const HostTensor &actual, const HostTensor &expected, double tol) {
  if (actual.type() != expected.type())
    return ::testing::AssertionFailure() << "type " << typeString(actual.type()) << ", expected "
                                         << typeString(expected.type());
  int64_t bad = 0, first = -1, worstAt = -1;
  double worst = 0.0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    double a = actual.at(i), e = expected.at(i);
    if (std::isnan(a) && std::isnan(e))
      continue;
    double err = std::isnan(a) || std::isnan(e) ? INFINITY : std::fabs(a - e) / std::max(1.0, std::fabs(e));
    if (err <= tol)
      continue;
    ++bad;
    if (first < 0)
      first = i;
    if (err > worst || worstAt < 0) {
      worst = err;
      worstAt = i;
    }
  }
  if (bad == 0)
    return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(10);
  os << bad << " of " << actual.numel() << " elements of " << typeString(actual.type()) << " differ (tol "
     << tol << "); first at " << first << ": " << actual.at(first) << " vs expected " << expected.at(first)
     << "; worst at " << worstAt << ": " << actual.at(worstAt) << " vs " << expected.at(worstAt);
  return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult tensorsNear(const HostTensor &actual, const TensorType &type,
                                       const std::vector<double> &expected, double tol) {
  if (static_cast<int64_t>(expected.size()) != type.numel())
    return ::testing::AssertionFailure() << "test bug: " << expected.size() << " expected values for "
                                         << typeString(type);
  return tensorsNear(actual, HostTensor::fromDoubles(type, expected), tol);
}

} // namespace kiln::test
