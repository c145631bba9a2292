// tests/support/GradCheck.h - checks autodiff against float64 central differences.
//
// A test gives a builder that adds signature values and a forward computation
// to a Graph and returns a scalar loss. gradCheck differentiates it with the
// autodiff driver (passes/Autodiff.h), runs gradients and loss in float64 on
// the reference interpreter with seeded random inputs, and compares every
// gradient element with (loss(x+h) - loss(x-h)) / 2h. The builder may itself
// call grad() (second derivatives: the loss is then a function of gradients).
#ifndef KILN_TESTS_SUPPORT_GRADCHECK_H
#define KILN_TESTS_SUPPORT_GRADCHECK_H

#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace kiln::test {

/// How gradCheck draws inputs and judges gradients.
struct GradCheckOptions {
  uint32_t seed = 1;
  /// Float inputs are uniform in [lo, hi) with |x| >= minAbs, which keeps them
  /// away from the kinks of relu and abs at 0.
  double lo = -1.0, hi = 1.0, minAbs = 0.05;
  /// Integer inputs are uniform in [0, intHigh).
  int64_t intHigh = 2;
  /// Inputs with given values (labels, dropout keys), by name.
  std::map<std::string, HostTensor> fixed;
  /// Names to differentiate with respect to; empty = every float input and
  /// parameter whose name does not start with "probe".
  std::vector<std::string> wrt;
  double step = 1e-5;  ///< h of the central differences
  double tol = 1e-6;   ///< largest accepted relative error
  /// |analytic - numeric| / max(|analytic|, |numeric|, floor): below `floor`
  /// the error is judged in absolute terms.
  double floor = 1e-2;
};

/// The worst element over all checked gradients.
struct GradCheckResult {
  double maxRelErr = 0.0;
  std::string where; ///< "w1[7]: autodiff 0.25 vs numeric 0.2499"
  int64_t checked = 0; ///< elements compared
};

/// Adds signature values and forward nodes to `g`; returns the scalar loss.
using GraphBuilderFn = std::function<Value(Graph &)>;

/// Differentiates the builder's loss and compares with central differences.
GradCheckResult gradCheck(const GraphBuilderFn &build, const GradCheckOptions &opt = {});

/// gradCheck plus a gtest expectation that the worst error is below opt.tol.
void expectGradCheck(const GraphBuilderFn &build, const GradCheckOptions &opt = {});

/// reduce_sum(v * probe) for a new input "probe<k>" of v's type: a scalar loss
/// whose gradient w.r.t. v is a random tensor (gradCheck fills probes but never
/// differentiates with respect to them).
Value probeLoss(Graph &g, Value v);

/// Seeded random values for every input, parameter and state of `g` (see
/// GradCheckOptions); `fixed` entries are used as given.
TensorMap randomEnv(const Graph &g, const GradCheckOptions &opt);

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_GRADCHECK_H
