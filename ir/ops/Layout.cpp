// ir/ops/Layout.cpp - the layout op blocks: reshape, flatten, transpose, broadcast.
//
// Layout ops move or reinterpret elements without arithmetic, so their eval
// copies raw elements and works for every dtype. Their gradients are layout
// ops again (or a sum, for broadcast).
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"
#include "ir/ops/OpUtil.h"

#include <cstring>

namespace kiln {
namespace {

/// Copies the whole buffer: reshape and flatten keep row-major order.
void evalCopy(const Node &, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  std::memcpy(out[0].bytes(), in[0]->bytes(), out[0].byteSize());
}

/// Gradient of ops that only reinterpret the shape: reshape dy back.
void gradReshapeBack(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0)) return;
  ctx.addGrad(0, ctx.graph().build(OpKind::Reshape, {dy}, intsAttr("shape", ctx.node().operand(0).shape())));
}

/// Copies out[i] = in[sum(idx_out[d] * inStrides[d])] for every element of
/// out, element by element in raw bytes (any dtype).
void gatherStrided(const HostTensor &in, HostTensor &out, const std::vector<int64_t> &inStrides) {
  const Shape &s = out.shape();
  size_t es = dtypeSize(out.dtype());
  std::vector<int64_t> idx(s.size(), 0);
  int64_t src = 0;
  for (int64_t i = 0, n = out.numel(); i < n; ++i) {
    std::memcpy(out.bytes() + i * es, in.bytes() + src * es, es);
    for (size_t d = s.size(); d-- > 0;) { // odometer increment
      src += inStrides[d];
      if (++idx[d] < s[d]) break;
      src -= inStrides[d] * s[d];
      idx[d] = 0;
    }
  }
}

// ============================================================================
// reshape {shape}: same elements, new shape; one entry may be -1
// ============================================================================

constexpr AttrSpec kReshapeAttrs[] = {{"shape", AttrKind::Ints, ""}};

std::vector<TensorType> inferReshape(const InferContext &c) {
  const TensorType &x = c.operands[0];
  Shape s = c.attrs.getInts("shape");
  int64_t known = 1, wild = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      KILN_USER_CHECK(wild < 0) << c.op << ": more than one -1 in shape " << shapeString(s);
      wild = static_cast<int64_t>(i);
      continue;
    }
    KILN_USER_CHECK(s[i] >= 0) << c.op << ": bad dimension " << s[i] << " in shape " << shapeString(s);
    known *= s[i];
  }
  if (wild >= 0) {
    KILN_USER_CHECK(known > 0 && x.numel() % known == 0)
        << c.op << ": cannot reshape " << shapeString(x.shape) << " to " << shapeString(s);
    s[wild] = x.numel() / known;
  }
  KILN_USER_CHECK(numElements(s) == x.numel())
      << c.op << ": cannot reshape " << shapeString(x.shape) << " (" << x.numel() << " elements) to "
      << shapeString(s) << " (" << numElements(s) << " elements)";
  return {TensorType{x.dtype, s}};
}

// ============================================================================
// flatten {axis}: [prod(d < axis), prod(d >= axis)]
// ============================================================================

constexpr AttrSpec kFlattenAttrs[] = {{"axis", AttrKind::Int, "1"}};

std::vector<TensorType> inferFlatten(const InferContext &c) {
  const TensorType &x = c.operands[0];
  int64_t r = static_cast<int64_t>(x.rank()), axis = c.attrs.getInt("axis");
  int64_t a = axis < 0 ? axis + r : axis;
  KILN_USER_CHECK(a >= 0 && a <= r) << c.op << ": axis " << axis << " out of range for rank " << r;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < r; ++d) (d < a ? outer : inner) *= x.shape[d];
  return {TensorType{x.dtype, {outer, inner}}};
}

// ============================================================================
// transpose {perm}: result dim i = operand dim perm[i]
// ============================================================================

constexpr AttrSpec kTransposeAttrs[] = {{"perm", AttrKind::Ints, ""}};

/// The normalized permutation of `attrs`, checked against `rank`.
std::vector<int64_t> permutation(const AttrMap &attrs, int64_t rank, std::string_view op) {
  const auto &perm = attrs.getInts("perm");
  KILN_USER_CHECK(static_cast<int64_t>(perm.size()) == rank)
      << op << ": perm " << shapeString(perm) << " does not match rank " << rank;
  std::vector<int64_t> p;
  std::vector<bool> seen(rank, false);
  for (int64_t d : perm) {
    int64_t a = normalizeAxis(d, rank, op);
    KILN_USER_CHECK(!seen[a]) << op << ": perm " << shapeString(perm) << " is not a permutation";
    seen[a] = true;
    p.push_back(a);
  }
  return p;
}

std::vector<TensorType> inferTranspose(const InferContext &c) {
  const TensorType &x = c.operands[0];
  std::vector<int64_t> p = permutation(c.attrs, static_cast<int64_t>(x.rank()), c.op);
  Shape s;
  for (int64_t d : p) s.push_back(x.shape[d]);
  return {TensorType{x.dtype, s}};
}

void evalTranspose(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  std::vector<int64_t> p = permutation(node.attrs(), static_cast<int64_t>(in[0]->type().rank()), "transpose");
  std::vector<int64_t> own = rowMajorStrides(in[0]->shape()), strides;
  for (int64_t d : p) strides.push_back(own[d]);
  gatherStrided(*in[0], out[0], strides);
}

void gradTranspose(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0)) return;
  int64_t r = static_cast<int64_t>(dy.shape().size());
  std::vector<int64_t> p = permutation(ctx.node().attrs(), r, "transpose"), inv(r);
  for (int64_t i = 0; i < r; ++i) inv[p[i]] = i;
  ctx.addGrad(0, ctx.graph().build(OpKind::Transpose, {dy}, intsAttr("perm", inv)));
}

// ============================================================================
// broadcast {shape, dims}: operand dim k -> result dim dims[k] (empty: trailing)
// ============================================================================

constexpr AttrSpec kBroadcastAttrs[] = {{"shape", AttrKind::Ints, ""}, {"dims", AttrKind::Ints, "[]"}};

std::vector<TensorType> inferBroadcast(const InferContext &c) {
  const TensorType &x = c.operands[0];
  const Shape &s = c.attrs.getInts("shape");
  for (int64_t d : s) KILN_USER_CHECK(d >= 0) << c.op << ": bad dimension " << d << " in shape " << shapeString(s);
  broadcastDimMap(x.shape, s, c.attrs.getInts("dims"), c.op);
  return {TensorType{x.dtype, s}};
}

void evalBroadcast(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  gatherStrided(*in[0], out[0], broadcastStrides(in[0]->shape(), out[0].shape(), node.attrs().getInts("dims")));
}

void gradBroadcast(GradContext &ctx) {
  Value dy = ctx.outGrad(0);
  if (!dy || !ctx.needsGrad(0)) return;
  const Node &n = ctx.node();
  ctx.addGrad(0, sumToShape(ctx.graph(), dy, n.operand(0).shape(), n.attrs().getInts("dims")));
}

} // namespace

// ============================================================================
// hooks, in ops.def order
// ============================================================================

const OpHooks ReshapeHooks{.summary = "same elements in a new shape (one dimension may be -1)",
                           .attrs = kReshapeAttrs, .infer = inferReshape, .eval = evalCopy,
                           .grad = gradReshapeBack};
const OpHooks FlattenHooks{.summary = "[prod(dims before axis), prod(dims from axis)]", .attrs = kFlattenAttrs,
                           .infer = inferFlatten, .eval = evalCopy, .grad = gradReshapeBack};
const OpHooks TransposeHooks{.summary = "permutes dimensions: result dim i is operand dim perm[i]",
                             .attrs = kTransposeAttrs, .infer = inferTranspose, .eval = evalTranspose,
                             .grad = gradTranspose};
const OpHooks BroadcastHooks{.summary = "repeats size-1 and missing dimensions up to shape",
                             .attrs = kBroadcastAttrs, .infer = inferBroadcast, .eval = evalBroadcast,
                             .grad = gradBroadcast};

} // namespace kiln
