// ir/ops/Softmax.cpp - softmax, log_softmax, the cross-entropy loss and one_hot.
//
// Reference evaluation subtracts the maximum before exponentiating and works
// in double. softmax and log_softmax differentiate through ordinary ops
// (mul, sub, exp, reduce_sum), so their gradients are differentiable again;
// the loss has a fused gradient op of its own.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"
#include "ir/ops/OpUtil.h"

#include <cmath>
#include <vector>

namespace kiln {
namespace {

constexpr AttrSpec kAxisAttrs[] = {
    {"axis", AttrKind::Int, "-1"},
};

std::vector<TensorType> inferSoftmaxLike(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  KILN_USER_CHECK(isFloat(x.dtype)) << ctx.op << ": input must be f32 or f64, got " << typeString(x);
  KILN_USER_CHECK(x.rank() >= 1) << ctx.op << ": input must have at least one dim, got "
                                 << typeString(x);
  normalizeAxis(ctx.attrs.getInt("axis"), static_cast<int64_t>(x.rank()), ctx.op);
  return {x};
}

/// Softmax (or log-softmax) along `axis` of x, viewed as [outer, axis, inner].
template <typename T> void softmaxImpl(const Node &node, const HostTensor &x, HostTensor &y,
                                       bool logarithm) {
  const Shape &s = x.shape();
  int64_t axis = normalizeAxis(node.attrs().getInt("axis"), static_cast<int64_t>(s.size()),
                               node.mnemonic());
  int64_t outer = 1, inner = 1, len = s[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= s[d];
  for (size_t d = axis + 1; d < s.size(); ++d)
    inner *= s[d];
  const T *px = x.data<T>();
  T *py = y.data<T>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * len + k) * inner + i; };
      double mx = -INFINITY, sum = 0.0;
      for (int64_t k = 0; k < len; ++k)
        mx = std::max(mx, static_cast<double>(px[at(k)]));
      for (int64_t k = 0; k < len; ++k)
        sum += std::exp(px[at(k)] - mx);
      for (int64_t k = 0; k < len; ++k) {
        double v = px[at(k)] - mx;
        py[at(k)] = static_cast<T>(logarithm ? v - std::log(sum) : std::exp(v) / sum);
      }
    }
}

Value reduceSumKeep(Graph &g, Value v, int64_t axis) {
  AttrMap attrs;
  attrs.set("axes", std::vector<int64_t>{axis});
  attrs.set("keepdims", true);
  return g.build(OpKind::ReduceSum, {v}, std::move(attrs));
}

/// softmax backward: y * (dy - sum(dy * y, axis, keepdims)).
Value softmaxBackward(Graph &g, Value y, Value dy, int64_t axis) {
  Value s = reduceSumKeep(g, g.build(OpKind::Mul, {dy, y}), axis);
  return g.build(OpKind::Mul, {y, g.build(OpKind::Sub, {dy, s})});
}

// ============================================================================
// softmax(x) {axis}
// ============================================================================

void evalSoftmax(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    softmaxImpl<double>(node, *in[0], out[0], /*logarithm=*/false);
  else
    softmaxImpl<float>(node, *in[0], out[0], /*logarithm=*/false);
}

void gradSoftmax(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0))
    return;
  Node &node = ctx.node();
  ctx.addGrad(0, softmaxBackward(ctx.graph(), node.result(0), dy, node.attrs().getInt("axis")));
}

// ============================================================================
// log_softmax(x) {axis}
// ============================================================================

void evalLogSoftmax(const Node &node, std::span<const HostTensor *const> in,
                    std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    softmaxImpl<double>(node, *in[0], out[0], /*logarithm=*/true);
  else
    softmaxImpl<float>(node, *in[0], out[0], /*logarithm=*/true);
}

// dx = dy - exp(y) * sum(dy, axis, keepdims).
void gradLogSoftmax(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0))
    return;
  Node &node = ctx.node();
  Graph &g = ctx.graph();
  Value s = reduceSumKeep(g, dy, node.attrs().getInt("axis"));
  Value p = g.build(OpKind::Exp, {node.result(0)});
  ctx.addGrad(0, g.build(OpKind::Sub, {dy, g.build(OpKind::Mul, {p, s})}));
}

// ---- shared by the loss and its gradient ------------------------------------

void checkLossOperands(std::string_view op, const TensorType &logits, const TensorType &labels) {
  KILN_USER_CHECK(logits.rank() == 2 && isFloat(logits.dtype))
      << op << ": logits must be f32[N,C] or f64[N,C], got " << typeString(logits);
  KILN_USER_CHECK(labels.rank() == 1 && isInteger(labels.dtype))
      << op << ": labels must be 1-D integers, got " << typeString(labels);
  KILN_USER_CHECK(labels.shape[0] == logits.shape[0])
      << op << ": labels " << typeString(labels) << " do not match logits " << typeString(logits);
}

/// Label of row n, checked against [0, classes).
int64_t labelOf(std::string_view op, const HostTensor &labels, int64_t n, int64_t classes) {
  double v = labels.at(n);
  auto label = static_cast<int64_t>(v);
  KILN_RUNTIME_CHECK(label >= 0 && label < classes)
      << op << ": label " << label << " of row " << n << " is outside [0," << classes << ")";
  return label;
}

/// Row n of logits as max-subtracted values and their log-sum-exp.
template <typename T> double shiftedRow(const HostTensor &logits, int64_t n, std::vector<double> &row) {
  int64_t classes = logits.shape()[1];
  const T *p = logits.data<T>() + n * classes;
  row.assign(p, p + classes);
  double mx = -INFINITY, sum = 0.0;
  for (double v : row)
    mx = std::max(mx, v);
  for (double &v : row) {
    v -= mx;
    sum += std::exp(v);
  }
  return std::log(sum);
}

// ============================================================================
// softmax_cross_entropy(logits[N,C], labels int[N]) -> f[]
// ============================================================================

std::vector<TensorType> inferSoftmaxCrossEntropy(const InferContext &ctx) {
  checkLossOperands("softmax_cross_entropy", ctx.operands[0], ctx.operands[1]);
  return {TensorType{ctx.operands[0].dtype, {}}};
}

template <typename T> void crossEntropyImpl(const HostTensor &logits, const HostTensor &labels,
                                            HostTensor &loss) {
  int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  std::vector<double> row;
  double total = 0.0;
  for (int64_t n = 0; n < rows; ++n) {
    int64_t label = labelOf("softmax_cross_entropy", labels, n, classes);
    double lse = shiftedRow<T>(logits, n, row);
    total += lse - row[label];
  }
  loss.data<T>()[0] = static_cast<T>(rows ? total / static_cast<double>(rows) : 0.0);
}

void evalSoftmaxCrossEntropy(const Node &, std::span<const HostTensor *const> in,
                             std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    crossEntropyImpl<double>(*in[0], *in[1], out[0]);
  else
    crossEntropyImpl<float>(*in[0], *in[1], out[0]);
}

void gradSoftmaxCrossEntropy(GradContext &ctx) {
  Value dloss = ctx.outGrad(0);
  if (!dloss || !ctx.needsGrad(0))
    return;
  Node &node = ctx.node();
  ctx.addGrad(0, ctx.graph().build(OpKind::SoftmaxCrossEntropyGrad,
                                   {node.operand(0), node.operand(1), dloss}));
}

// ============================================================================
// softmax_cross_entropy_grad(logits[N,C], labels int[N], dloss f[]) -> f[N,C]
//   = (softmax(logits) - one_hot(labels)) * dloss / N
// ============================================================================

std::vector<TensorType> inferSoftmaxCrossEntropyGrad(const InferContext &ctx) {
  std::string_view op = "softmax_cross_entropy_grad";
  const TensorType &logits = ctx.operands[0], &dloss = ctx.operands[2];
  checkLossOperands(op, logits, ctx.operands[1]);
  KILN_USER_CHECK(dloss.rank() == 0 && dloss.dtype == logits.dtype)
      << op << ": loss gradient must be " << dtypeName(logits.dtype) << "[], got "
      << typeString(dloss);
  return {logits};
}

template <typename T> void crossEntropyGradImpl(const HostTensor &logits, const HostTensor &labels,
                                                const HostTensor &dloss, HostTensor &dx) {
  int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  double scale = static_cast<double>(dloss.data<T>()[0]) / static_cast<double>(rows);
  std::vector<double> row;
  T *p = dx.data<T>();
  for (int64_t n = 0; n < rows; ++n) {
    int64_t label = labelOf("softmax_cross_entropy_grad", labels, n, classes);
    double lse = shiftedRow<T>(logits, n, row);
    for (int64_t c = 0; c < classes; ++c) {
      double prob = std::exp(row[c] - lse);
      p[n * classes + c] = static_cast<T>((prob - (c == label ? 1.0 : 0.0)) * scale);
    }
  }
}

void evalSoftmaxCrossEntropyGrad(const Node &, std::span<const HostTensor *const> in,
                                 std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    crossEntropyGradImpl<double>(*in[0], *in[1], *in[2], out[0]);
  else
    crossEntropyGradImpl<float>(*in[0], *in[1], *in[2], out[0]);
}

// With p = softmax(logits), D = p - one_hot(labels) and upstream H:
//   d dloss = sum(H * D) / N;  d logits = softmax backward of K = H * dloss / N.
void gradSoftmaxCrossEntropyGrad(GradContext &ctx) {
  Value h = ctx.outGrad(0);
  if (!h)
    return;
  Node &node = ctx.node();
  Graph &g = ctx.graph();
  Value logits = node.operand(0), labels = node.operand(1), dloss = node.operand(2);
  DType t = logits.dtype();
  AttrMap axis;
  axis.set("axis", int64_t{-1});
  Value p = g.build(OpKind::Softmax, {logits}, std::move(axis));
  Value rows = g.constant(static_cast<double>(logits.shape()[0]), TensorType{t, {}});
  if (ctx.needsGrad(2)) {
    AttrMap oneHot;
    oneHot.set("depth", logits.shape()[1]);
    oneHot.set("dtype", std::string(dtypeName(t)));
    Value d = g.build(OpKind::Sub, {p, g.build(OpKind::OneHot, {labels}, std::move(oneHot))});
    Value s = g.build(OpKind::ReduceSum, {g.build(OpKind::Mul, {h, d})});
    ctx.addGrad(2, g.build(OpKind::Div, {s, rows}));
  }
  if (ctx.needsGrad(0)) {
    Value k = g.build(OpKind::Mul, {h, g.build(OpKind::Div, {dloss, rows})});
    ctx.addGrad(0, softmaxBackward(g, p, k, -1));
  }
}

// ============================================================================
// one_hot(labels int[...]) {depth, dtype} -> dtype[..., depth]
// A label outside [0, depth) gives a row of zeros.
// ============================================================================

constexpr AttrSpec kOneHotAttrs[] = {
    {"depth", AttrKind::Int, ""},
    {"dtype", AttrKind::String, "\"f32\""},
};

std::vector<TensorType> inferOneHot(const InferContext &ctx) {
  const TensorType &labels = ctx.operands[0];
  KILN_USER_CHECK(isInteger(labels.dtype)) << "one_hot: labels must be integers, got "
                                           << typeString(labels);
  int64_t depth = ctx.attrs.getInt("depth");
  KILN_USER_CHECK(depth > 0) << "one_hot: depth must be positive, got " << depth;
  const std::string &name = ctx.attrs.getString("dtype");
  std::optional<DType> t = parseDType(name);
  KILN_USER_CHECK(t.has_value()) << "one_hot: unknown dtype \"" << name << "\"";
  Shape s = labels.shape;
  s.push_back(depth);
  return {TensorType{*t, s}};
}

void evalOneHot(const Node &, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  const HostTensor &labels = *in[0];
  HostTensor &y = out[0];
  int64_t depth = y.shape().back();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    auto label = static_cast<int64_t>(labels.at(i));
    for (int64_t c = 0; c < depth; ++c)
      y.set(i * depth + c, c == label ? 1.0 : 0.0);
  }
}

} // namespace

const OpHooks SoftmaxHooks{
    .summary = "softmax along an axis, max-subtracted",
    .attrs = kAxisAttrs,
    .traits = kNoTraits,
    .infer = inferSoftmaxLike,
    .eval = evalSoftmax,
    .grad = gradSoftmax,
};

const OpHooks LogSoftmaxHooks{
    .summary = "log of the softmax along an axis, max-subtracted",
    .attrs = kAxisAttrs,
    .traits = kNoTraits,
    .infer = inferSoftmaxLike,
    .eval = evalLogSoftmax,
    .grad = gradLogSoftmax,
};

const OpHooks SoftmaxCrossEntropyHooks{
    .summary = "mean over rows of -log_softmax(logits)[n, labels[n]], from f[N,C] and int[N]",
    .attrs = {},
    .traits = kNoTraits,
    .infer = inferSoftmaxCrossEntropy,
    .eval = evalSoftmaxCrossEntropy,
    .grad = gradSoftmaxCrossEntropy,
};

const OpHooks SoftmaxCrossEntropyGradHooks{
    .summary = "gradient of softmax_cross_entropy: (softmax(logits) - one_hot(labels)) * dloss / N",
    .attrs = {},
    .traits = kNoTraits,
    .infer = inferSoftmaxCrossEntropyGrad,
    .eval = evalSoftmaxCrossEntropyGrad,
    .grad = gradSoftmaxCrossEntropyGrad,
};

const OpHooks OneHotHooks{
    .summary = "one-hot encoding of integer labels along a new last axis of size depth",
    .attrs = kOneHotAttrs,
    .traits = kNoGradient,
    .infer = inferOneHot,
    .eval = evalOneHot,
    .grad = nullptr,
};

} // namespace kiln
