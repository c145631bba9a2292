// codegen/LowerConv.cpp - conv2d and its input and filter gradients.
//
// Fast path: each of the three ops is a GEMM over an implicit im2col
// (codegen/LowerGemm.h): conv2d is W[O, C*KH*KW] x cols[C*KH*KW, OH*OW] per
// image; the input gradient is the transposed conv as W^T x dy-cols; the
// filter gradient is dy[O, N*OH*OW] x cols^T. The packing routines read
// through accessors that return 0 in the padding, so no im2col buffer exists.
// Fallback: direct loops with a row of accumulators.
#include "codegen/LowerConvCommon.h"
#include "codegen/LowerGemm.h"

#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"
#include "ir/ops/OpUtil.h"

#include <algorithm>
#include <array>
#include <optional>

namespace kiln::lower {

using namespace kir;

namespace {

/// A local i64 lookup table t[i] = f(i), i in [0, size), filled once per
/// parallel iteration by the GEMM's setup; returns its reader. Packing reads
/// the table instead of dividing the element index per element.
std::function<Expr(const Expr &)> table(KernelBuilder &kb, GemmSpec &s, const std::string &name, int64_t size,
                                        const std::function<Expr(const Expr &)> &f) {
  int buf = kb.local(name, DType::I64, size);
  Expr i = kb.newVar("q");
  s.setup.push_back(forLoop(i, size, ForKind::Serial, store(buf, i, f(i))));
  s.locals.push_back(buf);
  return [buf](const Expr &at) { return load(buf, DType::I64, at); };
}

/// True when y's stores (through its fused epilogue, if any) may address
/// element (n, c, oh, ow) as (n, c, 0, oh*OW + ow): the same linear address,
/// contiguous along the GEMM's columns. Holds when the epilogue is elementwise
/// on y's shape and its other operands are y-shaped or constant along H and W.
bool flatSpatialStoreOk(KernelBuilder &kb, Value y) {
  auto e = kb.pb.epilogues.find(y);
  if (e == kb.pb.epilogues.end())
    return true;
  const Shape &rs = y.shape();
  Value self = kb.pb.resolve(y);
  std::vector<Value> todo{e->second.output};
  for (size_t steps = 0; !todo.empty(); ++steps) {
    Value v = kb.pb.resolve(todo.back());
    todo.pop_back();
    Node &n = *v.node;
    if (v == self || n.kind() == OpKind::Constant)
      continue;
    if (steps > 64 || n.info().opClass != OpClass::Elementwise || v.shape() != rs)
      return false;
    std::vector<int64_t> bdims;
    if (n.attrs().has("broadcast"))
      bdims = n.attrs().getInts("broadcast");
    for (size_t i = 0; i < n.numOperands(); ++i) {
      Value o = kb.pb.resolve(n.operand(i));
      const Shape &os = o.shape();
      if (o == self)
        continue;
      if (os == rs) {
        if (kb.pb.bufferOf(o) < 0)
          todo.push_back(o);
        continue;
      }
      auto map = broadcastDimMap(os, rs, operandBroadcastDims(os, rs, bdims), n.mnemonic());
      for (size_t k = 0; k < os.size(); ++k)
        if (os[k] != 1 && (map[k] == 2 || map[k] == 3))
          return false;
    }
  }
  return true;
}

/// conv2d as C[O, OH*OW] = W[O, CKK] x cols[CKK, OH*OW], batched over images.
/// Row p = (c, kh, kw) is divided once per packed row (hoisted out of the
/// column loop).
/// Stride 1, no padding, x in a buffer: the columns are extended to whole
/// input rows, j = oh*W + ow for ow in [0, W) (the last row ends at OW), so
/// cols[p, j] = x[c, kh, kw + j] is contiguous in j and packs with vector
/// loads; the W - OW columns past each row's end are computed and dropped:
/// the epilogue stores the first OW columns of each W-column run.
/// Otherwise column j = (oh, ow) comes from lookup tables.
GemmSpec convSpec(KernelBuilder &kb, Value x, Value w, Value y, const Window2d &g) {
  const Shape &xs = x.shape(), &ws = w.shape();
  int64_t kk = ws[2] * ws[3];
  GemmSpec s;
  s.m = ws[0];
  s.k = ws[1] * kk;
  s.batch = xs[0];
  s.dtype = y.dtype();
  s.a = [&kb, w, ws](const Expr &, const Expr &o, const Expr &p) {
    auto [c, kh, kw] = filterTap(p, ws);
    return kb.valueAt(w, {o, c, kh, kw});
  };
  auto tap = [ws](const Expr &p) { return filterTap(p, ws); };
  if (!isPadded(g) && g.strideH == 1 && g.strideW == 1 && kb.pb.bufferOf(x) >= 0) {
    const int64_t width = xs[3];
    s.n = (g.outH - 1) * width + g.outW;
    s.b = [&kb, x, tap](const Expr &bi, const Expr &p, const Expr &j) {
      auto [c, kh, kw] = tap(p);
      return kb.valueAt(x, {bi, c, kh, add(kw, j)});
    };
    s.c = nullptr;
    s.runLength = width;
    s.runUsed = g.outW;
    s.cRun = [&kb, y](const Expr &bi, const Expr &o, const Expr &oh, const Expr &ow, Expr v) {
      return kb.storeResult(y, {bi, o, oh, ow}, std::move(v));
    };
    return s;
  }
  s.n = g.outH * g.outW;
  auto toh = table(kb, s, "oh", s.n, [&](const Expr &j) { return div(j, intImm(g.outW)); });
  auto tow = table(kb, s, "ow", s.n, [&](const Expr &j) { return mod(j, intImm(g.outW)); });
  if (!isPadded(g) && kb.pb.bufferOf(x) >= 0) {
    // Valid padding: the address is a row part plus a column part.
    auto off = table(kb, s, "off", s.n, [&](const Expr &j) {
      return add(mul(div(j, intImm(g.outW)), intImm(g.strideH * xs[3])), mul(mod(j, intImm(g.outW)), intImm(g.strideW)));
    });
    s.b = [&kb, x, tap, off](const Expr &bi, const Expr &p, const Expr &j) {
      auto [c, kh, kw] = tap(p);
      return kb.valueAt(x, {bi, c, kh, add(kw, off(j))});
    };
  } else {
    s.b = [&kb, x, tap, g, toh, tow](const Expr &bi, const Expr &p, const Expr &j) {
      auto [c, kh, kw] = tap(p);
      Expr ih = add(mul(toh(j), intImm(g.strideH)), sub(kh, intImm(g.pad.top)));
      Expr iw = add(mul(tow(j), intImm(g.strideW)), sub(kw, intImm(g.pad.left)));
      return paddedAt(kb, x, bi, c, ih, iw);
    };
  }
  if (flatSpatialStoreOk(kb, y))
    s.c = [&kb, y](const Expr &bi, const Expr &o, const Expr &j, Expr v) {
      return kb.storeResult(y, {bi, o, intImm(0), j}, std::move(v));
    };
  else
    s.c = [&kb, y, toh, tow](const Expr &bi, const Expr &o, const Expr &j, Expr v) {
      return kb.storeResult(y, {bi, o, toh(j), tow(j)}, std::move(v));
    };
  return s;
}

/// conv2d_input_grad per image: dx[C, H*W] = W^T[C, O*KK] x G[O*KK, H*W], where
/// G gathers dy at oh = (ih + pt - kh) / sh when that divides and lands inside.
GemmSpec inputGradSpec(KernelBuilder &kb, Value dy, Value w, Value dx, const Window2d &g) {
  const Shape &xs = dx.shape(), &ws = w.shape(), &ys = dy.shape();
  int64_t kk = ws[2] * ws[3];
  GemmSpec s;
  s.m = xs[1];
  s.n = xs[2] * xs[3];
  s.k = ws[0] * kk;
  s.batch = xs[0];
  s.dtype = dx.dtype();
  auto tih = table(kb, s, "ih", s.n, [&](const Expr &q) { return div(q, intImm(xs[3])); });
  auto tiw = table(kb, s, "iw", s.n, [&](const Expr &q) { return mod(q, intImm(xs[3])); });
  s.a = [&kb, w, kk, ws](const Expr &, const Expr &c, const Expr &p) {
    return kb.valueAt(w, {div(p, intImm(kk)), c, div(mod(p, intImm(kk)), intImm(ws[3])), mod(p, intImm(ws[3]))});
  };
  s.b = [&kb, dy, kk, ws, ys, g, tih, tiw](const Expr &bi, const Expr &p, const Expr &q) {
    Expr o = div(p, intImm(kk)), kh = div(mod(p, intImm(kk)), intImm(ws[3])), kw = mod(p, intImm(ws[3]));
    Expr th = add(tih(q), sub(intImm(g.pad.top), kh));
    Expr tw = add(tiw(q), sub(intImm(g.pad.left), kw));
    auto ok = [](const Expr &tt, int64_t stride, int64_t extent) {
      if (stride == 1)
        return inRange(tt, extent);
      Expr r = binary(BinOp::Le, intImm(0), tt);
      r = binary(BinOp::And, r, binary(BinOp::Eq, mod(tt, intImm(stride)), intImm(0)));
      return binary(BinOp::And, r, binary(BinOp::Lt, tt, intImm(extent * stride)));
    };
    Expr valid = binary(BinOp::And, ok(th, g.strideH, ys[2]), ok(tw, g.strideW, ys[3]));
    Expr oh = g.strideH == 1 ? th : div(th, intImm(g.strideH)), ow = g.strideW == 1 ? tw : div(tw, intImm(g.strideW));
    return select(valid, kb.valueAt(dy, {bi, o, clampIndex(oh, ys[2]), clampIndex(ow, ys[3])}), constant(0, dy.dtype()));
  };
  s.c = [&kb, dx, tih, tiw](const Expr &bi, const Expr &c, const Expr &q, Expr v) {
    return kb.storeResult(dx, {bi, c, tih(q), tiw(q)}, std::move(v));
  };
  return s;
}

/// conv2d_input_grad with stride 1 as a GEMM without im2col, then col2im:
/// per image cols[C*KK, OH*OW] = W^T x dy (both operands read contiguously),
/// kept in a local buffer (row q = (c, kh, kw) at q * OH*OW), then col2im:
/// dx[c, oh + kh - pt, ow + kw - pl] += cols[q, (oh, ow)] where that lands
/// inside. Null when it does not apply.
std::optional<GemmSpec> inputGradCol2im(KernelBuilder &kb, Value dy, Value w, Value dx, const Window2d &g) {
  const Shape &xs = dx.shape(), &ws = w.shape(), &ys = dy.shape();
  int64_t kk = ws[2] * ws[3], hw = ys[2] * ys[3];
  DType t = dx.dtype();
  if (g.strideH != 1 || g.strideW != 1 || kb.pb.bufferOf(dy) < 0 || kb.pb.bufferOf(w) < 0 || !isFloat(t) ||
      hw * ws[1] * kk * static_cast<int64_t>(dtypeSize(t)) > (1 << 20))
    return std::nullopt;
  GemmSpec s;
  s.m = ws[1] * kk;
  s.n = hw;
  s.k = ws[0];
  s.batch = xs[0];
  s.dtype = t;
  int cols = kb.local("cols", t, s.m * s.n);
  s.locals.push_back(cols);
  // Linear addresses through the leading dims (both are plain buffers); C's
  // rows are cols' rows, so the block is stored contiguously.
  s.a = [&kb, w](const Expr &, const Expr &q, const Expr &o) { return kb.valueAt(w, {o, intImm(0), intImm(0), q}); };
  s.b = [&kb, dy](const Expr &bi, const Expr &o, const Expr &j) { return kb.valueAt(dy, {bi, o, intImm(0), j}); };
  int64_t m = hw;
  s.c = [cols, m](const Expr &, const Expr &q, const Expr &j, Expr v) { return store(cols, add(mul(q, intImm(m)), j), v); };
  // col2im as a scatter: each tap (kh, kw) adds a contiguous block of cols
  // rows into a local dx plane; the rows that land inside are constant bounds
  // per tap, so there are no range checks and the inner loop vectorizes.
  int plane = kb.local("plane", t, xs[1] * xs[2] * xs[3]);
  s.locals.push_back(plane);
  s.finish = [&kb, dx, xs, ws, ys, g, cols, plane, m, t](const Expr &bi) {
    Expr c = kb.newVar("c"), oh = kb.newVar("oh"), ow = kb.newVar("ow"), e = kb.newVar("e");
    std::vector<Stmt> steps{forLoop(e, xs[1] * xs[2] * xs[3], ForKind::Serial, store(plane, e, constant(0, t)))};
    for (int64_t kh = 0; kh < ws[2]; ++kh)
      for (int64_t kw = 0; kw < ws[3]; ++kw) {
        int64_t dh = kh - g.pad.top, dw = kw - g.pad.left; // ih = oh + dh, iw = ow + dw
        int64_t oh0 = std::max<int64_t>(0, -dh), oh1 = std::min<int64_t>(ys[2], xs[2] - dh);
        int64_t ow0 = std::max<int64_t>(0, -dw), ow1 = std::min<int64_t>(ys[3], xs[3] - dw);
        if (oh1 <= oh0 || ow1 <= ow0)
          continue;
        Expr q = add(mul(c, intImm(ws[2] * ws[3])), intImm(kh * ws[3] + kw));
        Expr src = add(mul(q, intImm(m)), add(mul(oh, intImm(ys[3])), ow));
        Expr dst = add(mul(c, intImm(xs[2] * xs[3])), add(mul(add(oh, intImm(dh)), intImm(xs[3])), add(ow, intImm(dw))));
        Stmt upd = store(plane, dst, add(load(plane, t, dst), load(cols, t, src)));
        steps.push_back(forLoop(c, xs[1], ForKind::Serial,
                                forLoop(oh, intImm(oh0), intImm(oh1 - oh0), ForKind::Serial,
                                        forLoop(ow, intImm(ow0), intImm(ow1 - ow0), ForKind::Serial, upd))));
      }
    Expr ih = kb.newVar("ih"), iw = kb.newVar("iw");
    Stmt put = kb.storeResult(dx, {bi, c, ih, iw},
                              load(plane, t, add(mul(c, intImm(xs[2] * xs[3])), add(mul(ih, intImm(xs[3])), iw))));
    steps.push_back(forLoop(c, xs[1], ForKind::Serial,
                            forLoop(ih, xs[2], ForKind::Serial, forLoop(iw, xs[3], ForKind::Serial, put))));
    return block(std::move(steps));
  };
  return s;
}

/// conv2d_filter_grad: dw[O, C*KK] = dy[O, N*OH*OW] x cols[N*OH*OW, C*KK].
/// Column q = (c, kh, kw) comes from tables; row p = (n, oh, ow) is divided
/// once per packed row.
GemmSpec filterGradSpec(KernelBuilder &kb, Value x, Value dy, Value dw, const Window2d &g) {
  const Shape &xs = x.shape(), &ws = dw.shape(), &ys = dy.shape();
  int64_t kk = ws[2] * ws[3], hw = ys[2] * ys[3];
  GemmSpec s;
  s.m = ws[0];
  s.n = ws[1] * kk;
  s.k = xs[0] * hw;
  s.dtype = dw.dtype();
  auto tc = table(kb, s, "c", s.n, [&](const Expr &q) { return div(q, intImm(kk)); });
  auto tkh = table(kb, s, "kh", s.n, [&](const Expr &q) { return div(mod(q, intImm(kk)), intImm(ws[3])); });
  auto tkw = table(kb, s, "kw", s.n, [&](const Expr &q) { return mod(q, intImm(ws[3])); });
  s.a = [&kb, dy, hw, ys](const Expr &, const Expr &o, const Expr &p) {
    Expr r = mod(p, intImm(hw));
    return kb.valueAt(dy, {div(p, intImm(hw)), o, div(r, intImm(ys[3])), mod(r, intImm(ys[3]))});
  };
  if (!isPadded(g) && kb.pb.bufferOf(x) >= 0) {
    // Valid padding: the address is a row part plus a column part.
    auto off = table(kb, s, "off", s.n, [&](const Expr &q) {
      return add(add(mul(div(q, intImm(kk)), intImm(xs[2] * xs[3])), mul(div(mod(q, intImm(kk)), intImm(ws[3])), intImm(xs[3]))),
                 mod(q, intImm(ws[3])));
    });
    s.b = [&kb, x, hw, ys, g, off](const Expr &, const Expr &p, const Expr &q) {
      Expr r = mod(p, intImm(hw));
      Expr n = div(p, intImm(hw)), oh = div(r, intImm(ys[3])), ow = mod(r, intImm(ys[3]));
      return kb.valueAt(x, {n, intImm(0), mul(oh, intImm(g.strideH)), add(mul(ow, intImm(g.strideW)), off(q))});
    };
  } else {
    s.b = [&kb, x, hw, ys, g, tc, tkh, tkw](const Expr &, const Expr &p, const Expr &q) {
      Expr r = mod(p, intImm(hw));
      Expr n = div(p, intImm(hw)), oh = div(r, intImm(ys[3])), ow = mod(r, intImm(ys[3]));
      Expr ih = add(mul(oh, intImm(g.strideH)), sub(tkh(q), intImm(g.pad.top)));
      Expr iw = add(mul(ow, intImm(g.strideW)), sub(tkw(q), intImm(g.pad.left)));
      return paddedAt(kb, x, n, tc(q), ih, iw);
    };
  }
  s.c = [&kb, dw, tc, tkh, tkw](const Expr &, const Expr &o, const Expr &q, Expr v) {
    return kb.storeResult(dw, {o, tc(q), tkh(q), tkw(q)}, std::move(v));
  };
  return s;
}

void conv2dLoops(KernelBuilder &kb, Node &node) {
  Value x = node.operand(0), w = node.operand(1), y = node.result();
  const Shape &xs = x.shape(), &ws = w.shape();
  Window2d g = convGeometry(node, xs, ws);
  DType t = y.dtype();
  Expr n = kb.newVar("n"), o = kb.newVar("o"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr c = kb.newVar("c"), kh = kb.newVar("kh"), kw = kb.newVar("kw");
  int acc = kb.local("acc", t, g.outW);
  Expr ih = add(mul(oh, intImm(g.strideH)), sub(kh, intImm(g.pad.top)));
  Expr iw = add(mul(ow, intImm(g.strideW)), sub(kw, intImm(g.pad.left)));
  Expr prod = mul(paddedAt(kb, x, n, c, ih, iw), kb.valueAt(w, {o, c, kh, kw}));
  Stmt upd = forLoop(ow, g.outW, ForKind::Serial, store(acc, ow, add(load(acc, t, ow), prod)));
  upd = forLoop(c, ws[1], ForKind::Serial,
                forLoop(kh, ws[2], ForKind::Serial, forLoop(kw, ws[3], ForKind::Serial, upd)));
  Stmt init = forLoop(ow, g.outW, ForKind::Serial, store(acc, ow, constant(0, t)));
  Stmt fin = forLoop(ow, g.outW, ForKind::Serial, kb.storeResult(y, {n, o, oh, ow}, load(acc, t, ow)));
  Stmt s = forLoop(oh, g.outH, ForKind::Serial, alloc(acc, block({init, upd, fin})));
  s = forLoop(n, xs[0], ForKind::Serial, forLoop(o, ws[0], ForKind::Serial, s));
  kb.kernel.body = kb.makeParallel(s, 2.0 * static_cast<double>(ws[0] * ws[1] * ws[2] * ws[3] * g.outH * g.outW));
}

/// dx[n,c,ih,iw] = sum over o, kh, kw of dy[n,o,oh,ow] w[o,c,kh,kw] where
/// ih = oh*sh - pt + kh (gather form, one accumulator row per (n, c, ih)).
void inputGradLoops(KernelBuilder &kb, Node &node) {
  Value dy = node.operand(0), w = node.operand(1), dx = node.result();
  const Shape &xs = dx.shape(), &ws = w.shape(), &ys = dy.shape();
  Window2d g = convGeometry(node, xs, ws);
  DType t = dx.dtype();
  Expr n = kb.newVar("n"), c = kb.newVar("c"), ih = kb.newVar("ih"), iw = kb.newVar("iw");
  Expr o = kb.newVar("o"), kh = kb.newVar("kh"), kw = kb.newVar("kw");
  int acc = kb.local("acc", t, xs[3]);
  Expr th = sub(add(ih, intImm(g.pad.top)), kh), tw = sub(add(iw, intImm(g.pad.left)), kw);
  Expr oh = div(th, intImm(g.strideH)), ow = div(tw, intImm(g.strideW));
  Expr rowOk = binary(BinOp::And, binary(BinOp::Le, intImm(0), th),
                      binary(BinOp::And, binary(BinOp::Eq, mod(th, intImm(g.strideH)), intImm(0)),
                             binary(BinOp::Lt, oh, intImm(ys[2]))));
  Expr colOk = binary(BinOp::And, binary(BinOp::Le, intImm(0), tw),
                      binary(BinOp::And, binary(BinOp::Eq, mod(tw, intImm(g.strideW)), intImm(0)),
                             binary(BinOp::Lt, ow, intImm(ys[3]))));
  Expr dyv = kb.valueAt(dy, {n, o, oh, clampIndex(ow, ys[3])});
  Expr prod = select(colOk, mul(dyv, kb.valueAt(w, {o, c, kh, kw})), constant(0, t));
  Stmt upd = forLoop(iw, xs[3], ForKind::Serial, store(acc, iw, add(load(acc, t, iw), prod)));
  upd = forLoop(o, ws[0], ForKind::Serial,
                forLoop(kh, ws[2], ForKind::Serial, ifThen(rowOk, forLoop(kw, ws[3], ForKind::Serial, upd))));
  Stmt init = forLoop(iw, xs[3], ForKind::Serial, store(acc, iw, constant(0, t)));
  Stmt fin = forLoop(iw, xs[3], ForKind::Serial, kb.storeResult(dx, {n, c, ih, iw}, load(acc, t, iw)));
  Stmt s = forLoop(ih, xs[2], ForKind::Serial, alloc(acc, block({init, upd, fin})));
  s = forLoop(n, xs[0], ForKind::Serial, forLoop(c, xs[1], ForKind::Serial, s));
  kb.kernel.body = kb.makeParallel(s, 2.0 * static_cast<double>(xs[1] * xs[2] * xs[3] * ws[0] * ws[2] * ws[3]));
}

/// dw[o,c,kh,kw] = sum over n, oh, ow of x[n,c,ih,iw] dy[n,o,oh,ow].
void filterGradLoops(KernelBuilder &kb, Node &node) {
  Value x = node.operand(0), dy = node.operand(1), dw = node.result();
  const Shape &xs = x.shape(), &ws = dw.shape(), &ys = dy.shape();
  Window2d g = convGeometry(node, xs, ws);
  DType t = dw.dtype();
  Expr o = kb.newVar("o"), c = kb.newVar("c"), n = kb.newVar("n"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr kh = kb.newVar("kh"), kw = kb.newVar("kw");
  int64_t kk = ws[2] * ws[3];
  int acc = kb.local("acc", t, kk);
  Expr slot = add(mul(kh, intImm(ws[3])), kw);
  Expr ih = add(mul(oh, intImm(g.strideH)), sub(kh, intImm(g.pad.top)));
  Expr iw = add(mul(ow, intImm(g.strideW)), sub(kw, intImm(g.pad.left)));
  Expr prod = mul(paddedAt(kb, x, n, c, ih, iw), kb.valueAt(dy, {n, o, oh, ow}));
  Stmt upd = forLoop(ow, ys[3], ForKind::Serial, store(acc, slot, add(load(acc, t, slot), prod)));
  upd = forLoop(n, xs[0], ForKind::Serial,
                forLoop(oh, ys[2], ForKind::Serial,
                        forLoop(kh, ws[2], ForKind::Serial, forLoop(kw, ws[3], ForKind::Serial, upd))));
  Expr q = kb.newVar("q");
  Stmt init = forLoop(q, kk, ForKind::Serial, store(acc, q, constant(0, t)));
  Stmt fin = forLoop(kh, ws[2], ForKind::Serial,
                     forLoop(kw, ws[3], ForKind::Serial, kb.storeResult(dw, {o, c, kh, kw}, load(acc, t, slot))));
  Stmt s = forLoop(c, ws[1], ForKind::Serial, alloc(acc, block({init, upd, fin})));
  kb.kernel.body =
      kb.makeParallel(forLoop(o, ws[0], ForKind::Serial, s), 2.0 * static_cast<double>(ws[1] * kk * xs[0] * ys[2] * ys[3]));
}

} // namespace

Stmt filterGradStore(KernelBuilder &kb, Value dw, const Expr &o, const Expr &q, Expr v) {
  auto [c, kh, kw] = filterTap(q, dw.shape());
  return kb.storeResult(dw, {o, c, kh, kw}, std::move(v));
}

PartSums partSums(ProgramBuilder &pb, KernelBuilder &kb, const std::string &name, Value dw, int64_t parts,
                  const Expr &part) {
  PartSums r;
  if (parts == 1) {
    r.put = [&kb, dw](const Expr &o, const Expr &q, Expr v) { return filterGradStore(kb, dw, o, q, std::move(v)); };
    return r;
  }
  const Shape &ws = dw.shape();
  const int64_t o = ws[0], q = ws[1] * ws[2] * ws[3];
  r.scratch = pb.addBuffer(name + ".parts", TensorType{dw.dtype(), {parts, o, q}}, BufferRole::Temp);
  int sb = kb.param(r.scratch, /*write=*/true);
  r.put = [sb, part, o, q](const Expr &oi, const Expr &qi, Expr v) {
    return store(sb, add(mul(add(mul(part, intImm(o)), oi), intImm(q)), qi), std::move(v));
  };
  return r;
}

void finishPartSums(ProgramBuilder &pb, const std::string &name, Value dw, const PartSums &sums, int64_t parts) {
  if (parts == 1)
    return;
  const Shape &ws = dw.shape();
  lowerPartsSum(pb, name, sums.scratch, parts, ws[0], ws[1] * ws[2] * ws[3], dw.dtype(),
                [dw](KernelBuilder &k, const Expr &o, const Expr &q, Expr v) { return filterGradStore(k, dw, o, q, v); });
}

void lowerConv(ProgramBuilder &pb, Node &n, const std::string &name) {
  KernelBuilder kb(pb, name);
  bool blocked = pb.opt.blockedKernels;
  switch (n.kind()) {
  case OpKind::Conv2d:
    if (blocked) {
      if (convWinograd(pb, n, name) || convChannels(pb, n, name) || convRows(pb, n, name))
        return;
      Value x = n.operand(0), w = n.operand(1);
      Window2d g = convGeometry(n, x.shape(), w.shape());
      kb.kernel.body = buildGemm(kb, convSpec(kb, x, w, n.result(), g), pb.opt.vectorBytes);
      if (kb.kernel.body)
        break;
    }
    conv2dLoops(kb, n);
    break;
  case OpKind::Conv2dInputGrad:
    if (blocked) {
      if (inputGradWinograd(pb, n, name) || inputGradChannels(pb, n, name))
        return;
      Window2d g = convGeometry(n, n.result().shape(), n.operand(1).shape());
      if (auto col2im = inputGradCol2im(kb, n.operand(0), n.operand(1), n.result(), g))
        kb.kernel.body = buildGemm(kb, *col2im, pb.opt.vectorBytes);
      else
        kb.kernel.body = buildGemm(kb, inputGradSpec(kb, n.operand(0), n.operand(1), n.result(), g), pb.opt.vectorBytes);
      if (kb.kernel.body)
        break;
    }
    inputGradLoops(kb, n);
    break;
  case OpKind::Conv2dFilterGrad:
    if (blocked) {
      Value x = n.operand(0), dy = n.operand(1), dw = n.result();
      Window2d g = convGeometry(n, x.shape(), dw.shape());
      if (filterGradRows(pb, n, name) || filterGradWinograd(pb, n, name) || filterGradChannels(pb, n, name))
        return;
      // A small dw with a long K (N*OH*OW) has too few blocks for the threads.
      if (lowerSplitK(
              pb, name, [&](KernelBuilder &k) { return filterGradSpec(k, x, dy, dw, g); },
              [&](KernelBuilder &k, const Expr &o, const Expr &q, Expr v) { return filterGradStore(k, dw, o, q, v); }))
        return;
      kb.kernel.body = buildGemm(kb, filterGradSpec(kb, x, dy, dw, g), pb.opt.vectorBytes);
      if (kb.kernel.body)
        break;
    }
    filterGradLoops(kb, n);
    break;
  default: KILN_INTERNAL_ERROR() << "lowering: " << n.mnemonic() << " is not a convolution";
  }
  pb.finish(kb);
}

} // namespace kiln::lower
