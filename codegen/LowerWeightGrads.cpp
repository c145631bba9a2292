// codegen/LowerWeightGrads.cpp - a convolution's filter gradient along output
// rows, and the first layer's weight gradients fused with its pool gradient.
//
// filterGradRows: conv2d_filter_grad with stride 1, no padding, few filter
// taps and OW a multiple of 8 (the report CNN's first layer: dw 32x1x5x5 from
// 24-wide rows) as dot products along output rows instead of a GEMM: packing
// the GEMM's im2col operand gathers along the taps, while here both dy and x
// are read contiguously along ow. A tile of TO filters x TQ taps keeps TO*TQ
// 8-lane accumulators in registers over one image's rows (per k: TO loads of
// dy, TQ of x, TO*TQ FMAs); every tile's accumulators live in a local array
// between images (L1-sized, so at most ~50 tiles). The images are split into
// one part per thread; parts are summed in order by a _sum kernel.
//
// lowerPoolGradWeightGrads ("pool_grad_wgrad"): the same sweep, but each
// image's dy (the masked pool gradient, 73 KB for the report CNN) is computed
// into a local buffer first and summed per channel there for the bias
// gradient, so it is never written to memory and read back twice (three
// passes over 9.4 MB per step before).
#include "codegen/LowerConvCommon.h"
#include "codegen/LowerGemm.h"

#include "ir/Error.h"

#include <algorithm>
#include <optional>
#include <set>

namespace kiln::lower {

using namespace kir;

namespace {

constexpr int64_t kRowLanes = 8;

/// How filterGradRows tiles a filter gradient.
struct RowsPlan {
  int64_t to = 0, tq = 0;     ///< filters x taps of a tile
  int64_t tiles = 0, parts = 0;
};

int64_t firstDivisor(int64_t v, std::initializer_list<int64_t> options) {
  for (int64_t d : options)
    if (v % d == 0)
      return d;
  return 0;
}

/// The row form's tiling of conv2d_filter_grad `node`, or nothing when its
/// shape does not suit (where x and dy live is not checked).
std::optional<RowsPlan> rowsPlan(ProgramBuilder &pb, Node &node) {
  const Shape &xs = node.operand(0).shape(), &ys = node.operand(1).shape(), &ws = node.result().shape();
  Window2d g = convGeometry(node, xs, ws);
  const int64_t q = ws[1] * ws[2] * ws[3], o = ws[0];
  // Up to 4 x 6 accumulators with 32 vector registers, 2 x 6 with 16.
  const bool wide = pb.opt.vectorBytes >= 64;
  RowsPlan p;
  p.to = wide ? firstDivisor(o, {4, 3, 2, 1}) : firstDivisor(o, {2, 1});
  p.tq = firstDivisor(q, {5, 4, 6, 3});
  if (node.result().dtype() != DType::F32 || pb.opt.vectorBytes < 32 || isPadded(g) || g.strideH != 1 ||
      g.strideW != 1 || ys[3] % kRowLanes != 0 || p.tq == 0)
    return std::nullopt;
  p.tiles = (o / p.to) * (q / p.tq);
  if (p.tiles * p.to * p.tq * kRowLanes > 8192) // the accumulators of all tiles stay within 32 KB
    return std::nullopt;
  p.parts = std::max<int64_t>(1, std::min<int64_t>(pb.opt.threads, xs[0]));
  return p;
}

/// dy(n, o, oh, ow .. ow + kRowLanes) as a vector.
using DyRow = std::function<Expr(const Expr &n, const Expr &o, const Expr &oh, const Expr &ow)>;

/// One part's statements of the row form: sums over images [first, last) of
/// the part, each image preceded by perImage(n) (when given), stored through
/// `out`.
Stmt rowsPart(KernelBuilder &kb, Node &node, const RowsPlan &p, const Expr &part, const DyRow &dyRow,
              const std::function<Stmt(const Expr &n)> &perImage, const PartSums &out) {
  Value x = node.operand(0), dw = node.result();
  const Shape &xs = x.shape(), &ws = dw.shape(), &ys = node.operand(1).shape();
  const DType t = dw.dtype();
  const int64_t L = kRowLanes, q = ws[1] * ws[2] * ws[3], accs = p.to * p.tq;
  int xb = kb.paramOf(x, false);
  int all = kb.local("accall", t, p.tiles * accs * L), acc = kb.local("acc", t, accs * L);
  Expr n = kb.newVar("n"), tile = kb.newVar("tile"), oh = kb.newVar("oh"), ch = kb.newVar("ch"), e = kb.newVar("e");
  Expr ob = div(tile, intImm(q / p.tq)), qb = mod(tile, intImm(q / p.tq));
  std::vector<std::pair<Expr, Expr>> lets;
  std::vector<Expr> dv(p.to), xv(p.tq);
  for (int64_t i = 0; i < p.to; ++i) {
    dv[i] = kb.newVar("d", {t, static_cast<int>(L)});
    lets.push_back({dv[i], dyRow(n, add(mul(ob, intImm(p.to)), intImm(i)), oh, mul(ch, intImm(L)))});
  }
  for (int64_t j = 0; j < p.tq; ++j) {
    Expr qj = add(mul(qb, intImm(p.tq)), intImm(j));
    auto [c, kh, kw] = filterTap(qj, ws);
    Expr row = add(mul(add(mul(n, intImm(xs[1])), c), intImm(xs[2])), add(oh, kh));
    Expr at = add(mul(row, intImm(xs[3])), add(mul(ch, intImm(L)), kw));
    xv[j] = kb.newVar("x", {t, static_cast<int>(L)});
    lets.push_back({xv[j], load(xb, t, at, static_cast<int>(L))});
  }
  std::vector<Stmt> fmas, fetch, keep;
  for (int64_t s = 0; s < accs; ++s) {
    Expr slot = intImm(s * L), home = add(mul(tile, intImm(accs * L)), intImm(s * L));
    fmas.push_back(store(acc, slot, add(load(acc, t, slot, L), mul(dv[s / p.tq], xv[s % p.tq]))));
    fetch.push_back(store(acc, slot, load(all, t, home, L)));
    keep.push_back(store(all, home, load(acc, t, slot, L)));
  }
  Stmt body = letStmts(lets, block(std::move(fmas)));
  Stmt rows = forLoop(oh, ys[2], ForKind::Serial, forLoop(ch, ys[3] / L, ForKind::Serial, body));
  Stmt perTile = forLoop(tile, p.tiles, ForKind::Serial, alloc(acc, block({block(fetch), rows, block(keep)})));
  if (perImage)
    perTile = block({perImage(n), perTile});
  const int64_t images = xs[0];
  Expr first = div(mul(part, intImm(images)), intImm(p.parts));
  Expr last = div(mul(add(part, intImm(1)), intImm(images)), intImm(p.parts));
  Stmt sweep = forLoop(n, first, sub(last, first), ForKind::Serial, perTile);
  Stmt zero = forLoop(e, p.tiles * accs * L, ForKind::Serial, store(all, e, constant(0, t)));

  // Each tile's sums: dw(o, q) directly with one part, else a partial product.
  Expr s = kb.newVar("s");
  Expr oIdx = add(mul(ob, intImm(p.to)), div(s, intImm(p.tq)));
  Expr qIdx = add(mul(qb, intImm(p.tq)), mod(s, intImm(p.tq)));
  Expr total = hreduce(ReduceOp::Add, load(all, t, mul(add(mul(tile, intImm(accs)), s), intImm(L)), L));
  Stmt sums = forLoop(tile, p.tiles, ForKind::Serial, forLoop(s, accs, ForKind::Serial, out.put(oIdx, qIdx, total)));
  return alloc(all, block({zero, sweep, sums}));
}

double rowsFlops(Node &node) {
  const Shape &ws = node.result().shape(), &ys = node.operand(1).shape();
  return 2.0 * static_cast<double>(ws[0] * ws[1] * ws[2] * ws[3] * ys[0] * ys[2] * ys[3]);
}

} // namespace

bool filterGradRows(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value x = node.operand(0), dy = node.operand(1), dw = node.result();
  std::optional<RowsPlan> p = rowsPlan(pb, node);
  if (!p || pb.bufferOf(x) < 0 || pb.bufferOf(dy) < 0)
    return false;
  const Shape &ys = dy.shape();
  KernelBuilder kb(pb, name);
  int db = kb.paramOf(dy, false);
  DyRow dyRow = [&](const Expr &n, const Expr &o, const Expr &oh, const Expr &ow) {
    Expr at = add(mul(add(mul(add(mul(n, intImm(ys[1])), o), intImm(ys[2])), oh), intImm(ys[3])), ow);
    return load(db, dw.dtype(), at, static_cast<int>(kRowLanes));
  };
  Expr part = kb.newVar("part");
  PartSums out = partSums(pb, kb, name, dw, p->parts, part);
  Stmt body = rowsPart(kb, node, *p, part, dyRow, nullptr, out);
  kb.kernel.body = kb.makeParallel(forLoop(part, p->parts, ForKind::Serial, body),
                                   rowsFlops(node) / static_cast<double>(p->parts));
  pb.finish(kb);
  finishPartSums(pb, name, dw, out, p->parts);
  return true;
}

bool lowerPoolGradWeightGrads(ProgramBuilder &pb, Graph &body, const std::string &name) {
  Node *pool = nullptr, *fgrad = nullptr, *bias = nullptr;
  for (Node *n : body.nodes()) {
    if (n->kind() == OpKind::MaxPool2dGrad)
      pool = n;
    else if (n->kind() == OpKind::Conv2dFilterGrad)
      fgrad = n;
    else if (n->kind() == OpKind::ReduceSum)
      bias = n;
  }
  KILN_INTERNAL_CHECK(pool && fgrad) << "lowering: region " << name << " is not a pool_grad_wgrad region";
  if (!pb.opt.blockedKernels || !maxPoolGradTiles(*pool))
    return false;
  std::optional<RowsPlan> p = rowsPlan(pb, *fgrad);
  Value dz = fgrad->operand(1), x = fgrad->operand(0);
  const Shape &zs = dz.shape();
  if (!p || pb.bufferOf(x) < 0 || !elementwiseDependents(body, pool->result()).count(dz.node) ||
      zs != pool->result().shape())
    return false;
  const DType t = dz.dtype();
  const int64_t channels = zs[1], h = zs[2], w = zs[3], hw = h * w;
  int64_t lanes = 1; // the bias sums' vector width
  for (int64_t l : {int64_t{pb.opt.vectorBytes / 4}, int64_t{8}, int64_t{4}, int64_t{2}})
    if (l > 1 && hw % l == 0) {
      lanes = l;
      break;
    }

  KernelBuilder kb(pb, name);
  int dzl = kb.local("dz", t, channels * hw), bsum = kb.local("bsum", t, channels * lanes);
  // The masked gradient of one image goes to dzl (channel, row, column).
  pb.epilogues[pool->result()] = {dz,
                                  -1,
                                  [dzl, h, w](const Index &idx, Expr v) {
                                    return store(dzl, add(mul(add(mul(idx[1], intImm(h)), idx[2]), intImm(w)), idx[3]),
                                                 std::move(v));
                                  },
                                  {}};
  DyRow dyRow = [&](const Expr &, const Expr &o, const Expr &oh, const Expr &ow) {
    return load(dzl, t, add(mul(add(mul(o, intImm(h)), oh), intImm(w)), ow), static_cast<int>(kRowLanes));
  };
  Expr c = kb.newVar("c"), e = kb.newVar("e");
  auto perImage = [&](const Expr &n) {
    Stmt grad = maxPoolGradImage(kb, *pool, n);
    if (!bias)
      return grad;
    Expr at = mul(c, intImm(lanes)), sum = add(load(bsum, t, at, static_cast<int>(lanes)),
                                              load(dzl, t, add(mul(c, intImm(hw)), mul(e, intImm(lanes))),
                                                   static_cast<int>(lanes)));
    return block({grad, forLoop(c, channels, ForKind::Serial,
                                forLoop(e, hw / lanes, ForKind::Serial, store(bsum, at, sum)))});
  };
  Expr part = kb.newVar("part");
  PartSums out = partSums(pb, kb, name, fgrad->result(), p->parts, part);
  Stmt sweep = rowsPart(kb, *fgrad, *p, part, dyRow, perImage, out);
  pb.epilogues.erase(pool->result());

  // The bias sums of the part: the bias gradient itself with one part, else
  // row `part` of a [parts, C] scratch buffer added up by kernel _bias_sum.
  int scratch = -1;
  Stmt partBody = sweep;
  if (bias) {
    Expr total = lanes > 1 ? hreduce(ReduceOp::Add, load(bsum, t, mul(c, intImm(lanes)), static_cast<int>(lanes)))
                           : load(bsum, t, c);
    Stmt put;
    if (p->parts == 1) {
      put = kb.storeResult(bias->result(), {c}, total);
    } else {
      scratch = pb.addBuffer(name + ".bias_parts", TensorType{t, {p->parts, channels}}, BufferRole::Temp);
      put = store(kb.param(scratch, true), add(mul(part, intImm(channels)), c), total);
    }
    Stmt zero = forLoop(e, channels * lanes, ForKind::Serial, store(bsum, e, constant(0, t)));
    partBody = block({zero, sweep, forLoop(c, channels, ForKind::Serial, put)});
  }
  partBody = alloc(dzl, alloc(bsum, partBody));
  double work = rowsFlops(*fgrad) + 8.0 * static_cast<double>(numElements(zs));
  kb.kernel.body = kb.makeParallel(forLoop(part, p->parts, ForKind::Serial, partBody),
                                   work / static_cast<double>(p->parts));
  pb.finish(kb);
  finishPartSums(pb, name, fgrad->result(), out, p->parts);
  if (scratch >= 0) {
    Value b = bias->result();
    lowerPartsSum(pb, name + "_bias", scratch, p->parts, 1, channels, t,
                  [b](KernelBuilder &k, const Expr &, const Expr &j, Expr v) { return k.storeResult(b, {j}, v); });
  }
  return true;
}

} // namespace kiln::lower
