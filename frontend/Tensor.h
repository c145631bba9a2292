// frontend/Tensor.h - the DSL's Tensor handle, its operators and free functions.
//
// A Tensor is a (Graph*, Value) pair: every operator and function appends one
// node to the tensor's graph through Graph::build and returns the result. The
// free functions mirror the ops of ir/ops.def (same names, same attributes) and
// take a defaulted std::source_location, so a shape error names the caller:
//   "model.cpp:40: conv2d: input has 3 channels, weight expects 1".
// Operators cannot take default arguments; their left (or only) Tensor operand
// converts through `Located`, which records the location of the expression.
// This header builds graphs only; it never runs them.
#ifndef KILN_FRONTEND_TENSOR_H
#define KILN_FRONTEND_TENSOR_H

#include "ir/Graph.h"

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

namespace kiln {

/// A handle to one value of a graph under construction. Cheap to copy.
class Tensor {
public:
  Tensor() = default;
  Tensor(Graph &g, Value v) : graph_(&g), value_(v) {}

  /// The graph the value lives in; InternalError on a null tensor.
  Graph &graph() const;
  Value value() const { return value_; }
  Node *node() const { return value_.node; }
  const TensorType &type() const { return value_.type(); }
  const Shape &shape() const { return value_.shape(); }
  DType dtype() const { return value_.dtype(); }
  size_t rank() const { return value_.shape().size(); }
  /// Extent of dimension `axis` (negative counts from the end); UserError when out of range.
  int64_t dim(int64_t axis) const;
  explicit operator bool() const { return value_.node != nullptr; }

  /// Names the producing node (printed as %name); returns *this.
  Tensor &named(std::string name);

private:
  Graph *graph_ = nullptr;
  Value value_;
};

/// "file:line" of a DSL caller, with the file's directories stripped.
std::string locationString(const std::source_location &loc);

/// A Tensor operand of an operator, with the location of the expression that uses it.
struct Located {
  // NOLINTNEXTLINE(google-explicit-constructor): the implicit conversion is the point.
  Located(Tensor t, std::source_location l = std::source_location::current())
      : tensor(t), loc(l) {}
  Tensor tensor;
  std::source_location loc;
};

/// A conv/pool padding attribute: "valid", "same" or explicit [top,left,bottom,right].
struct Padding {
  Padding(const char *mode) : attr(std::string(mode)) {}
  Padding(std::string mode) : attr(std::move(mode)) {}
  Padding(std::vector<int64_t> pads) : attr(std::move(pads)) {}
  Attr attr;
};

/// Short name for the defaulted location parameter of every DSL function.
using Loc = std::source_location;

// ---- Sources ----------------------------------------------------------------
/// Adds a graph input (fed at every run).
Tensor input(Graph &g, std::string name, TensorType t);
/// Adds a trainable parameter.
Tensor parameter(Graph &g, std::string name, TensorType t);
/// Adds persistent optimizer state.
Tensor state(Graph &g, std::string name, TensorType t);
/// A constant splat of `value` with type `t`.
Tensor constant(Graph &g, double value, TensorType t, Loc loc = Loc::current());

// ---- Elementwise ------------------------------------------------------------
/// Unary elementwise ops on float tensors (neg and abs also on integers).
Tensor neg(const Tensor &x, Loc loc = Loc::current());
Tensor exp(const Tensor &x, Loc loc = Loc::current());
Tensor log(const Tensor &x, Loc loc = Loc::current());
Tensor sqrt(const Tensor &x, Loc loc = Loc::current());
Tensor rsqrt(const Tensor &x, Loc loc = Loc::current());
Tensor abs(const Tensor &x, Loc loc = Loc::current());
Tensor relu(const Tensor &x, Loc loc = Loc::current());
Tensor sigmoid(const Tensor &x, Loc loc = Loc::current());
Tensor tanh(const Tensor &x, Loc loc = Loc::current());
/// Converts to dtype `t`.
Tensor cast(const Tensor &x, DType t, Loc loc = Loc::current());

/// Binary ops. `broadcast` empty: numpy trailing alignment; else the lower-rank
/// operand's dim k maps to result dim broadcast[k] (bias [C] into NCHW: {1}).
Tensor add(const Tensor &a, const Tensor &b, std::vector<int64_t> broadcast = {}, Loc loc = Loc::current());
Tensor sub(const Tensor &a, const Tensor &b, std::vector<int64_t> broadcast = {}, Loc loc = Loc::current());
Tensor mul(const Tensor &a, const Tensor &b, std::vector<int64_t> broadcast = {}, Loc loc = Loc::current());
Tensor div(const Tensor &a, const Tensor &b, std::vector<int64_t> broadcast = {}, Loc loc = Loc::current());
Tensor maximum(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor minimum(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
/// A scalar constant of x's dtype, for mixing tensors and numbers.
Tensor scalarLike(const Tensor &x, double v, Loc loc = Loc::current());

/// Comparison with predicate "lt", "le", "gt", "ge", "eq" or "ne"; bool result.
Tensor cmp(const Tensor &a, const Tensor &b, std::string pred, Loc loc = Loc::current());
Tensor less(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor lessEqual(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor greater(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor greaterEqual(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor equal(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
Tensor notEqual(const Tensor &a, const Tensor &b, Loc loc = Loc::current());
/// cond ? a : b, elementwise with broadcasting.
Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, Loc loc = Loc::current());
/// Inverted dropout driven by the i64[] `key` (a step counter) and a per-layer `seed`.
Tensor dropout(const Tensor &x, const Tensor &key, double rate, int64_t seed = 0,
               Loc loc = Loc::current());

// ---- Layout -----------------------------------------------------------------
Tensor reshape(const Tensor &x, Shape shape, Loc loc = Loc::current());
/// [prod(d<axis), prod(d>=axis)].
Tensor flatten(const Tensor &x, int64_t axis = 1, Loc loc = Loc::current());
Tensor transpose(const Tensor &x, std::vector<int64_t> perm, Loc loc = Loc::current());
/// Broadcasts to `shape`; `dims` maps operand dims to result dims (empty: trailing alignment).
Tensor broadcast_to(const Tensor &x, Shape shape, std::vector<int64_t> dims = {},
                    Loc loc = Loc::current());

// ---- Reductions -------------------------------------------------------------
/// Reductions over `axes` (empty: all axes).
Tensor reduce_sum(const Tensor &x, std::vector<int64_t> axes = {}, bool keepdims = false,
                  Loc loc = Loc::current());
Tensor reduce_mean(const Tensor &x, std::vector<int64_t> axes = {}, bool keepdims = false,
                   Loc loc = Loc::current());
Tensor reduce_max(const Tensor &x, std::vector<int64_t> axes = {}, bool keepdims = false,
                  Loc loc = Loc::current());
/// Index of the maximum along `axis`, i32.
Tensor argmax(const Tensor &x, int64_t axis = -1, bool keepdims = false, Loc loc = Loc::current());

// ---- Matmul, conv, pooling --------------------------------------------------
/// [M,K] x [K,N] (operands optionally transposed).
Tensor matmul(const Tensor &a, const Tensor &b, bool transposeA = false, bool transposeB = false,
              Loc loc = Loc::current());
/// NCHW input, OIHW filter.
Tensor conv2d(const Tensor &x, const Tensor &w, std::vector<int64_t> stride = {1, 1},
              Padding padding = "valid", Loc loc = Loc::current());
/// `stride` empty: equal to `kernel`.
Tensor max_pool2d(const Tensor &x, std::vector<int64_t> kernel = {2, 2}, std::vector<int64_t> stride = {},
                  Padding padding = "valid", Loc loc = Loc::current());
Tensor avg_pool2d(const Tensor &x, std::vector<int64_t> kernel = {2, 2}, std::vector<int64_t> stride = {},
                  Padding padding = "valid", Loc loc = Loc::current());

// ---- Softmax and losses -----------------------------------------------------
Tensor softmax(const Tensor &x, int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor &x, int64_t axis = -1, Loc loc = Loc::current());
/// Mean over the batch of -log softmax(logits)[n, labels[n]]; logits f[N,C], labels i32[N].
Tensor softmax_cross_entropy(const Tensor &logits, const Tensor &labels, Loc loc = Loc::current());
Tensor one_hot(const Tensor &labels, int64_t depth, DType t = DType::F32, Loc loc = Loc::current());

// ---- Effects ----------------------------------------------------------------
/// Writes `value` into the parameter or state `target` at the end of the step.
void assign(const Tensor &target, const Tensor &value, Loc loc = Loc::current());

// ---- Operators --------------------------------------------------------------
Tensor operator-(Located x);
Tensor operator+(Located a, const Tensor &b);
Tensor operator-(Located a, const Tensor &b);
Tensor operator*(Located a, const Tensor &b);
Tensor operator/(Located a, const Tensor &b);
Tensor operator+(Located a, double b);
Tensor operator-(Located a, double b);
Tensor operator*(Located a, double b);
Tensor operator/(Located a, double b);
Tensor operator+(double a, Located b);
Tensor operator-(double a, Located b);
Tensor operator*(double a, Located b);
Tensor operator/(double a, Located b);

} // namespace kiln

#endif // KILN_FRONTEND_TENSOR_H
