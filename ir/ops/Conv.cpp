// ir/ops/Conv.cpp - the conv2d op block and its two gradient ops.
//
// NCHW data, OIHW filters, dilation 1, one group. conv2d's gradients are two
// ordinary ops (data and filter), and their own gradients are conv ops again:
// conv2d is bilinear, so <conv2d(x,w), dy> = <x, input_grad(dy,w)> =
// <w, filter_grad(x,dy)>, and each rule below reads off one of these identities.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"
#include "ir/ops/ConvUtil.h"

#include <vector>

namespace kiln {
namespace {

/// Checks x and w of a convolution and returns the output shape [N,O,OH,OW].
Shape convOutputShape(std::string_view op, const AttrMap &attrs, const TensorType &x,
                      const TensorType &w) {
  KILN_USER_CHECK(x.rank() == 4) << op << ": input must be 4-D NCHW, got " << typeString(x);
  KILN_USER_CHECK(w.rank() == 4) << op << ": weight must be 4-D OIHW, got " << typeString(w);
  KILN_USER_CHECK(x.shape[1] == w.shape[1])
      << op << ": input has " << x.shape[1] << " channels, weight expects " << w.shape[1];
  Window2d g = convGeometry(op, attrs, x.shape, w.shape);
  return {x.shape[0], w.shape[0], g.outH, g.outW};
}

void checkFloatPair(std::string_view op, const TensorType &a, const TensorType &b) {
  KILN_USER_CHECK(isFloat(a.dtype)) << op << ": operands must be f32 or f64, got " << typeString(a);
  KILN_USER_CHECK(a.dtype == b.dtype)
      << op << ": operand dtypes differ: " << typeString(a) << " and " << typeString(b);
}

/// A Ints shape attribute that must hold 4 positive extents.
Shape shapeAttr(std::string_view op, const AttrMap &attrs, std::string_view name) {
  const std::vector<int64_t> &s = attrs.getInts(name);
  KILN_USER_CHECK(s.size() == 4) << op << ": " << name << " needs 4 values, got " << s.size();
  for (int64_t d : s)
    KILN_USER_CHECK(d > 0) << op << ": " << name << " must be positive, got " << attrString(s);
  return s;
}

/// Calls fn(n, o, c, oh, ow, xi, wi) for every product x[xi] * w[wi] that
/// contributes to output element (n, o, oh, ow): the one loop nest all three
/// ops share, so they are adjoint by construction of their index sets.
template <typename Fn> void forEachTap(const Shape &x, const Shape &w, const Window2d &g, Fn fn) {
  int64_t batch = x[0], chans = x[1], outC = w[0];
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < outC; ++o)
      for (int64_t oh = 0; oh < g.outH; ++oh)
        for (int64_t ow = 0; ow < g.outW; ++ow) {
          int64_t outIndex = ((n * outC + o) * g.outH + oh) * g.outW + ow;
          for (int64_t c = 0; c < chans; ++c)
            for (int64_t kh = 0; kh < g.kernelH; ++kh) {
              int64_t ih = g.rowStart(oh) + kh;
              if (ih < 0 || ih >= g.inH)
                continue;
              for (int64_t kw = 0; kw < g.kernelW; ++kw) {
                int64_t iw = g.colStart(ow) + kw;
                if (iw < 0 || iw >= g.inW)
                  continue;
                int64_t xi = ((n * chans + c) * g.inH + ih) * g.inW + iw;
                int64_t wi = ((o * chans + c) * g.kernelH + kh) * g.kernelW + kw;
                fn(outIndex, xi, wi);
              }
            }
        }
}

/// Accumulates in double, then stores into `out` of element type T.
template <typename T> void storeAll(const std::vector<double> &acc, HostTensor &out) {
  T *p = out.data<T>();
  for (size_t i = 0; i < acc.size(); ++i)
    p[i] = static_cast<T>(acc[i]);
}

template <typename T> void conv2dImpl(const Node &node, const HostTensor &x, const HostTensor &w,
                                      HostTensor &y) {
  Window2d g = convGeometry("conv2d", node.attrs(), x.shape(), w.shape());
  std::vector<double> acc(static_cast<size_t>(y.numel()), 0.0);
  const T *px = x.data<T>(), *pw = w.data<T>();
  forEachTap(x.shape(), w.shape(), g, [&](int64_t yi, int64_t xi, int64_t wi) {
    acc[yi] += static_cast<double>(px[xi]) * pw[wi];
  });
  storeAll<T>(acc, y);
}

template <typename T> void inputGradImpl(const Node &node, const HostTensor &dy,
                                         const HostTensor &w, HostTensor &dx) {
  Window2d g = convGeometry("conv2d_input_grad", node.attrs(), dx.shape(), w.shape());
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  const T *pdy = dy.data<T>(), *pw = w.data<T>();
  forEachTap(dx.shape(), w.shape(), g, [&](int64_t yi, int64_t xi, int64_t wi) {
    acc[xi] += static_cast<double>(pdy[yi]) * pw[wi];
  });
  storeAll<T>(acc, dx);
}

template <typename T> void filterGradImpl(const Node &node, const HostTensor &x,
                                          const HostTensor &dy, HostTensor &dw) {
  Window2d g = convGeometry("conv2d_filter_grad", node.attrs(), x.shape(), dw.shape());
  std::vector<double> acc(static_cast<size_t>(dw.numel()), 0.0);
  const T *px = x.data<T>(), *pdy = dy.data<T>();
  forEachTap(x.shape(), dw.shape(), g, [&](int64_t yi, int64_t xi, int64_t wi) {
    acc[wi] += static_cast<double>(px[xi]) * pdy[yi];
  });
  storeAll<T>(acc, dw);
}

/// Attributes of a conv-family node built by a gradient rule: the stride and
/// padding of `node`, plus `shapeName` = `shape` when given.
AttrMap convAttrs(const Node &node, std::string_view shapeName = {}, const Shape &shape = {}) {
  AttrMap attrs;
  attrs.set("stride", node.attrs().get("stride"));
  attrs.set("padding", node.attrs().get("padding"));
  if (!shapeName.empty())
    attrs.set(shapeName, shape);
  return attrs;
}

Value buildConv(Graph &g, const Node &node, Value x, Value w) {
  return g.build(OpKind::Conv2d, {x, w}, convAttrs(node));
}
Value buildInputGrad(Graph &g, const Node &node, Value dy, Value w, const Shape &xShape) {
  return g.build(OpKind::Conv2dInputGrad, {dy, w}, convAttrs(node, "input_shape", xShape));
}
Value buildFilterGrad(Graph &g, const Node &node, Value x, Value dy, const Shape &wShape) {
  return g.build(OpKind::Conv2dFilterGrad, {x, dy}, convAttrs(node, "filter_shape", wShape));
}

// ============================================================================
// conv2d(x[N,C,H,W], w[O,C,KH,KW]) -> [N,O,OH,OW]
// ============================================================================

constexpr AttrSpec kConv2dAttrs[] = {
    {"stride", AttrKind::Ints, "[1,1]", /*printDefault=*/true},
    {"padding", AttrKind::Padding, "\"valid\"", /*printDefault=*/true},
};

std::vector<TensorType> inferConv2d(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0], &w = ctx.operands[1];
  checkFloatPair("conv2d", x, w);
  return {TensorType{x.dtype, convOutputShape("conv2d", ctx.attrs, x, w)}};
}

void evalConv2d(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    conv2dImpl<double>(node, *in[0], *in[1], out[0]);
  else
    conv2dImpl<float>(node, *in[0], *in[1], out[0]);
}

void gradConv2d(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy)
    return;
  Node &node = ctx.node();
  Value x = node.operand(0), w = node.operand(1);
  if (ctx.needsGrad(0))
    ctx.addGrad(0, buildInputGrad(ctx.graph(), node, dy, w, x.shape()));
  if (ctx.needsGrad(1))
    ctx.addGrad(1, buildFilterGrad(ctx.graph(), node, x, dy, w.shape()));
}

// ============================================================================
// conv2d_input_grad(dy[N,O,OH,OW], w[O,C,KH,KW]) {input_shape} -> [N,C,H,W]
// ============================================================================

constexpr AttrSpec kConv2dInputGradAttrs[] = {
    {"stride", AttrKind::Ints, "[1,1]", /*printDefault=*/true},
    {"padding", AttrKind::Padding, "\"valid\"", /*printDefault=*/true},
    {"input_shape", AttrKind::Ints, ""},
};

std::vector<TensorType> inferConv2dInputGrad(const InferContext &ctx) {
  std::string_view op = "conv2d_input_grad";
  const TensorType &dy = ctx.operands[0], &w = ctx.operands[1];
  checkFloatPair(op, dy, w);
  TensorType x{dy.dtype, shapeAttr(op, ctx.attrs, "input_shape")};
  Shape expected = convOutputShape(op, ctx.attrs, x, w);
  KILN_USER_CHECK(dy.shape == expected)
      << op << ": output gradient is " << typeString(dy) << ", the convolution of "
      << typeString(x) << " with " << typeString(w) << " gives " << shapeString(expected);
  return {x};
}

void evalConv2dInputGrad(const Node &node, std::span<const HostTensor *const> in,
                         std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    inputGradImpl<double>(node, *in[0], *in[1], out[0]);
  else
    inputGradImpl<float>(node, *in[0], *in[1], out[0]);
}

// input_grad(dy, w) = J^T dy is bilinear in (dy, w); with upstream G (x's shape):
// <G, input_grad(dy, w)> = <conv2d(G, w), dy> = <w, filter_grad(G, dy)>.
void gradConv2dInputGrad(GradContext &ctx) {
  Value upstream = ctx.outGrad(0);
  if (!upstream)
    return;
  Node &node = ctx.node();
  Value dy = node.operand(0), w = node.operand(1);
  if (ctx.needsGrad(0))
    ctx.addGrad(0, buildConv(ctx.graph(), node, upstream, w));
  if (ctx.needsGrad(1))
    ctx.addGrad(1, buildFilterGrad(ctx.graph(), node, upstream, dy, w.shape()));
}

// ============================================================================
// conv2d_filter_grad(x[N,C,H,W], dy[N,O,OH,OW]) {filter_shape} -> [O,C,KH,KW]
// ============================================================================

constexpr AttrSpec kConv2dFilterGradAttrs[] = {
    {"stride", AttrKind::Ints, "[1,1]", /*printDefault=*/true},
    {"padding", AttrKind::Padding, "\"valid\"", /*printDefault=*/true},
    {"filter_shape", AttrKind::Ints, ""},
};

std::vector<TensorType> inferConv2dFilterGrad(const InferContext &ctx) {
  std::string_view op = "conv2d_filter_grad";
  const TensorType &x = ctx.operands[0], &dy = ctx.operands[1];
  checkFloatPair(op, x, dy);
  TensorType w{x.dtype, shapeAttr(op, ctx.attrs, "filter_shape")};
  Shape expected = convOutputShape(op, ctx.attrs, x, w);
  KILN_USER_CHECK(dy.shape == expected)
      << op << ": output gradient is " << typeString(dy) << ", the convolution of "
      << typeString(x) << " with " << typeString(w) << " gives " << shapeString(expected);
  return {w};
}

void evalConv2dFilterGrad(const Node &node, std::span<const HostTensor *const> in,
                          std::span<HostTensor> out) {
  if (out[0].dtype() == DType::F64)
    filterGradImpl<double>(node, *in[0], *in[1], out[0]);
  else
    filterGradImpl<float>(node, *in[0], *in[1], out[0]);
}

// With upstream H (w's shape): <H, filter_grad(x, dy)> = <conv2d(x, H), dy>
// = <x, input_grad(dy, H)>.
void gradConv2dFilterGrad(GradContext &ctx) {
  Value upstream = ctx.outGrad(0);
  if (!upstream)
    return;
  Node &node = ctx.node();
  Value x = node.operand(0), dy = node.operand(1);
  if (ctx.needsGrad(0))
    ctx.addGrad(0, buildInputGrad(ctx.graph(), node, dy, upstream, x.shape()));
  if (ctx.needsGrad(1))
    ctx.addGrad(1, buildConv(ctx.graph(), node, x, upstream));
}

} // namespace

const OpHooks Conv2dHooks{
    .summary = "2-D convolution of NCHW input with OIHW filters (stride, padding, no dilation)",
    .attrs = kConv2dAttrs,
    .traits = kNoTraits,
    .infer = inferConv2d,
    .eval = evalConv2d,
    .grad = gradConv2d,
};

const OpHooks Conv2dInputGradHooks{
    .summary = "gradient of conv2d with respect to its input, given the output gradient and filters",
    .attrs = kConv2dInputGradAttrs,
    .traits = kNoTraits,
    .infer = inferConv2dInputGrad,
    .eval = evalConv2dInputGrad,
    .grad = gradConv2dInputGrad,
};

const OpHooks Conv2dFilterGradHooks{
    .summary = "gradient of conv2d with respect to its filters, given the input and output gradient",
    .attrs = kConv2dFilterGradAttrs,
    .traits = kNoTraits,
    .infer = inferConv2dFilterGrad,
    .eval = evalConv2dFilterGrad,
    .grad = gradConv2dFilterGrad,
};

} // namespace kiln
