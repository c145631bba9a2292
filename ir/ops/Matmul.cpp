// ir/ops/Matmul.cpp - the matmul op block: 2-D matrix product with optional transposes.
//
// matmul(a, b) {transpose_a, transpose_b} computes op(a) x op(b) where op
// transposes when asked: [M,K] x [K,N] -> [M,N]. Its gradients are matmuls
// again, so higher orders come for free.
#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"

namespace kiln {
namespace {

// ============================================================================
// matmul
// ============================================================================

constexpr AttrSpec kMatmulAttrs[] = {
    {"transpose_a", AttrKind::Bool, "false"},
    {"transpose_b", AttrKind::Bool, "false"},
};

std::vector<TensorType> inferMatmul(const InferContext &ctx) {
  const TensorType &a = ctx.operands[0], &b = ctx.operands[1];
  KILN_USER_CHECK(a.rank() == 2 && b.rank() == 2)
      << "matmul: operands must be 2-D, got " << typeString(a) << " x " << typeString(b);
  KILN_USER_CHECK(a.dtype == b.dtype)
      << "matmul: operand dtypes differ: " << typeString(a) << " x " << typeString(b);
  KILN_USER_CHECK(isFloat(a.dtype)) << "matmul: operands must be f32 or f64, got " << typeString(a);
  bool ta = ctx.attrs.getBool("transpose_a"), tb = ctx.attrs.getBool("transpose_b");
  int64_t m = ta ? a.shape[1] : a.shape[0], ka = ta ? a.shape[0] : a.shape[1];
  int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  KILN_USER_CHECK(ka == kb) << "matmul: inner dimensions differ: " << typeString(a)
                            << (ta ? "^T" : "") << " x " << typeString(b) << (tb ? "^T" : "");
  return {TensorType{a.dtype, {m, n}}};
}

template <typename T>
void matmulImpl(const HostTensor &a, const HostTensor &b, HostTensor &c, bool ta, bool tb) {
  int64_t m = c.shape()[0], n = c.shape()[1];
  int64_t k = ta ? a.shape()[0] : a.shape()[1];
  int64_t lda = a.shape()[1], ldb = b.shape()[1];
  const T *pa = a.data<T>(), *pb = b.data<T>();
  T *pc = c.data<T>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        double av = ta ? pa[p * lda + i] : pa[i * lda + p];
        double bv = tb ? pb[j * ldb + p] : pb[p * ldb + j];
        acc += av * bv;
      }
      pc[i * n + j] = static_cast<T>(acc);
    }
}

void evalMatmul(const Node &node, std::span<const HostTensor *const> in, std::span<HostTensor> out) {
  bool ta = node.attrs().getBool("transpose_a"), tb = node.attrs().getBool("transpose_b");
  if (out[0].dtype() == DType::F64)
    matmulImpl<double>(*in[0], *in[1], out[0], ta, tb);
  else
    matmulImpl<float>(*in[0], *in[1], out[0], ta, tb);
}

Value buildMatmul(Graph &g, Value a, Value b, bool ta, bool tb) {
  AttrMap attrs;
  attrs.set("transpose_a", ta);
  attrs.set("transpose_b", tb);
  return g.build(OpKind::Matmul, {a, b}, std::move(attrs));
}

// With A' = op(a), B' = op(b) and C = A'B': dA' = dC B'^T and dB' = A'^T dC;
// a transposed operand receives the transpose, written as a swapped product.
void gradMatmul(GradContext &ctx) {
  Value dc = ctx.outGrad(0);
  if (!dc)
    return;
  Node &node = ctx.node();
  Graph &g = ctx.graph();
  Value a = node.operand(0), b = node.operand(1);
  bool ta = node.attrs().getBool("transpose_a"), tb = node.attrs().getBool("transpose_b");
  if (ctx.needsGrad(0))
    ctx.addGrad(0, ta ? buildMatmul(g, b, dc, tb, true) : buildMatmul(g, dc, b, false, !tb));
  if (ctx.needsGrad(1))
    ctx.addGrad(1, tb ? buildMatmul(g, dc, a, true, ta) : buildMatmul(g, a, dc, !ta, false));
}

} // namespace

const OpHooks MatmulHooks{
    .summary = "matrix product op(a) x op(b) of 2-D operands, op transposing on request",
    .attrs = kMatmulAttrs,
    .traits = kNoTraits,
    .infer = inferMatmul,
    .eval = evalMatmul,
    .grad = gradMatmul,
};

} // namespace kiln
