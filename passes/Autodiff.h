// passes/Autodiff.h - reverse-mode differentiation, graph to graph.
//
// grad() appends the backward computation to the graph itself (no tape): the
// result is ordinary nodes built by each op's gradient rule (ir/Grad.h), so
// the gradients can be optimized, fused, compiled and differentiated again.
#ifndef KILN_PASSES_AUTODIFF_H
#define KILN_PASSES_AUTODIFF_H

#include "ir/Graph.h"

#include <span>
#include <vector>

namespace kiln {

/// Appends to `g` the gradients of `loss` with respect to each value of `wrt`
/// and returns them, one per `wrt` entry (same types). Preconditions: `loss`
/// is a floating-point scalar of `g`; every `wrt` value is floating point
/// (UserError otherwise). A value the loss does not depend on gets a zero
/// constant. UserError naming the op when a needed op has no gradient rule.
/// Works on graphs that already hold gradients (higher derivatives).
std::vector<Value> grad(Graph &g, Value loss, std::span<const Value> wrt);

} // namespace kiln

#endif // KILN_PASSES_AUTODIFF_H
