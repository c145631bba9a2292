// codegen/LowerPool.cpp - max/avg pooling and their gradients (NCHW).
//
// Forward pooling keeps one output row of accumulators; windows in the
// padding are skipped (max) or not counted (avg). The gradients scatter into
// a local plane per (n, c), then store the plane through storeResult, so a
// fused consumer (the relu gradient after max_pool2d_grad) applies on the fly.
#include "codegen/LowerContext.h"

#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

#include <cmath>
#include <functional>

namespace kiln::lower {

using namespace kir;

namespace {

Window2d poolGeometry(Node &node, const Shape &x) {
  const std::vector<int64_t> &k = node.attrs().getInts("kernel");
  KILN_USER_CHECK(k.size() == 2) << node.mnemonic() << ": kernel needs 2 values";
  return windowGeometry(node.mnemonic(), node.attrs(), x[2], x[3], k[0], k[1]);
}

bool hasPadding(const Window2d &g) {
  return g.pad.top || g.pad.left || g.pad.bottom || g.pad.right ||
         (g.outH - 1) * g.strideH + g.kernelH > g.inH || (g.outW - 1) * g.strideW + g.kernelW > g.inW;
}

/// The first maximum's position (scan order) among a window's `count` values
/// value(0), value(1), ...: a select chain in which a later value wins only
/// when greater (the tie rule of poolBackward; a NaN never wins). bind names
/// each value after the first and each comparison (a let, or the expression
/// itself).
Expr firstMaxIndex(int64_t count, const std::function<Expr(int64_t)> &value,
                   const std::function<Expr(const Expr &, DType)> &bind) {
  Expr bestV = value(0), bestI = intImm(0);
  for (int64_t i = 1; i < count; ++i) {
    Expr v = bind(value(i), bestV->type.dtype);
    Expr gt = bind(binary(BinOp::Lt, bestV, v), DType::Bool);
    bestV = select(gt, v, bestV);
    bestI = select(gt, intImm(i), bestI);
  }
  return bestI;
}

/// Number of window elements inside the input at output (oh, ow), as dtype t.
Expr windowCount(const Window2d &g, const Expr &oh, const Expr &ow, DType t) {
  Expr r0 = sub(mul(oh, intImm(g.strideH)), intImm(g.pad.top));
  Expr c0 = sub(mul(ow, intImm(g.strideW)), intImm(g.pad.left));
  Expr rows = sub(min(add(r0, intImm(g.kernelH)), intImm(g.inH)), max(r0, intImm(0)));
  Expr cols = sub(min(add(c0, intImm(g.kernelW)), intImm(g.inW)), max(c0, intImm(0)));
  return cast(mul(rows, cols), t);
}

/// Forward max/avg pooling: loops n, c, oh, kh, kw, ow with a row of accumulators.
void poolForward(KernelBuilder &kb, Node &node, bool isMax) {
  Value x = node.operand(0), y = node.result();
  const Shape &xs = x.shape();
  Window2d g = poolGeometry(node, xs);
  DType t = y.dtype();
  Expr n = kb.newVar("n"), c = kb.newVar("c"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr kh = kb.newVar("kh"), kw = kb.newVar("kw");
  int acc = kb.local("acc", t, g.outW);
  Expr ih = add(mul(oh, intImm(g.strideH)), sub(kh, intImm(g.pad.top)));
  Expr iw = add(mul(ow, intImm(g.strideW)), sub(kw, intImm(g.pad.left)));
  bool pad = hasPadding(g);
  Expr xv = kb.valueAt(x, {n, c, pad ? clampIndex(ih, g.inH) : ih, pad ? clampIndex(iw, g.inW) : iw});
  Expr cur = load(acc, t, ow);
  Expr next = isMax ? max(xv, cur) : add(cur, xv);
  if (pad)
    next = select(binary(BinOp::And, inRange(ih, g.inH), inRange(iw, g.inW)), next, cur);
  Stmt upd = forLoop(kh, g.kernelH, ForKind::Serial,
                     forLoop(kw, g.kernelW, ForKind::Serial, forLoop(ow, g.outW, ForKind::Serial, store(acc, ow, next))));
  Stmt init = forLoop(ow, g.outW, ForKind::Serial, store(acc, ow, isMax ? floatImm(-INFINITY, t) : constant(0, t)));
  Expr result = isMax ? load(acc, t, ow) : div(load(acc, t, ow), windowCount(g, oh, ow, t));
  Stmt fin = forLoop(ow, g.outW, ForKind::Serial, kb.storeResult(y, {n, c, oh, ow}, result));
  Stmt s = forLoop(oh, g.outH, ForKind::Serial, alloc(acc, block({init, upd, fin})));
  s = forLoop(n, xs[0], ForKind::Serial, forLoop(c, xs[1], ForKind::Serial, s));
  kb.kernel.body = kb.makeParallel(s, static_cast<double>(xs[1] * g.outH * g.outW * g.kernelH * g.kernelW));
}

/// Max pooling without padding: per output row, the window's input rows are
/// folded into one row with contiguous (vectorizable) loads, then each output
/// takes the max over its kernelW columns of that row. (Windows read in
/// another order than poolForward; max is order-independent, NaN included.)
void maxPoolRows(KernelBuilder &kb, Node &node) {
  Value x = node.operand(0), y = node.result();
  const Shape &xs = x.shape();
  Window2d g = poolGeometry(node, xs);
  DType t = y.dtype();
  Expr n = kb.newVar("n"), c = kb.newVar("c"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr kh = kb.newVar("kh"), iw = kb.newVar("iw");
  int64_t w = (g.outW - 1) * g.strideW + g.kernelW; // input columns any window reads
  int row = kb.local("row", t, w);
  Expr xv = kb.valueAt(x, {n, c, add(mul(oh, intImm(g.strideH)), kh), iw});
  Stmt init = forLoop(iw, w, ForKind::Serial, store(row, iw, floatImm(-INFINITY, t)));
  Stmt fold = forLoop(kh, g.kernelH, ForKind::Serial,
                      forLoop(iw, w, ForKind::Serial, store(row, iw, max(xv, load(row, t, iw)))));
  Expr best = floatImm(-INFINITY, t);
  for (int64_t kw = 0; kw < g.kernelW; ++kw)
    best = max(load(row, t, add(mul(ow, intImm(g.strideW)), intImm(kw))), best);
  // Strided reads of the folded row: vectorized they become gathers, which
  // cost several times the scalar loop.
  Stmt fin = forLoop(ow, g.outW, g.strideW > 1 ? ForKind::Scalar : ForKind::Serial,
                     kb.storeResult(y, {n, c, oh, ow}, best));
  Stmt s = forLoop(oh, g.outH, ForKind::Serial, alloc(row, block({init, fold, fin})));
  s = forLoop(n, xs[0], ForKind::Serial, forLoop(c, xs[1], ForKind::Serial, s));
  kb.kernel.body = kb.makeParallel(s, static_cast<double>(xs[1] * g.outH * g.outW * g.kernelH * g.kernelW));
}

/// True when the windows tile the input exactly: stride = kernel, no padding,
/// and the kernel divides the input (every input element in one window).
bool windowsTile(const Window2d &g) {
  return !hasPadding(g) && g.strideH == g.kernelH && g.strideW == g.kernelW && g.inH == g.outH * g.kernelH &&
         g.inW == g.outW * g.kernelW;
}

} // namespace

bool readsOncePerWindow(const Node &n) { return n.kind() == OpKind::MaxPool2dGrad; }

bool maxPoolGradTiles(Node &n) {
  return n.kind() == OpKind::MaxPool2dGrad && windowsTile(poolGeometry(n, n.result().shape()));
}

Expr maxPoolGradAt(KernelBuilder &kb, Node &node, const Index &idx) {
  KILN_INTERNAL_CHECK(maxPoolGradTiles(node)) << "lowering: " << node.mnemonic() << " inline needs windows that tile";
  Value dy = node.operand(0), x = node.operand(1);
  const Window2d g = poolGeometry(node, node.result().shape());
  const Expr kh = intImm(g.kernelH), kw = intImm(g.kernelW);
  const Expr oh = div(idx[2], kh), ow = div(idx[3], kw);
  // Where idx lies in its window (row-major), and the window's first maximum.
  const Expr mine = add(mul(mod(idx[2], kh), kw), mod(idx[3], kw));
  Expr bestI = firstMaxIndex(
      g.kernelH * g.kernelW,
      [&](int64_t i) {
        return kb.valueAt(
            x, {idx[0], idx[1], add(mul(oh, kh), intImm(i / g.kernelW)), add(mul(ow, kw), intImm(i % g.kernelW))});
      },
      [](const Expr &e, DType) { return e; });
  return select(binary(BinOp::Eq, bestI, mine), kb.valueAt(dy, {idx[0], idx[1], oh, ow}), constant(0, dy.dtype()));
}

namespace {

/// maxPoolGradImage for 2x2 windows, along input rows so that the loops
/// vectorize without gathers: per pair of input rows, both rows are copied
/// into local rows with a spare element at each end and dy is repeated per
/// column; then input column j finds its window's four values with loads at
/// j - 1, j, j + 1 (the partner column is j + 1 for even j, j - 1 for odd),
/// runs the same select chain as the scalar form (same ties, same NaN
/// handling) and writes both rows' elements of column j through storeResult.
Stmt maxPoolGradPairs(KernelBuilder &kb, Node &node, const Expr &n) {
  Value dy = node.operand(0), x = node.operand(1), dx = node.result();
  const Shape &xs = dx.shape(), &ys = dy.shape();
  DType t = dx.dtype();
  const int64_t w = xs[3];
  Expr c = kb.newVar("c"), oh = kb.newVar("oh"), j = kb.newVar("j"), p = kb.newVar("p");
  int top = kb.local("top", t, w + 2), bottom = kb.local("bottom", t, w + 2), rep = kb.local("dyrep", t, w);
  Expr r0 = mul(oh, intImm(2)), r1 = add(r0, intImm(1));
  auto copy = [&](int row, const Expr &r) {
    return block({store(row, intImm(0), constant(0, t)), store(row, intImm(w + 1), constant(0, t)),
                  forLoop(j, w, ForKind::Serial, store(row, add(j, intImm(1)), kb.valueAt(x, {n, c, r, j})))});
  };
  Expr gv = kb.newVar("g", {t, 1});
  Stmt repeat = forLoop(p, ys[3], ForKind::Scalar,
                        letStmt(gv, kb.valueAt(dy, {n, c, oh, p}),
                                block({store(rep, mul(p, intImm(2)), gv), store(rep, add(mul(p, intImm(2)), intImm(1)), gv)})));
  Expr odd = kb.newVar("odd", {DType::Bool, 1});
  auto at = [&](int row, int64_t shift) { return load(row, t, add(j, intImm(shift + 1))); };
  // Window values in scan order: (r0, even), (r0, odd), (r1, even), (r1, odd).
  std::vector<std::pair<Expr, Expr>> lets{{odd, binary(BinOp::Eq, mod(j, intImm(2)), intImm(1))}};
  Expr v[4];
  for (int k = 0; k < 4; ++k) {
    int row = k < 2 ? top : bottom;
    v[k] = kb.newVar("v", {t, 1});
    lets.push_back({v[k], k % 2 == 0 ? select(odd, at(row, -1), at(row, 0)) : select(odd, at(row, 0), at(row, 1))});
  }
  Expr bestV = v[0], bestI = intImm(0, DType::I32);
  for (int k = 1; k < 4; ++k) {
    Expr gt = kb.newVar("gt", {DType::Bool, 1});
    lets.push_back({gt, binary(BinOp::Lt, bestV, v[k])});
    if (k < 3) {
      Expr b = kb.newVar("best", {t, 1});
      lets.push_back({b, select(gt, v[k], bestV)});
      bestV = b;
    }
    bestI = select(gt, intImm(k, DType::I32), bestI);
  }
  Expr arg = kb.newVar("arg", {DType::I32, 1}), grad = kb.newVar("g", {t, 1});
  lets.push_back({arg, bestI});
  lets.push_back({grad, load(rep, t, j)});
  Expr k0 = select(odd, intImm(1, DType::I32), intImm(0, DType::I32));
  auto out = [&](const Expr &k) { return select(binary(BinOp::Eq, arg, k), grad, constant(0, t)); };
  Stmt write = letStmts(lets, block({kb.storeResult(dx, {n, c, r0, j}, out(k0)),
                                     kb.storeResult(dx, {n, c, r1, j}, out(add(k0, intImm(2, DType::I32))))}));
  Stmt pair = block({copy(top, r0), copy(bottom, r1), repeat, forLoop(j, w, ForKind::Serial, write)});
  Stmt rows = forLoop(c, xs[1], ForKind::Serial, forLoop(oh, ys[2], ForKind::Serial, pair));
  return alloc(top, alloc(bottom, alloc(rep, rows)));
}

} // namespace

/// Each window finds its first maximum with a select chain (the scan order
/// and tie rule of poolBackward) and writes all its input positions, dy at
/// the maximum and 0 elsewhere, straight through storeResult: no plane, no
/// scatter.
Stmt maxPoolGradImage(KernelBuilder &kb, Node &node, const Expr &n) {
  Value dy = node.operand(0), x = node.operand(1), dx = node.result();
  const Shape &xs = dx.shape();
  Window2d g = poolGeometry(node, xs);
  // Rows of whole 8-lane vectors; shorter ones are loops of masked gathers.
  if (g.kernelH == 2 && g.kernelW == 2 && xs[3] % 8 == 0)
    return maxPoolGradPairs(kb, node, n);
  DType t = dx.dtype();
  Expr c = kb.newVar("c"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  auto pos = [&](int64_t kh, int64_t kw) {
    return Index{n, c, add(mul(oh, intImm(g.kernelH)), intImm(kh)), add(mul(ow, intImm(g.kernelW)), intImm(kw))};
  };
  Expr arg = kb.newVar("arg", {DType::I64, 1}), grad = kb.newVar("g", {t, 1});
  std::vector<std::pair<Expr, Expr>> lets{{grad, kb.valueAt(dy, {n, c, oh, ow})}};
  // Each value and comparison a let of its own: the chain reads them twice.
  Expr bestI = firstMaxIndex(
      g.kernelH * g.kernelW, [&](int64_t i) { return kb.valueAt(x, pos(i / g.kernelW, i % g.kernelW)); },
      [&](const Expr &e, DType type) {
        Expr v = kb.newVar(type == DType::Bool ? "gt" : "v", {type, 1});
        lets.push_back({v, e});
        return v;
      });
  lets.push_back({arg, bestI});
  std::vector<Stmt> writes;
  for (int64_t i = 0; i < g.kernelH * g.kernelW; ++i)
    writes.push_back(kb.storeResult(dx, pos(i / g.kernelW, i % g.kernelW),
                                    select(binary(BinOp::Eq, arg, intImm(i)), grad, constant(0, t))));
  Stmt body = letStmts(lets, block(std::move(writes)));
  // The window's reads and writes are strided by the kernel width: scalar.
  Stmt s = forLoop(ow, g.outW, ForKind::Scalar, body);
  return forLoop(c, xs[1], ForKind::Serial, forLoop(oh, g.outH, ForKind::Serial, s));
}

namespace {

/// Gradients: scatter into a local plane per (n, c), then store it.
void poolBackward(KernelBuilder &kb, Node &node, bool isMax) {
  Value dy = node.operand(0), dx = node.result();
  Value x = isMax ? node.operand(1) : Value{};
  const Shape &xs = dx.shape();
  Window2d g = poolGeometry(node, xs);
  DType t = dx.dtype();
  int64_t hw = g.inH * g.inW;
  Expr n = kb.newVar("n"), c = kb.newVar("c"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr kh = kb.newVar("kh"), kw = kb.newVar("kw"), q = kb.newVar("q");
  int plane = kb.local("plane", t, hw);
  Expr ih = add(mul(oh, intImm(g.strideH)), sub(kh, intImm(g.pad.top)));
  Expr iw = add(mul(ow, intImm(g.strideW)), sub(kw, intImm(g.pad.left)));
  Expr ok = binary(BinOp::And, inRange(ih, g.inH), inRange(iw, g.inW));
  Expr pos = add(mul(ih, intImm(g.inW)), iw);
  Expr g0 = kb.valueAt(dy, {n, c, oh, ow});
  Stmt window;
  if (isMax) {
    int best = kb.local("best", t, 1), arg = kb.local("arg", DType::I64, 1);
    Expr xv = kb.valueAt(x, {n, c, clampIndex(ih, g.inH), clampIndex(iw, g.inW)});
    Expr better = binary(BinOp::Or, binary(BinOp::Lt, load(arg, DType::I64, intImm(0)), intImm(0)),
                         binary(BinOp::Lt, load(best, t, intImm(0)), xv));
    Stmt scan = forLoop(kh, g.kernelH, ForKind::Serial,
                        forLoop(kw, g.kernelW, ForKind::Serial,
                                ifThen(binary(BinOp::And, ok, better),
                                       block({store(best, intImm(0), xv), store(arg, intImm(0), pos)}))));
    Expr a = load(arg, DType::I64, intImm(0));
    Stmt give = ifThen(binary(BinOp::Le, intImm(0), a), store(plane, a, add(load(plane, t, a), g0)));
    window = alloc(best, alloc(arg, block({store(arg, intImm(0), intImm(-1)), store(best, intImm(0), constant(0, t)),
                                          scan, give})));
  } else {
    Expr share = div(g0, windowCount(g, oh, ow, t));
    Expr p = kb.newVar("share", {t, 1});
    window = letStmt(p, share,
                     forLoop(kh, g.kernelH, ForKind::Serial,
                             forLoop(kw, g.kernelW, ForKind::Serial,
                                     ifThen(ok, store(plane, pos, add(load(plane, t, pos), p))))));
  }
  Stmt scatter = forLoop(oh, g.outH, ForKind::Serial, forLoop(ow, g.outW, ForKind::Serial, window));
  Stmt init = forLoop(q, hw, ForKind::Serial, store(plane, q, constant(0, t)));
  Expr r = kb.newVar("ih"), s2 = kb.newVar("iw");
  Stmt fin = forLoop(r, g.inH, ForKind::Serial,
                     forLoop(s2, g.inW, ForKind::Serial,
                             kb.storeResult(dx, {n, c, r, s2}, load(plane, t, add(mul(r, intImm(g.inW)), s2)))));
  Stmt s = forLoop(c, xs[1], ForKind::Serial, alloc(plane, block({init, scatter, fin})));
  kb.kernel.body = kb.makeParallel(forLoop(n, xs[0], ForKind::Serial, s), static_cast<double>(xs[1] * hw * 4));
}

} // namespace

void lowerPool(ProgramBuilder &pb, Node &n, const std::string &name) {
  KernelBuilder kb(pb, name);
  switch (n.kind()) {
  case OpKind::MaxPool2d:
    if (hasPadding(poolGeometry(n, n.operand(0).shape())))
      poolForward(kb, n, true);
    else
      maxPoolRows(kb, n);
    break;
  case OpKind::AvgPool2d: poolForward(kb, n, false); break;
  case OpKind::MaxPool2dGrad:
    if (maxPoolGradTiles(n)) {
      Expr image = kb.newVar("n");
      Stmt s = forLoop(image, n.result().shape()[0], ForKind::Serial, maxPoolGradImage(kb, n, image));
      const Shape &xs = n.result().shape();
      kb.kernel.body = kb.makeParallel(s, static_cast<double>(xs[1] * xs[2] * xs[3] * 4));
    } else
      poolBackward(kb, n, true);
    break;
  case OpKind::AvgPool2dGrad: poolBackward(kb, n, false); break;
  default: KILN_INTERNAL_ERROR() << "lowering: " << n.mnemonic() << " is not pooling";
  }
  pb.finish(kb);
}

} // namespace kiln::lower
