// ir/Grad.h - what a gradient rule sees (GradContext) and helpers rules share.
//
// Gradient rules live next to their op (ir/ops/<Family>.cpp) and build the
// backward computation from ordinary registered ops. The autodiff driver
// (passes/Autodiff.cpp) walks the graph in reverse and implements GradContext.
#ifndef KILN_IR_GRAD_H
#define KILN_IR_GRAD_H

#include "ir/Graph.h"

namespace kiln {

/// The interface between one gradient rule and the autodiff driver.
class GradContext {
public:
  virtual ~GradContext() = default;
  /// Graph to build the backward nodes in (at the current insertion point).
  virtual Graph &graph() = 0;
  /// The node being differentiated.
  virtual Node &node() = 0;
  /// Gradient of the loss w.r.t. result i; a null Value when no gradient flows there.
  virtual Value outGrad(size_t result) = 0;
  /// Whether the driver needs the gradient of operand i (rules may skip others).
  virtual bool needsGrad(size_t operand) = 0;
  /// Adds `g` to the gradient of operand i (its type must equal the operand's).
  virtual void addGrad(size_t operand, Value g) = 0;
};

/// Sums `g` (of an elementwise result's shape) down to `target`, the shape of an
/// operand that was broadcast into it: numpy-style trailing alignment, or the
/// `broadcast` dims of the op when `dims` is non-empty. Returns `g` unchanged
/// when shapes already match.
Value sumToShape(Graph &g, Value grad, const Shape &target, std::span<const int64_t> dims = {});

} // namespace kiln

#endif // KILN_IR_GRAD_H
