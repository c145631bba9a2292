// ir/ops/Pool.cpp - the pooling op blocks: max and average pooling and their gradients.
//
// NCHW data; kernel, stride (empty = kernel) and padding ("valid", "same" or
// explicit) as in ir/ops/ConvUtil.h. Padded positions never win a max and are
// not counted in an average. Padding must be smaller than the kernel, so every
// window holds at least one input element.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"
#include "ir/ops/ConvUtil.h"

#include <cmath>
#include <vector>

namespace kiln {
namespace {

/// Checks a pooling input of shape `x` and the pooling attributes; returns the geometry.
Window2d poolGeometry(std::string_view op, const AttrMap &attrs, const TensorType &x) {
  KILN_USER_CHECK(x.rank() == 4) << op << ": input must be 4-D NCHW, got " << typeString(x);
  KILN_USER_CHECK(isFloat(x.dtype)) << op << ": input must be f32 or f64, got " << typeString(x);
  const std::vector<int64_t> &k = attrs.getInts("kernel");
  KILN_USER_CHECK(k.size() == 2) << op << ": kernel needs 2 values (height, width), got "
                                 << k.size();
  Window2d g = windowGeometry(op, attrs, x.shape[2], x.shape[3], k[0], k[1]);
  KILN_USER_CHECK(g.pad.top < g.kernelH && g.pad.bottom < g.kernelH && g.pad.left < g.kernelW &&
                  g.pad.right < g.kernelW)
      << op << ": padding " << paddingString(attrs.get("padding")) << " must be smaller than the "
      << g.kernelH << "x" << g.kernelW << " kernel";
  return g;
}

Shape poolOutputShape(const TensorType &x, const Window2d &g) {
  return {x.shape[0], x.shape[1], g.outH, g.outW};
}

/// Calls fn(outIndex, inIndex) for output element outIndex of plane `plane`
/// (n * C + c) and each non-padded input element of its window, in row-major
/// window order.
template <typename Fn> void forEachWindow(const Window2d &g, int64_t planes, Fn fn) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < g.outH; ++oh)
      for (int64_t ow = 0; ow < g.outW; ++ow) {
        int64_t outIndex = (p * g.outH + oh) * g.outW + ow;
        for (int64_t kh = 0; kh < g.kernelH; ++kh) {
          int64_t ih = g.rowStart(oh) + kh;
          if (ih < 0 || ih >= g.inH)
            continue;
          for (int64_t kw = 0; kw < g.kernelW; ++kw) {
            int64_t iw = g.colStart(ow) + kw;
            if (iw >= 0 && iw < g.inW)
              fn(outIndex, (p * g.inH + ih) * g.inW + iw);
          }
        }
      }
}

/// Index of the first maximal input element of each window (row-major window
/// order; comparisons with NaN are false, so a NaN is chosen only when first).
template <typename T> std::vector<int64_t> argmaxPerWindow(const Window2d &g, const HostTensor &x) {
  int64_t planes = x.shape()[0] * x.shape()[1];
  std::vector<int64_t> best(static_cast<size_t>(planes * g.outH * g.outW), -1);
  const T *px = x.data<T>();
  forEachWindow(g, planes, [&](int64_t oi, int64_t xi) {
    if (best[oi] < 0 || px[xi] > px[best[oi]])
      best[oi] = xi;
  });
  return best;
}

/// Number of non-padded input elements of each window.
std::vector<int64_t> windowCounts(const Window2d &g, int64_t planes) {
  std::vector<int64_t> count(static_cast<size_t>(planes * g.outH * g.outW), 0);
  forEachWindow(g, planes, [&](int64_t oi, int64_t) { ++count[oi]; });
  return count;
}

template <typename T> void maxPoolImpl(const Window2d &g, const HostTensor &x, HostTensor &y) {
  std::vector<int64_t> best = argmaxPerWindow<T>(g, x);
  const T *px = x.data<T>();
  T *py = y.data<T>();
  for (size_t i = 0; i < best.size(); ++i)
    py[i] = px[best[i]];
  forEachWindow(g, x.shape()[0] * x.shape()[1], [&](int64_t oi, int64_t xi) {
    if (std::isnan(px[xi]))
      py[oi] = px[xi];
  });
}

template <typename T> void maxPoolGradImpl(const Window2d &g, const HostTensor &dy,
                                           const HostTensor &x, HostTensor &dx) {
  std::vector<int64_t> best = argmaxPerWindow<T>(g, x);
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  const T *pdy = dy.data<T>();
  for (size_t i = 0; i < best.size(); ++i)
    acc[best[i]] += pdy[i];
  T *pdx = dx.data<T>();
  for (size_t i = 0; i < acc.size(); ++i)
    pdx[i] = static_cast<T>(acc[i]);
}

template <typename T> void avgPoolImpl(const Window2d &g, const HostTensor &x, HostTensor &y) {
  int64_t planes = x.shape()[0] * x.shape()[1];
  std::vector<int64_t> count = windowCounts(g, planes);
  std::vector<double> acc(count.size(), 0.0);
  const T *px = x.data<T>();
  forEachWindow(g, planes, [&](int64_t oi, int64_t xi) { acc[oi] += px[xi]; });
  T *py = y.data<T>();
  for (size_t i = 0; i < acc.size(); ++i)
    py[i] = static_cast<T>(acc[i] / static_cast<double>(count[i]));
}

template <typename T> void avgPoolGradImpl(const Window2d &g, const HostTensor &dy, HostTensor &dx) {
  int64_t planes = dx.shape()[0] * dx.shape()[1];
  std::vector<int64_t> count = windowCounts(g, planes);
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  const T *pdy = dy.data<T>();
  forEachWindow(g, planes, [&](int64_t oi, int64_t xi) {
    acc[xi] += pdy[oi] / static_cast<double>(count[oi]);
  });
  T *pdx = dx.data<T>();
  for (size_t i = 0; i < acc.size(); ++i)
    pdx[i] = static_cast<T>(acc[i]);
}

/// kernel, stride and padding of `node`, for the nodes its gradient rule builds.
AttrMap poolAttrs(const Node &node) {
  AttrMap attrs;
  for (const char *name : {"kernel", "stride", "padding"})
    attrs.set(name, node.attrs().get(name));
  return attrs;
}

constexpr AttrSpec kPoolAttrs[] = {
    {"kernel", AttrKind::Ints, "[2,2]", /*printDefault=*/true},
    {"stride", AttrKind::Ints, "[]"},
    {"padding", AttrKind::Padding, "\"valid\""},
};

constexpr AttrSpec kPoolGradAttrs[] = {
    {"kernel", AttrKind::Ints, "[2,2]", /*printDefault=*/true},
    {"stride", AttrKind::Ints, "[]"},
    {"padding", AttrKind::Padding, "\"valid\""},
    {"input_shape", AttrKind::Ints, ""},
};

/// Checks that the output gradient `dy` has the pooling output shape `expected`.
void checkOutGrad(std::string_view op, const TensorType &dy, const TensorType &x,
                  const Shape &expected) {
  KILN_USER_CHECK(dy.dtype == x.dtype && dy.shape == expected)
      << op << ": output gradient is " << typeString(dy) << ", pooling " << typeString(x)
      << " gives " << dtypeName(x.dtype) << shapeString(expected);
}

// ============================================================================
// max_pool2d(x[N,C,H,W]) -> [N,C,OH,OW]
// Each output is its window's maximum, NaN when the window holds a NaN (as in
// PyTorch). The gradient goes to the window's first maximal element, found by
// comparisons that are false for NaN (a NaN takes it only when it comes first).
// ============================================================================

std::vector<TensorType> inferMaxPool2d(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  Window2d g = poolGeometry("max_pool2d", ctx.attrs, x);
  return {TensorType{x.dtype, poolOutputShape(x, g)}};
}

void evalMaxPool2d(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  Window2d g = poolGeometry("max_pool2d", node.attrs(), in[0]->type());
  if (out[0].dtype() == DType::F64)
    maxPoolImpl<double>(g, *in[0], out[0]);
  else
    maxPoolImpl<float>(g, *in[0], out[0]);
}

void gradMaxPool2d(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0))
    return;
  Node &node = ctx.node();
  ctx.addGrad(0, ctx.graph().build(OpKind::MaxPool2dGrad, {dy, node.operand(0)}, poolAttrs(node)));
}

// ============================================================================
// max_pool2d_grad(dy[N,C,OH,OW], x[N,C,H,W]) -> [N,C,H,W]
// Each window's dy goes to the first maximal element of its window; the
// routing is piecewise constant, so the op has no gradient rule of its own.
// ============================================================================

std::vector<TensorType> inferMaxPool2dGrad(const InferContext &ctx) {
  const TensorType &dy = ctx.operands[0], &x = ctx.operands[1];
  Window2d g = poolGeometry("max_pool2d_grad", ctx.attrs, x);
  checkOutGrad("max_pool2d_grad", dy, x, poolOutputShape(x, g));
  return {x};
}

void evalMaxPool2dGrad(const Node &node, std::span<const HostTensor *const> in,
                       std::span<HostTensor> out) {
  Window2d g = poolGeometry("max_pool2d_grad", node.attrs(), in[1]->type());
  if (out[0].dtype() == DType::F64)
    maxPoolGradImpl<double>(g, *in[0], *in[1], out[0]);
  else
    maxPoolGradImpl<float>(g, *in[0], *in[1], out[0]);
}

// ============================================================================
// avg_pool2d(x[N,C,H,W]) -> [N,C,OH,OW]
// ============================================================================

std::vector<TensorType> inferAvgPool2d(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  Window2d g = poolGeometry("avg_pool2d", ctx.attrs, x);
  return {TensorType{x.dtype, poolOutputShape(x, g)}};
}

void evalAvgPool2d(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  Window2d g = poolGeometry("avg_pool2d", node.attrs(), in[0]->type());
  if (out[0].dtype() == DType::F64)
    avgPoolImpl<double>(g, *in[0], out[0]);
  else
    avgPoolImpl<float>(g, *in[0], out[0]);
}

void gradAvgPool2d(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0))
    return;
  Node &node = ctx.node();
  AttrMap attrs = poolAttrs(node);
  attrs.set("input_shape", node.operand(0).shape());
  ctx.addGrad(0, ctx.graph().build(OpKind::AvgPool2dGrad, {dy}, std::move(attrs)));
}

// ============================================================================
// avg_pool2d_grad(dy[N,C,OH,OW]) {input_shape} -> [N,C,H,W]
// ============================================================================

std::vector<TensorType> inferAvgPool2dGrad(const InferContext &ctx) {
  std::string_view op = "avg_pool2d_grad";
  const TensorType &dy = ctx.operands[0];
  const std::vector<int64_t> &s = ctx.attrs.getInts("input_shape");
  KILN_USER_CHECK(s.size() == 4) << op << ": input_shape needs 4 values, got " << s.size();
  for (int64_t d : s)
    KILN_USER_CHECK(d > 0) << op << ": input_shape must be positive, got " << attrString(s);
  TensorType x{dy.dtype, s};
  Window2d g = poolGeometry(op, ctx.attrs, x);
  checkOutGrad(op, dy, x, poolOutputShape(x, g));
  return {x};
}

void evalAvgPool2dGrad(const Node &node, std::span<const HostTensor *const> in,
                       std::span<HostTensor> out) {
  Window2d g = poolGeometry("avg_pool2d_grad", node.attrs(), out[0].type());
  if (out[0].dtype() == DType::F64)
    avgPoolGradImpl<double>(g, *in[0], out[0]);
  else
    avgPoolGradImpl<float>(g, *in[0], out[0]);
}

// avg_pool2d_grad is linear in dy and the adjoint of avg_pool2d, so its
// gradient with upstream G is avg_pool2d(G).
void gradAvgPool2dGrad(GradContext &ctx) {
  Value upstream = ctx.outGrad(0);
  if (!upstream || !ctx.needsGrad(0))
    return;
  ctx.addGrad(0, ctx.graph().build(OpKind::AvgPool2d, {upstream}, poolAttrs(ctx.node())));
}

} // namespace

const OpHooks MaxPool2dHooks{
    .summary = "2-D max pooling of NCHW input (kernel, stride, padding never wins)",
    .attrs = kPoolAttrs,
    .traits = kNoTraits,
    .infer = inferMaxPool2d,
    .eval = evalMaxPool2d,
    .grad = gradMaxPool2d,
};

const OpHooks MaxPool2dGradHooks{
    .summary = "gradient of max_pool2d: each window's gradient goes to its first maximal element",
    .attrs = kPoolAttrs,
    .traits = kNoTraits,
    .infer = inferMaxPool2dGrad,
    .eval = evalMaxPool2dGrad,
    .grad = nullptr,
};

const OpHooks AvgPool2dHooks{
    .summary = "2-D average pooling of NCHW input over the non-padded elements of each window",
    .attrs = kPoolAttrs,
    .traits = kNoTraits,
    .infer = inferAvgPool2d,
    .eval = evalAvgPool2d,
    .grad = gradAvgPool2d,
};

const OpHooks AvgPool2dGradHooks{
    .summary = "gradient of avg_pool2d: spreads each window's gradient over its elements",
    .attrs = kPoolGradAttrs,
    .traits = kNoTraits,
    .infer = inferAvgPool2dGrad,
    .eval = evalAvgPool2dGrad,
    .grad = gradAvgPool2dGrad,
};

} // namespace kiln
