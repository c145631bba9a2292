// ir/ops/Reduction.cpp - the reduction op blocks: reduce_sum, reduce_mean,
// reduce_max, argmax.
//
// The reference loops accumulate floats in double and integers in int64, then
// store in the result dtype. Gradients broadcast the upstream gradient back
// over the reduced axes with the broadcast op, so they differentiate further.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"
#include "ir/ops/OpUtil.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace kiln {
namespace {

constexpr AttrSpec kReduceAttrs[] = {{"axes", AttrKind::Ints, "[]"}, {"keepdims", AttrKind::Bool, "false"}};

enum class Reduce { Sum, Mean, Max };

template <typename T> bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

/// Result type of reducing `x` over `axes` (normalized, sorted).
TensorType reducedType(const TensorType &x, const std::vector<int64_t> &axes, bool keepdims) {
  Shape s;
  for (int64_t d = 0; d < static_cast<int64_t>(x.rank()); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!reduced) s.push_back(x.shape[d]);
    else if (keepdims) s.push_back(1);
  }
  return TensorType{x.dtype, s};
}

template <Reduce kind> std::vector<TensorType> inferReduce(const InferContext &c) {
  const TensorType &x = c.operands[0];
  KILN_USER_CHECK(kind == Reduce::Mean ? isFloat(x.dtype) : x.dtype != DType::Bool)
      << c.op << ": expects a " << (kind == Reduce::Mean ? "float" : "numeric") << " operand, got " << typeString(x);
  std::vector<int64_t> axes = normalizeAxes(c.attrs.getInts("axes"), static_cast<int64_t>(x.rank()), c.op);
  return {reducedType(x, axes, c.attrs.getBool("keepdims"))};
}

/// Reduces `in` of element type T into `out`: one pass over the input, each
/// element added into the output slot its non-reduced indices select.
template <Reduce kind, typename T>
void reduceImpl(const HostTensor &in, HostTensor &out, const std::vector<int64_t> &axes) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  const Shape &s = in.shape();
  Shape kept = s;
  for (int64_t a : axes) kept[a] = 1;
  std::vector<int64_t> strides = rowMajorStrides(kept);
  for (int64_t a : axes) strides[a] = 0;
  int64_t n = out.numel();
  Acc init = kind == Reduce::Max ? std::numeric_limits<Acc>::lowest() : Acc(0);
  if constexpr (std::is_floating_point_v<T>)
    if (kind == Reduce::Max) init = -std::numeric_limits<Acc>::infinity();
  std::vector<Acc> acc(n, init);
  const T *src = in.data<T>();
  std::vector<int64_t> idx(s.size(), 0);
  int64_t o = 0;
  for (int64_t i = 0, total = in.numel(); i < total; ++i) {
    Acc v = static_cast<Acc>(src[i]);
    if constexpr (kind == Reduce::Max)
      acc[o] = v > acc[o] || isNan(v) ? v : acc[o]; // NaN wins, like max in the formulas
    else
      acc[o] += v;
    for (size_t d = s.size(); d-- > 0;) { // odometer over the input
      o += strides[d];
      if (++idx[d] < s[d]) break;
      o -= strides[d] * s[d];
      idx[d] = 0;
    }
  }
  int64_t count = in.numel() / (n ? n : 1);
  T *dst = out.data<T>();
  for (int64_t j = 0; j < n; ++j)
    dst[j] = kind == Reduce::Mean ? static_cast<T>(static_cast<double>(acc[j]) / static_cast<double>(count))
                                  : static_cast<T>(acc[j]);
}

template <Reduce kind>
void evalReduce(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  std::vector<int64_t> axes =
      normalizeAxes(node.attrs().getInts("axes"), static_cast<int64_t>(in[0]->type().rank()), node.mnemonic());
  switch (in[0]->dtype()) {
  case DType::F32: reduceImpl<kind, float>(*in[0], out[0], axes); break;
  case DType::F64: reduceImpl<kind, double>(*in[0], out[0], axes); break;
  case DType::I32: reduceImpl<kind, int32_t>(*in[0], out[0], axes); break;
  case DType::I64: reduceImpl<kind, int64_t>(*in[0], out[0], axes); break;
  case DType::U8: reduceImpl<kind, uint8_t>(*in[0], out[0], axes); break;
  case DType::Bool: KILN_INTERNAL_ERROR() << node.mnemonic() << " of bool";
  }
}

/// Broadcasts `v` (a reduction's result shape) back to the operand's shape.
Value expandBack(Graph &g, Value v, const Node &n) {
  const TensorType &x = n.operand(0).type();
  AttrMap m;
  m.set("shape", x.shape);
  if (!n.attrs().getBool("keepdims")) {
    std::vector<int64_t> axes = normalizeAxes(n.attrs().getInts("axes"), static_cast<int64_t>(x.rank()), n.mnemonic());
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < static_cast<int64_t>(x.rank()); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) dims.push_back(d);
    m.set("dims", dims);
  }
  return g.build(OpKind::Broadcast, {v}, std::move(m));
}

// ============================================================================
// reduce_sum {axes, keepdims}: gradient = dy broadcast back
// ============================================================================

void gradReduceSum(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0) || !isFloat(dy.dtype())) return;
  ctx.addGrad(0, expandBack(ctx.graph(), dy, ctx.node()));
}

// ============================================================================
// reduce_mean {axes, keepdims}: gradient = dy broadcast back / count
// ============================================================================

void gradReduceMean(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0)) return;
  Node &n = ctx.node();
  Graph &g = ctx.graph();
  double count = static_cast<double>(n.operand(0).type().numel()) /
                 static_cast<double>(std::max<int64_t>(1, n.resultType(0).numel()));
  Value scale = g.constant(1.0 / count, TensorType{dy.dtype(), {}});
  ctx.addGrad(0, g.build(OpKind::Mul, {expandBack(g, dy, n), scale}));
}

// ============================================================================
// reduce_max {axes, keepdims}: the gradient goes to every element equal to the
// max (ties each receive the full gradient; they are not divided)
// ============================================================================

void gradReduceMax(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0) || !isFloat(dy.dtype())) return;
  Node &n = ctx.node();
  Graph &g = ctx.graph();
  AttrMap eq;
  eq.set("pred", std::string("eq"));
  Value mask = g.build(OpKind::Cmp, {n.operand(0), expandBack(g, n.result(0), n)}, std::move(eq));
  Value zero = g.constant(0.0, TensorType{dy.dtype(), {}});
  ctx.addGrad(0, g.build(OpKind::Select, {mask, expandBack(g, dy, n), zero}));
}

// ============================================================================
// argmax {axis, keepdims}: index (i32) of the first maximal element; no gradient
// ============================================================================

constexpr AttrSpec kArgmaxAttrs[] = {{"axis", AttrKind::Int, "-1"}, {"keepdims", AttrKind::Bool, "false"}};

std::vector<TensorType> inferArgmax(const InferContext &c) {
  const TensorType &x = c.operands[0];
  KILN_USER_CHECK(x.dtype != DType::Bool && x.rank() > 0)
      << c.op << ": expects a numeric operand of rank >= 1, got " << typeString(x);
  int64_t axis = normalizeAxis(c.attrs.getInt("axis"), static_cast<int64_t>(x.rank()), c.op);
  TensorType t = reducedType(x, {axis}, c.attrs.getBool("keepdims"));
  t.dtype = DType::I32;
  return {t};
}

template <typename T> void argmaxImpl(const HostTensor &in, HostTensor &out, int64_t axis) {
  const Shape &s = in.shape();
  int64_t outer = 1, inner = 1, n = s[axis];
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    if (d < axis) outer *= s[d];
    else if (d > axis) inner *= s[d];
  const T *src = in.data<T>();
  int32_t *dst = out.data<int32_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T *p = src + o * n * inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k)
        if (p[k * inner] > p[best * inner]) best = k;
      dst[o * inner + i] = static_cast<int32_t>(best);
    }
}

void evalArgmax(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  int64_t axis = normalizeAxis(node.attrs().getInt("axis"), static_cast<int64_t>(in[0]->type().rank()), "argmax");
  switch (in[0]->dtype()) {
  case DType::F32: argmaxImpl<float>(*in[0], out[0], axis); break;
  case DType::F64: argmaxImpl<double>(*in[0], out[0], axis); break;
  case DType::I32: argmaxImpl<int32_t>(*in[0], out[0], axis); break;
  case DType::I64: argmaxImpl<int64_t>(*in[0], out[0], axis); break;
  case DType::U8: argmaxImpl<uint8_t>(*in[0], out[0], axis); break;
  case DType::Bool: KILN_INTERNAL_ERROR() << "argmax of bool";
  }
}

} // namespace

// ============================================================================
// hooks, in ops.def order
// ============================================================================

const OpHooks ReduceSumHooks{.summary = "sum over axes (all when empty)", .attrs = kReduceAttrs,
                             .infer = inferReduce<Reduce::Sum>, .eval = evalReduce<Reduce::Sum>,
                             .grad = gradReduceSum};
const OpHooks ReduceMeanHooks{.summary = "mean over axes (all when empty)", .attrs = kReduceAttrs,
                              .infer = inferReduce<Reduce::Mean>, .eval = evalReduce<Reduce::Mean>,
                              .grad = gradReduceMean};
const OpHooks ReduceMaxHooks{.summary = "max over axes (all when empty); gradient to every maximal element",
                             .attrs = kReduceAttrs, .infer = inferReduce<Reduce::Max>,
                             .eval = evalReduce<Reduce::Max>, .grad = gradReduceMax};
const OpHooks ArgmaxHooks{.summary = "i32 index of the first maximum along axis", .attrs = kArgmaxAttrs,
                          .traits = kNoGradient, .infer = inferArgmax, .eval = evalArgmax};

} // namespace kiln
