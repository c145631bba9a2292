// codegen/LowerConvDirect.cpp - convolutions as outer products, without im2col.
//
// A tile of R rows (pixels or filter taps) times VB vectors of L channels
// keeps R*VB vector accumulators in registers. Per step: VB vector loads of
// an operand contiguous along those channels, R scalar loads of the other,
// each broadcast, and R*VB FMAs. The broadcast operand is read where it lies
// (one image is L1-sized) through a table of offsets, so nothing is packed
// or gathered and, unlike the extended-column GEMM, no column is computed
// and dropped.
// - conv2d, vectors along the filters: the filter transposed to [C*KH*KW, O]
//   by a small `_wt` kernel, x broadcast; results come out channel-minor and
//   the epilogue transposes them to NCHW.
// - conv2d_filter_grad, vectors along the filters: each image's dy
//   transposed to [OH*OW, O], x broadcast; one part of the images per
//   thread, parts added in order by a `_sum` kernel.
// - conv2d_input_grad (stride 1), vectors along the input channels: the
//   filter rearranged to [(kw, kh, o), C], dy broadcast in place; per input
//   row and filter column, a tile of dy columns sums over the filter rows
//   that reach the row and all filters (every product lands inside), then is
//   added into the row at its column offset.
// - conv2d along output rows (stride 1, OW a multiple of 8): vectors of a
//   row of x, filter values broadcast; the epilogue stores rows as they are.
// Napkin math (AVX-512, 64 filters): VB=4, R=6 is 24 zmm accumulators, 4
// loads and 6 broadcasts per 24 FMAs.
#include "codegen/LowerConvCommon.h"
#include "codegen/LowerGemm.h"

#include "ir/Error.h"

namespace kiln::lower {

using namespace kir;



/// The tile for o output channels, or lanes 0 when o is not a multiple of
/// the vector length.
Tile tileFor(int64_t o, int vectorBytes) {
  Tile t;
  t.lanes = vectorBytes / 4;
  if (t.lanes < 8 || o % t.lanes != 0)
    return {};
  const int64_t nv = o / t.lanes;
  for (int64_t vb : {4, 3, 2, 1})
    if (nv % vb == 0 && (vb <= 2 || vectorBytes >= 64)) {
      t.vectors = vb;
      break;
    }
  const int64_t accumulators = vectorBytes >= 64 ? 24 : 12;
  t.rows = std::min<int64_t>(accumulators / 2, accumulators / t.vectors);
  return t;
}


std::optional<Image> imageOf(KernelBuilder &kb, Value x, const Window2d &g, const Expr &n) {
  const Shape &xs = x.shape();
  Image im;
  if (!isPadded(g) && kb.pb.bufferOf(x) >= 0) {
    im.buf = kb.paramOf(x, false);
    im.row = xs[3];
    im.plane = xs[2] * xs[3];
    im.base = mul(n, intImm(xs[1] * im.plane));
    return im;
  }
  const int64_t hp = xs[2] + g.pad.top + g.pad.bottom, wp = xs[3] + g.pad.left + g.pad.right;
  if (xs[1] * hp * wp * static_cast<int64_t>(dtypeSize(x.dtype())) > kMaxImageBytes)
    return std::nullopt;
  im.buf = im.local = kb.local("image", x.dtype(), xs[1] * hp * wp);
  im.row = wp;
  im.plane = hp * wp;
  im.base = intImm(0);
  // Zeros everywhere, then the image's rows at their place: contiguous
  // loops without selects (both vectorize).
  Expr e = kb.newVar("e"), c = kb.newVar("c"), ih = kb.newVar("ih"), iw = kb.newVar("iw");
  Stmt zero = forLoop(e, xs[1] * hp * wp, ForKind::Serial, store(im.buf, e, constant(0, x.dtype())));
  Expr at = add(mul(add(mul(c, intImm(hp)), add(ih, intImm(g.pad.top))), intImm(wp)), add(iw, intImm(g.pad.left)));
  Stmt copy = forLoop(c, xs[1], ForKind::Serial,
                      forLoop(ih, xs[2], ForKind::Serial,
                              forLoop(iw, xs[3], ForKind::Serial, store(im.buf, at, kb.valueAt(x, {n, c, ih, iw})))));
  im.fill = block({zero, copy});
  return im;
}

namespace {

/// Local i64 table off[q] = the offset of filter tap q = (c, kh, kw) in an
/// image; returns its buffer and the statement that fills it.
std::pair<int, Stmt> tapOffsets(KernelBuilder &kb, const Shape &ws, const Image &im) {
  const int64_t taps = ws[1] * ws[2] * ws[3];
  int buf = kb.local("off", DType::I64, taps);
  Expr q = kb.newVar("q");
  auto [c, kh, kw] = filterTap(q, ws);
  Expr off = add(add(mul(c, intImm(im.plane)), mul(kh, intImm(im.row))), kw);
  return {buf, forLoop(q, taps, ForKind::Serial, store(buf, q, off))};
}

} // namespace


/// buf[at(r, v)] = acc(r, v) for r < rows.
Stmt saveTile(const TileCode &tc, int64_t rows, int buf, const std::function<Expr(int64_t r, int64_t v)> &at) {
  std::vector<Stmt> s;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < tc.tile.vectors; ++v)
      s.push_back(store(buf, at(r, v), load(tc.acc, tc.t, tc.slot(r, v), tc.lanes())));
  return block(std::move(s));
}

/// Loads acc(r, v) = buf[at(r, v)] for r < rows.
Stmt loadTile(const TileCode &tc, int64_t rows, int buf, const std::function<Expr(int64_t r, int64_t v)> &at) {
  std::vector<Stmt> s;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < tc.tile.vectors; ++v)
      s.push_back(store(tc.acc, tc.slot(r, v), load(buf, tc.t, at(r, v), tc.lanes())));
  return block(std::move(s));
}

/// Tiles of `rows` over [0, extent): whole tiles in a loop, then the rest as
/// one shorter tile; body(first row, rows in the tile).
Stmt overTiles(KernelBuilder &kb, int64_t extent, int64_t rows, const std::function<Stmt(const Expr &, int64_t)> &body) {
  std::vector<Stmt> s;
  if (extent / rows > 0) {
    Expr i = kb.newVar("tile");
    s.push_back(forLoop(i, extent / rows, ForKind::Serial, body(mul(i, intImm(rows)), rows)));
  }
  if (extent % rows)
    s.push_back(body(intImm(extent / rows * rows), extent % rows));
  return block(std::move(s));
}

namespace {

/// Kernel `name`_wt: the filter w rearranged as wt[rows, cols] (row-major),
/// wt[r, k] = w[at(r, k)]; returns wt's buffer.
int filterCopy(ProgramBuilder &pb, const std::string &name, Value w, int64_t rows, int64_t cols,
               const std::function<Index(const Expr &, const Expr &)> &at) {
  int wt = pb.addBuffer(name + ".wt", TensorType{w.dtype(), {rows, cols}}, BufferRole::Temp);
  KernelBuilder pk(pb, name + "_wt");
  int out = pk.param(wt, /*write=*/true);
  Expr r = pk.newVar("r"), k = pk.newVar("k");
  pk.kernel.body = forLoop(r, rows, ForKind::Serial,
                           forLoop(k, cols, ForKind::Scalar, store(out, add(mul(r, intImm(cols)), k), pk.valueAt(w, at(r, k)))));
  pb.finish(pk);
  return wt;
}

} // namespace

/// Image n of v (NCHW) from the channel-minor block cb[(h*W + w)*C + c],
/// through v's epilogue.
Stmt channelMinorToNchw(KernelBuilder &kb, Value v, const Expr &n, int cb) {
  const Shape &s = v.shape();
  Expr c = kb.newVar("c"), h = kb.newVar("h"), w = kb.newVar("w");
  Expr from = add(mul(add(mul(h, intImm(s[3])), w), intImm(s[1])), c);
  // Strided reads of the block: scalar (vectorized they would be gathers).
  return forLoop(c, s[1], ForKind::Serial,
                 forLoop(h, s[2], ForKind::Serial,
                         forLoop(w, s[3], ForKind::Scalar, kb.storeResult(v, {n, c, h, w}, load(cb, v.dtype(), from)))));
}


bool convChannels(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value x = node.operand(0), w = node.operand(1), y = node.result();
  const Shape &xs = x.shape(), &ws = w.shape();
  const Window2d g = convGeometry(node, xs, ws);
  const DType t = y.dtype();
  const Tile tile = tileFor(ws[0], pb.opt.vectorBytes);
  const int64_t o = ws[0], taps = ws[1] * ws[2] * ws[3], pixels = g.outH * g.outW, images = xs[0];
  if (t != DType::F32 || x.dtype() != t || tile.lanes == 0 || taps < kMinTaps || images < std::max(1, pb.opt.threads) ||
      pixels * o * 4 > kMaxImageBytes || pb.bufferOf(w) < 0)
    return false;

  KernelBuilder kb(pb, name);
  Expr n = kb.newVar("n");
  std::optional<Image> im = imageOf(kb, x, g, n);
  if (!im)
    return false;

  // The filter as wt[q, o] (contiguous along the output channels).
  int wt = filterCopy(pb, name, w, taps, o, [&](const Expr &q, const Expr &oc) {
    auto [c, kh, kw] = filterTap(q, ws);
    return Index{oc, c, kh, kw};
  });

  int wb = kb.param(wt, /*write=*/false);
  auto [offs, fillOffs] = tapOffsets(kb, ws, *im);
  int cb = kb.local("cblock", t, pixels * o), acc = kb.local("acc", t, tile.rows * tile.vectors * tile.lanes);
  TileCode tc{kb, tile, acc, t};
  Expr ob = kb.newVar("ob"), q = kb.newVar("q");
  Expr ocBase = mul(ob, intImm(tile.width()));

  // R pixels from pixel p0 on (a flat index over OH x OW, rows may wrap).
  auto pixelTile = [&](const Expr &p0, int64_t rows) {
    std::vector<std::pair<Expr, Expr>> lets;
    Expr d = kb.newVar("d");
    std::vector<Expr> at = tc.rowVars("px", p0, rows, [&](const Expr &p) {
      return add(im->base, add(mul(div(p, intImm(g.outW)), intImm(g.strideH * im->row)),
                               mul(mod(p, intImm(g.outW)), intImm(g.strideW))));
    }, lets);
    Stmt inner = letStmt(d, load(offs, DType::I64, q),
                         tc.step([&](int64_t v) { return load(wb, t, add(add(mul(q, intImm(o)), ocBase), intImm(v * tile.lanes)), tc.lanes()); },
                                 [&](int64_t r) { return load(im->buf, t, add(at[r], d)); }, rows));
    Stmt kloop = forLoop(q, taps, ForKind::Serial, inner);
    Stmt save = saveTile(tc, rows, cb, [&](int64_t r, int64_t v) {
      return add(add(mul(add(p0, intImm(r)), intImm(o)), ocBase), intImm(v * tile.lanes));
    });
    return letStmts(lets, alloc(acc, block({tc.zero(rows), kloop, save})));
  };
  Stmt blocks = forLoop(ob, o / tile.width(), ForKind::Serial,
                        overTiles(kb, pixels, tile.rows, pixelTile));

  Stmt out = channelMinorToNchw(kb, y, n, cb);

  std::vector<Stmt> steps{fillOffs};
  if (im->fill)
    steps.push_back(im->fill);
  steps.push_back(blocks);
  steps.push_back(out);
  Stmt body = alloc(offs, alloc(cb, block(std::move(steps))));
  if (im->local >= 0)
    body = alloc(im->local, body);
  kb.kernel.body = kb.makeParallel(forLoop(n, images, ForKind::Serial, body), 2.0 * static_cast<double>(o * taps * pixels));
  pb.finish(kb);
  return true;
}

bool inputGradChannels(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value dy = node.operand(0), w = node.operand(1), dx = node.result();
  const Shape &xs = dx.shape(), &ws = w.shape(), &ys = dy.shape();
  const Window2d g = convGeometry(node, xs, ws);
  const DType t = dx.dtype();
  const Tile tile = tileFor(xs[1], pb.opt.vectorBytes);
  const int64_t c = xs[1], o = ws[0], kh = ws[2], kw = ws[3], images = xs[0];
  if (t != DType::F32 || dy.dtype() != t || tile.lanes == 0 || g.strideH != 1 || g.strideW != 1 ||
      o * kh * kw < kMinTaps || images < std::max(1, pb.opt.threads) || g.pad.top >= kh || g.pad.bottom >= kh ||
      pb.bufferOf(dy) < 0 || xs[2] * xs[3] * c * 4 > kMaxImageBytes)
    return false;

  // The filter as wt[(kw, kh, o), c] (contiguous along the input channels).
  const int64_t ko = kh * o;
  int wt = filterCopy(pb, name, w, kw * ko, c, [&](const Expr &r, const Expr &ci) {
    return Index{mod(r, intImm(o)), ci, mod(div(r, intImm(o)), intImm(kh)), div(r, intImm(ko))};
  });

  KernelBuilder kb(pb, name);
  Expr n = kb.newVar("n");
  int wb = kb.param(wt, /*write=*/false);
  int dyb = kb.paramOf(dy, false); // dy read in place, image n from dyBase
  Expr dyBase = mul(n, intImm(o * ys[2] * ys[3]));
  int cb = kb.local("cblock", t, xs[2] * xs[3] * c), acc = kb.local("acc", t, tile.rows * tile.vectors * tile.lanes);
  TileCode tc{kb, tile, acc, t};

  // Input row ih: the filter rows that reach it are kh in [lo, hi]. For
  // filter column fw, a tile of dy columns ow0.. sums over (kh, o) with
  // every product valid, then lands on input columns ow + fw - pl.
  Expr ih = kb.newVar("ih"), fh = kb.newVar("kh"), oi = kb.newVar("o"), cbk = kb.newVar("cb");
  Expr lo = max(intImm(0), sub(add(ih, intImm(g.pad.top)), intImm(ys[2] - 1)));
  Expr hi = min(intImm(kh - 1), add(ih, intImm(g.pad.top)));
  Expr cBase = mul(cbk, intImm(tile.width()));
  auto columnTile = [&](int64_t fw, const Expr &ow0, int64_t rows) {
    Expr rowAt = add(add(dyBase, mul(oi, intImm(ys[2] * ys[3]))), mul(sub(add(ih, intImm(g.pad.top)), fh), intImm(ys[3])));
    Expr wrow = mul(add(mul(add(intImm(fw * kh), fh), intImm(o)), oi), intImm(c));
    Stmt step = tc.step([&](int64_t v) { return load(wb, t, add(add(wrow, cBase), intImm(v * tile.lanes)), tc.lanes()); },
                        [&](int64_t p) { return load(dyb, t, add(add(rowAt, ow0), intImm(p))); }, rows);
    Stmt taps = forLoop(fh, lo, add(sub(hi, lo), intImm(1)), ForKind::Serial, forLoop(oi, o, ForKind::Serial, step));
    // Add the tile into the block at input column iw = ow + fw - pl (those in range).
    const bool mayLeave = fw - g.pad.left < 0 || ys[3] - 1 + fw - g.pad.left >= xs[3];
    std::vector<Stmt> land;
    for (int64_t p = 0; p < rows; ++p) {
      Expr iw = add(ow0, intImm(p + fw - g.pad.left));
      std::vector<Stmt> adds;
      for (int64_t v = 0; v < tile.vectors; ++v) {
        Expr at = add(add(mul(add(mul(ih, intImm(xs[3])), iw), intImm(c)), cBase), intImm(v * tile.lanes));
        adds.push_back(store(cb, at, add(load(cb, t, at, tc.lanes()), load(acc, t, tc.slot(p, v), tc.lanes()))));
      }
      land.push_back(mayLeave ? ifThen(inRange(iw, xs[3]), block(std::move(adds))) : block(std::move(adds)));
    }
    return alloc(acc, block({tc.zero(rows), taps, block(std::move(land))}));
  };
  std::vector<Stmt> perColumn;
  for (int64_t fw = 0; fw < kw; ++fw)
    perColumn.push_back(overTiles(kb, ys[3], tile.rows, [&](const Expr &ow0, int64_t rows) { return columnTile(fw, ow0, rows); }));
  Stmt rowsLoop = forLoop(ih, xs[2], ForKind::Serial,
                          forLoop(cbk, c / tile.width(), ForKind::Serial, block(std::move(perColumn))));

  Expr e = kb.newVar("e");
  Stmt zero = forLoop(e, xs[2] * xs[3] * c, ForKind::Serial, store(cb, e, constant(0, t)));
  Stmt body = alloc(cb, block({zero, rowsLoop, channelMinorToNchw(kb, dx, n, cb)}));
  kb.kernel.body = kb.makeParallel(forLoop(n, images, ForKind::Serial, body),
                                   2.0 * static_cast<double>(c * o * kh * kw * ys[2] * ys[3]));
  pb.finish(kb);
  return true;
}

bool filterGradChannels(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value x = node.operand(0), dy = node.operand(1), dw = node.result();
  const Shape &xs = x.shape(), &ws = dw.shape(), &ys = dy.shape();
  const Window2d g = convGeometry(node, xs, ws);
  const DType t = dw.dtype();
  const Tile tile = tileFor(ws[0], pb.opt.vectorBytes);
  const int64_t o = ws[0], taps = ws[1] * ws[2] * ws[3], pixels = ys[2] * ys[3], images = xs[0];
  if (t != DType::F32 || x.dtype() != t || dy.dtype() != t || tile.lanes == 0 ||
      (pixels + taps) * o * 4 > kMaxImageBytes)
    return false;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(pb.opt.threads, images));

  KernelBuilder kb(pb, name);
  Expr part = kb.newVar("part"), n = kb.newVar("n");
  std::optional<Image> im = imageOf(kb, x, g, n);
  if (!im)
    return false;
  auto [offs, fillOffs] = tapOffsets(kb, ws, *im);
  // all[q, o]: the sums of this part; dyt[p, o]: one image's dy, transposed.
  int all = kb.local("accall", t, taps * o), dyt = kb.local("dyt", t, pixels * o);
  int acc = kb.local("acc", t, tile.rows * tile.vectors * tile.lanes);
  TileCode tc{kb, tile, acc, t};
  Expr ob = kb.newVar("ob"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Expr ocBase = mul(ob, intImm(tile.width()));

  // R taps from tap q0 on, over all pixels of image n.
  auto tapTile = [&](const Expr &q0, int64_t rows) {
    std::vector<std::pair<Expr, Expr>> lets;
    std::vector<Expr> at =
        tc.rowVars("xt", q0, rows, [&](const Expr &q) { return add(im->base, load(offs, DType::I64, q)); }, lets);
    auto home = [&](int64_t r, int64_t v) {
      return add(add(mul(add(q0, intImm(r)), intImm(o)), ocBase), intImm(v * tile.lanes));
    };
    Expr pix = add(mul(oh, intImm(g.strideH * im->row)), mul(ow, intImm(g.strideW)));
    Expr dyAt = add(mul(add(mul(oh, intImm(ys[3])), ow), intImm(o)), ocBase);
    Stmt step = tc.step([&](int64_t v) { return load(dyt, t, add(dyAt, intImm(v * tile.lanes)), tc.lanes()); },
                        [&](int64_t r) { return load(im->buf, t, add(at[r], pix)); }, rows);
    Stmt sweep = forLoop(oh, ys[2], ForKind::Serial, forLoop(ow, ys[3], ForKind::Serial, step));
    return letStmts(lets, alloc(acc, block({loadTile(tc, rows, all, home), sweep, saveTile(tc, rows, all, home)})));
  };

  Expr oc = kb.newVar("o"), e = kb.newVar("e");
  Stmt transpose = forLoop(oc, o, ForKind::Serial,
                           forLoop(oh, ys[2], ForKind::Serial,
                                   forLoop(ow, ys[3], ForKind::Scalar,
                                           store(dyt, add(mul(add(mul(oh, intImm(ys[3])), ow), intImm(o)), oc),
                                                 kb.valueAt(dy, {n, oc, oh, ow})))));
  std::vector<Stmt> perImage;
  if (im->fill)
    perImage.push_back(im->fill);
  perImage.push_back(transpose);
  perImage.push_back(forLoop(ob, o / tile.width(), ForKind::Serial, overTiles(kb, taps, tile.rows, tapTile)));
  Expr first = div(mul(part, intImm(images)), intImm(parts));
  Expr last = div(mul(add(part, intImm(1)), intImm(images)), intImm(parts));
  Stmt sweep = forLoop(n, first, sub(last, first), ForKind::Serial, block(std::move(perImage)));
  Stmt zero = forLoop(e, taps * o, ForKind::Serial, store(all, e, constant(0, t)));

  // This part's sums: dw itself with one part, else a partial product.
  Expr q = kb.newVar("q");
  Expr sum = load(all, t, add(mul(q, intImm(o)), oc));
  PartSums out = partSums(pb, kb, name, dw, parts, part);
  Stmt sums = forLoop(oc, o, ForKind::Serial, forLoop(q, taps, ForKind::Scalar, out.put(oc, q, sum)));
  Stmt partBody = block({fillOffs, zero, sweep, sums});
  partBody = alloc(offs, alloc(all, alloc(dyt, partBody)));
  if (im->local >= 0)
    partBody = alloc(im->local, partBody);
  double flops = 2.0 * static_cast<double>(o * taps * pixels * images);
  kb.kernel.body = kb.makeParallel(forLoop(part, parts, ForKind::Serial, partBody), flops / static_cast<double>(parts));
  pb.finish(kb);
  finishPartSums(pb, name, dw, out, parts);
  return true;
}

bool convRows(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value x = node.operand(0), w = node.operand(1), y = node.result();
  const Shape &xs = x.shape(), &ws = w.shape();
  const Window2d g = convGeometry(node, xs, ws);
  const DType t = y.dtype();
  constexpr int64_t L = 8;
  const int64_t o = ws[0], taps = ws[1] * ws[2] * ws[3], images = xs[0];
  if (t != DType::F32 || x.dtype() != t || pb.opt.vectorBytes < 32 || g.strideH != 1 || g.strideW != 1 ||
      g.outW % L != 0 || pb.bufferOf(w) < 0)
    return false;
  // 8 filters x 3 vectors of a row (24 accumulators) with 32 vector
  // registers, 4 x 3 with 16.
  const int64_t rows = pb.opt.vectorBytes >= 64 ? 8 : 4, chunk = std::min<int64_t>(3, g.outW / L);

  KernelBuilder kb(pb, name);
  Expr n = kb.newVar("n");
  std::optional<Image> im = imageOf(kb, x, g, n);
  if (!im)
    return false;
  int wb = kb.paramOf(w, false);
  auto [offs, fillOffs] = tapOffsets(kb, ws, *im);
  int acc = kb.local("acc", t, rows * chunk * L), rb = kb.local("rowblock", t, rows * chunk * L);
  Expr oh = kb.newVar("oh"), cv = kb.newVar("cv"), q = kb.newVar("q"), r = kb.newVar("r"), j = kb.newVar("j");

  // Filters o0 .. o0+fr of output row oh, columns from ow0 on (vectors of L).
  auto rowTile = [&](const Expr &o0, int64_t fr, const Expr &ow0, int64_t vectors) {
    TileCode part{kb, {L, vectors, fr}, acc, t};
    Expr d = kb.newVar("d");
    Expr rowAt = add(add(im->base, mul(oh, intImm(im->row))), ow0);
    Stmt step = letStmt(d, load(offs, DType::I64, q),
                        part.step([&](int64_t v) { return load(im->buf, t, add(add(rowAt, d), intImm(v * L)), L); },
                                  [&](int64_t f) { return load(wb, t, add(mul(add(o0, intImm(f)), intImm(taps)), q)); },
                                  fr));
    Stmt save = saveTile(part, fr, rb, [&](int64_t f, int64_t v) { return intImm((f * vectors + v) * L); });
    Stmt put = kb.storeResult(y, {n, add(o0, r), oh, add(ow0, j)}, load(rb, t, add(mul(r, intImm(vectors * L)), j)));
    Stmt out = forLoop(r, fr, ForKind::Serial, forLoop(j, vectors * L, ForKind::Serial, put));
    return alloc(acc, block({part.zero(fr), forLoop(q, taps, ForKind::Serial, step), save, out}));
  };
  // Column chunks of `chunk` vectors, then a shorter one.
  auto filterTile = [&](const Expr &o0, int64_t fr) {
    const int64_t whole = g.outW / L / chunk, rest = g.outW / L % chunk;
    std::vector<Stmt> s;
    s.push_back(forLoop(cv, whole, ForKind::Serial, rowTile(o0, fr, mul(cv, intImm(chunk * L)), chunk)));
    if (rest)
      s.push_back(rowTile(o0, fr, intImm(whole * chunk * L), rest));
    return block(std::move(s));
  };
  Stmt perRow = forLoop(oh, g.outH, ForKind::Serial, overTiles(kb, o, rows, filterTile));
  std::vector<Stmt> steps{fillOffs};
  if (im->fill)
    steps.push_back(im->fill);
  steps.push_back(perRow);
  Stmt body = alloc(offs, alloc(rb, block(std::move(steps))));
  if (im->local >= 0)
    body = alloc(im->local, body);
  kb.kernel.body =
      kb.makeParallel(forLoop(n, images, ForKind::Serial, body), 2.0 * static_cast<double>(o * taps * g.outH * g.outW));
  pb.finish(kb);
  return true;
}

} // namespace kiln::lower
