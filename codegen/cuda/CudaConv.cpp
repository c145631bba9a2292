// codegen/cuda/CudaConv.cpp - conv2d and its two gradients as implicit GEMMs (NCHW, OIHW).
//
// With KK = KH*KW and images folded into the GEMM's columns:
//   conv2d:             y[n,o,oh,ow]   C[O, N*OH*OW]   = W[O, C*KK]       x cols(x)[C*KK, N*OH*OW]
//   conv2d_input_grad:  dx[n,c,ih,iw]  C[C, N*H*W]     = W^T[C, O*KK]     x taps(dy)[O*KK, N*H*W]
//   conv2d_filter_grad: dw[o,c,kh,kw]  C[O, C*KK]      = dy[O, N*OH*OW]   x cols(x)^T[N*OH*OW, C*KK]
// cols(x) reads x at (oh*sh - pt + kh, ow*sw - pl + kw), zero in the padding;
// taps(dy) reads dy at oh = (ih + pt - kh) / sh when that divides exactly and
// lands inside dy, zero otherwise. The filter gradient's long K usually splits
// over blocks (codegen/cuda/CudaGemm.cpp).
#include "codegen/cuda/CudaLowerContext.h"

#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

namespace kiln::cuda {

using namespace kir;

namespace {

/// v (NCHW) at (n, c, ih, iw), 0 outside [0,H)x[0,W).
Expr paddedAt(KernelBuilder &kb, Value v, const Expr &n, const Expr &c, const Expr &ih, const Expr &iw) {
  const Shape &s = v.shape();
  Expr ok = binary(BinOp::And, lower::inRange(ih, s[2]), lower::inRange(iw, s[3]));
  Expr x = kb.valueAt(v, {n, c, lower::clampIndex(ih, s[2]), lower::clampIndex(iw, s[3])});
  return select(ok, x, constant(0, v.dtype()));
}

/// Splits q into (q / d, q % d).
std::pair<Expr, Expr> divmod(const Expr &q, int64_t d) { return {div(q, intImm(d)), mod(q, intImm(d))}; }

} // namespace

void lowerCudaConv(CudaBuilder &cb, Node &node, const std::string &name) {
  Value in0 = node.operand(0), in1 = node.operand(1), out = node.result();
  // x's and w's shapes, whichever of operands and result they are here.
  const Shape &xs = node.kind() == OpKind::Conv2dInputGrad ? out.shape() : in0.shape();
  const Shape &ws = node.kind() == OpKind::Conv2dFilterGrad ? out.shape() : in1.shape();
  Window2d win = convGeometry(node.mnemonic(), node.attrs(), xs, ws);
  const int64_t kk = ws[2] * ws[3], kw = ws[3], ohw = win.outH * win.outW, hw = xs[2] * xs[3];
  GpuGemm g;
  g.dtype = out.dtype();
  // Filter tap (c or o, kh, kw) of a flat index over [*, KH, KW].
  auto tap = [kk, kw](const Expr &q) {
    auto [outer, r] = divmod(q, kk);
    auto [kh, kwi] = divmod(r, kw);
    return std::tuple{outer, kh, kwi};
  };
  auto colAt = [win](const Expr &q) {
    auto [n, r] = divmod(q, win.outH * win.outW);
    auto [oh, ow] = divmod(r, win.outW);
    return std::tuple{n, oh, ow};
  };
  auto inputRow = [win](const Expr &oh, const Expr &kh) { return add(mul(oh, intImm(win.strideH)), sub(kh, intImm(win.pad.top))); };
  auto inputCol = [win](const Expr &ow, const Expr &kwi) { return add(mul(ow, intImm(win.strideW)), sub(kwi, intImm(win.pad.left))); };

  switch (node.kind()) {
  case OpKind::Conv2d: {
    Value x = in0, w = in1, y = out;
    g.m = ws[0], g.n = xs[0] * ohw, g.k = ws[1] * kk;
    g.aFastK = true, g.bFastK = false;
    g.a = [w, tap](KernelBuilder &kb, const Expr &o, const Expr &p) {
      auto [c, kh, kwi] = tap(p);
      return kb.valueAt(w, {o, c, kh, kwi});
    };
    Node *pool = cb.poolAfter;
    cb.poolAfter = nullptr;
    // Output position of GEMM column j: (n, oh, ow), or with a fused 2x2
    // pool element j % 4 of pooled position j / 4 = (n, ph, pw).
    const int64_t ph = win.outH / 2, pw = win.outW / 2;
    auto windowAt = [=](const Expr &q, const Expr &dy, const Expr &dx) { // element (dy, dx) of window q
      auto [n, r] = divmod(q, ph * pw);
      auto [pr, pc] = divmod(r, pw);
      return std::tuple{n, add(mul(pr, intImm(2)), dy), add(mul(pc, intImm(2)), dx)};
    };
    auto outAt = [=](const Expr &j) {
      if (!pool)
        return colAt(j);
      auto [q, e] = divmod(j, 4);
      return windowAt(q, div(e, intImm(2)), mod(e, intImm(2)));
    };
    g.b = [=](KernelBuilder &kb, const Expr &p, const Expr &j) {
      auto [c, kh, kwi] = tap(p);
      auto [n, oh, ow] = outAt(j);
      return paddedAt(kb, x, n, c, inputRow(oh, kh), inputCol(ow, kwi));
    };
    g.c = [=](KernelBuilder &kb, const Expr &o, const Expr &j, Expr v) {
      auto [n, oh, ow] = outAt(j);
      return kb.storeResult(y, {n, o, oh, ow}, std::move(v));
    };
    if (pool) {
      g.pool.positions = xs[0] * ph * pw;
      // The epilogue's value (bias, relu, ...): what storeResult would store.
      g.pool.value = [=](KernelBuilder &kb, const Expr &o, const Expr &q, int w, Expr acc) {
        auto [n, oh, ow] = windowAt(q, intImm(w / 2), intImm(w % 2));
        return kb.epilogueValue(y, {n, o, oh, ow}, std::move(acc));
      };
      // The activation before pooling, as the region's other readers see it.
      auto ep = cb.pb.epilogues.find(y);
      Value kept = ep != cb.pb.epilogues.end() ? ep->second.output : y;
      int keptBuffer = ep != cb.pb.epilogues.end() ? ep->second.outputBuffer : cb.pb.bufferOf(y);
      KILN_INTERNAL_CHECK(keptBuffer >= 0) << "cuda lowering: the activation before a fused pool has no buffer";
      g.pool.keep = [=](KernelBuilder &kb, const Expr &o, const Expr &q, int w, Expr v) {
        auto [n, oh, ow] = windowAt(q, intImm(w / 2), intImm(w % 2));
        return store(kb.param(keptBuffer, true), lower::linearIndex({n, o, oh, ow}, kept.shape()), std::move(v));
      };
      g.pool.pooled = [pool](KernelBuilder &kb, const Expr &o, const Expr &q, Expr v) {
        const Shape &ps = pool->result().shape();
        auto [n, r] = divmod(q, ps[2] * ps[3]);
        auto [pr, pc] = divmod(r, ps[3]);
        return kb.storeResult(pool->result(), {n, o, pr, pc}, std::move(v));
      };
    }
    break;
  }
  case OpKind::Conv2dInputGrad: {
    Value dy = in0, w = in1, dx = out;
    g.m = xs[1], g.n = xs[0] * hw, g.k = ws[0] * kk;
    g.aFastK = true, g.bFastK = false;
    g.a = [w, tap](KernelBuilder &kb, const Expr &c, const Expr &p) {
      auto [o, kh, kwi] = tap(p);
      return kb.valueAt(w, {o, c, kh, kwi});
    };
    g.b = [=](KernelBuilder &kb, const Expr &p, const Expr &j) {
      auto [o, kh, kwi] = tap(p);
      auto [n, r] = divmod(j, hw);
      auto [ih, iw] = divmod(r, xs[3]);
      Expr th = sub(add(ih, intImm(win.pad.top)), kh), tw = sub(add(iw, intImm(win.pad.left)), kwi);
      Expr oh = div(th, intImm(win.strideH)), ow = div(tw, intImm(win.strideW));
      auto fits = [](const Expr &t, int64_t stride, const Expr &q, int64_t extent) {
        Expr ok = binary(BinOp::And, binary(BinOp::Le, intImm(0), t), binary(BinOp::Lt, q, intImm(extent)));
        return stride == 1 ? ok : binary(BinOp::And, ok, binary(BinOp::Eq, mod(t, intImm(stride)), intImm(0)));
      };
      Expr ok = binary(BinOp::And, fits(th, win.strideH, oh, win.outH), fits(tw, win.strideW, ow, win.outW));
      Expr v = kb.valueAt(dy, {n, o, lower::clampIndex(oh, win.outH), lower::clampIndex(ow, win.outW)});
      return select(ok, v, constant(0, dy.dtype()));
    };
    g.c = [=](KernelBuilder &kb, const Expr &c, const Expr &j, Expr v) {
      auto [n, r] = divmod(j, hw);
      auto [ih, iw] = divmod(r, xs[3]);
      return kb.storeResult(dx, {n, c, ih, iw}, std::move(v));
    };
    break;
  }
  case OpKind::Conv2dFilterGrad: {
    Value x = in0, dy = in1, dw = out;
    g.m = ws[0], g.n = ws[1] * kk, g.k = xs[0] * ohw;
    g.aFastK = true, g.bFastK = true;
    g.a = [=](KernelBuilder &kb, const Expr &o, const Expr &p) {
      auto [n, oh, ow] = colAt(p);
      return kb.valueAt(dy, {n, o, oh, ow});
    };
    g.b = [=](KernelBuilder &kb, const Expr &p, const Expr &j) {
      auto [c, kh, kwi] = tap(j);
      auto [n, oh, ow] = colAt(p);
      return paddedAt(kb, x, n, c, inputRow(oh, kh), inputCol(ow, kwi));
    };
    g.c = [=](KernelBuilder &kb, const Expr &o, const Expr &j, Expr v) {
      auto [c, kh, kwi] = tap(j);
      return kb.storeResult(dw, {o, c, kh, kwi}, std::move(v));
    };
    break;
  }
  default: KILN_INTERNAL_ERROR() << "cuda lowering: " << node.mnemonic() << " is not a convolution";
  }
  emitGemm(cb, g, name);
}

} // namespace kiln::cuda
