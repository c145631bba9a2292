// codegen/LowerConvWinograd.cpp - 3x3 conv2d and both its gradients by
// Winograd's F(2x2, 3x3).
//
// Each 2x2 block of outputs comes from a 4x4 patch d of the input:
// Y = A^T [ sum over c of (G g G^T) * (B^T d B) ] A, with g the 3x3 filter
// and * elementwise over the 16 positions xi of a 4x4 tile, so a tile costs
// 16 products per (filter, channel) instead of 36: 2.25 times fewer
// multiply-adds than the direct convolution. Three phases per image:
//  1. input transform: V[c][th][xi][j] = (B^T d B)[xi] of the patch whose
//     left column is j (rows 2*th..2*th+3), computed for every column j at
//     once with contiguous loads (the odd columns are never read: vectors
//     along the row need no gathers);
//  2. 16 products M[xi][p][o] = sum over c of V[xi][c][p] U[xi][c][o], the
//     outer-product tiles of the channel form (vectors along the filters,
//     V broadcast), U = G g G^T transformed once per step by a `_wt` kernel;
//  3. output transform A^T M A per tile and vector of filters into a
//     channel-minor block, transposed to NCHW through the epilogue.
// B, G and A hold 0, +-1 and +-1/2 only: the transforms add and halve, and
// the result agrees with the direct sums to a few float32 roundings.
// The filter gradient is the transpose of the same bilinear form:
// dW = G^T [ sum over tiles of (B^T d B) * (A dY A^T) ] G, per image the
// input transform as above, dy transposed to channel-minor and transformed
// per 2x2 block, and 16 products summed over tiles (vectors along the
// filters, V broadcast) into a part's local sums; a `_sum` kernel adds the
// parts in order and applies G^T . G.
// The input gradient (stride 1) is the same correlation over dy, padded by
// 2 - padding, with the filter turned by 180 degrees and its channels
// swapped; there dy is copied per image zero-padded and channel-minor, so the
// input transform runs with vectors along dy's channels, one tile at a time.
// (Padding adds 44% more tiles for the report CNN's second layer: the gain is
// smaller than the forward's.)
#include "codegen/LowerConvCommon.h"

#include "ir/Error.h"

#include <array>

namespace kiln::lower {

using namespace kir;

namespace {

// G (4x3): the filter transform.
constexpr std::array<std::array<double, 3>, 4> kG{{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}};

/// True for a 3x3 filter with stride 1 and an even output: 2x2 blocks tile it.
bool tilesFit(const Window2d &g, const Shape &ws) {
  return ws[2] == 3 && ws[3] == 3 && g.strideH == 1 && g.strideW == 1 && g.outH % 2 == 0 && g.outW % 2 == 0;
}

/// A layer as the forward and filter-gradient kernels see it: x's geometry,
/// the O filters (vectors along them) over C channels, the 2x2 output tiles.
struct Layer {
  Window2d g;
  Tile tile;
  int64_t o, c, images, th, tw, tiles;
  int64_t jw;     ///< columns of the input transform's rows (OW)
  int64_t pixels; ///< OH * OW
  int64_t vSize;  ///< floats of one image's input transform
};

/// The layer of conv node `node` reading x with filter shape ws (dtype t),
/// or nothing when F(2x2, 3x3) does not suit it.
std::optional<Layer> winogradLayer(ProgramBuilder &pb, Node &node, Value x, const Shape &ws, DType t) {
  const Shape &xs = x.shape();
  Layer l{convGeometry(node, xs, ws), tileFor(ws[0], pb.opt.vectorBytes), ws[0], ws[1], xs[0], 0, 0, 0, 0, 0, 0};
  if (t != DType::F32 || x.dtype() != t || l.tile.lanes == 0 || !tilesFit(l.g, ws) || l.c * 9 < kMinTaps)
    return std::nullopt;
  l.th = l.g.outH / 2;
  l.tw = l.g.outW / 2;
  l.tiles = l.th * l.tw;
  l.jw = l.g.outW;
  l.pixels = l.g.outH * l.g.outW;
  l.vSize = 16 * l.c * l.th * l.jw;
  return l;
}

/// The sum over i, j < n of G's coefficient products times term(i, j), zero
/// ones skipped: n = 3 gives the filter transform (G g G^T)[u][v] with
/// (i, j) = (kh, kw); n = 4 its transpose (G^T S G)[u][v] with (i, j) = (a, b).
Expr gWeighted(int64_t u, int64_t v, int64_t n, DType t, const std::function<Expr(int64_t i, int64_t j)> &term) {
  Expr sum;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double coef = n == 3 ? kG[u][i] * kG[v][j] : kG[i][u] * kG[j][v];
      if (coef == 0)
        continue;
      Expr x = mul(constant(coef, t), term(i, j));
      sum = sum ? add(sum, x) : x;
    }
  return sum;
}

/// Kernel `name`_wt: U[xi][k][o] = (G f G^T)[xi] for xi = (a, b), where
/// f(kh, kw) = w[at(k, o, kh, kw)] (k: the summed channels, o: the outputs);
/// returns U's buffer.
int filterTransform(ProgramBuilder &pb, const std::string &name, Value w, int64_t kDim, int64_t oDim,
                    const std::function<Index(const Expr &k, const Expr &o, int64_t kh, int64_t kw)> &at) {
  const DType t = w.dtype();
  int u = pb.addBuffer(name + ".wt", TensorType{t, {16, kDim, oDim}}, BufferRole::Temp);
  KernelBuilder kb(pb, name + "_wt");
  int out = kb.param(u, /*write=*/true);
  Expr ki = kb.newVar("k"), oi = kb.newVar("o");
  std::vector<Stmt> stores;
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 4; ++b) {
      Expr sum = gWeighted(a, b, 3, t, [&](int64_t kh, int64_t kw) { return kb.valueAt(w, at(ki, oi, kh, kw)); });
      Expr where = add(mul(add(intImm((a * 4 + b) * kDim), ki), intImm(oDim)), oi);
      stores.push_back(store(out, where, sum));
    }
  Stmt loops = forLoop(ki, kDim, ForKind::Serial, forLoop(oi, oDim, ForKind::Scalar, block(std::move(stores))));
  kb.kernel.body = kb.makeParallel(loops, static_cast<double>(oDim * 16 * 9));
  pb.finish(kb);
  return u;
}

/// (B^T d)[a] for the four rows r[0..3] of a patch: r0-r2, r1+r2, r2-r1, r1-r3.
Expr rowCombination(int64_t a, const std::array<Expr, 4> &r) {
  switch (a) {
  case 0: return sub(r[0], r[2]);
  case 1: return add(r[1], r[2]);
  case 2: return sub(r[2], r[1]);
  default: return sub(r[1], r[3]);
  }
}

/// Tile rows: the largest count <= limit that divides the tiles, unless it
/// is under half the limit (then tiles of `limit` and a shorter last one).
int64_t tileRows(int64_t tiles, int64_t limit) {
  for (int64_t r = limit; r * 2 >= limit; --r)
    if (tiles % r == 0)
      return r;
  return limit;
}

/// Input transform of image `im` (c channels): V[c][th][xi][j] = (B^T d B)[xi]
/// of the 4x4 patch at rows 2*th.., column j, for every j < jw - 1 (only even
/// j are read later): blocks of 8 columns as explicit vectors (the last block
/// may overlap the one before; its columns get the same values twice), one
/// column at a time when a row has fewer than 8 patches.
Stmt inputTransform(KernelBuilder &kb, const Image &im, DType t, int64_t c, int64_t th, int64_t jw, int vb) {
  Expr ci = kb.newVar("c"), ti = kb.newVar("th"), j = kb.newVar("j");
  const int64_t starts = jw - 1;
  const int lanes8 = starts >= 8 ? 8 : 1;
  auto patchBlock = [&](const Expr &j0) {
    std::vector<std::pair<Expr, Expr>> lets;
    std::array<std::array<Expr, 4>, 4> d; // d[a][k]: row combination a at column j0 + k
    for (int64_t k = 0; k < 4; ++k) {
      std::array<Expr, 4> rows;
      for (int64_t r = 0; r < 4; ++r) {
        Expr row = add(mul(ti, intImm(2)), intImm(r));
        Expr at = add(im.base, add(add(mul(ci, intImm(im.plane)), mul(row, intImm(im.row))), add(j0, intImm(k))));
        rows[r] = kb.newVar("px", {t, lanes8});
        lets.push_back({rows[r], load(im.buf, t, at, lanes8)});
      }
      for (int64_t a = 0; a < 4; ++a) {
        d[a][k] = kb.newVar("d", {t, lanes8});
        lets.push_back({d[a][k], rowCombination(a, rows)});
      }
    }
    std::vector<Stmt> stores;
    for (int64_t a = 0; a < 4; ++a)
      for (int64_t b = 0; b < 4; ++b) {
        Expr at = add(mul(add(mul(add(mul(ci, intImm(th)), ti), intImm(16)), intImm(a * 4 + b)), intImm(jw)), j0);
        stores.push_back(store(vb, at, rowCombination(b, d[a])));
      }
    return letStmts(lets, block(std::move(stores)));
  };
  std::vector<Stmt> blocks;
  if (lanes8 == 1) {
    blocks.push_back(forLoop(j, starts, ForKind::Serial, patchBlock(j)));
  } else {
    for (int64_t j0 = 0; j0 + 8 <= starts; j0 += 8)
      blocks.push_back(patchBlock(intImm(j0)));
    if (starts % 8)
      blocks.push_back(patchBlock(intImm(starts - 8)));
  }
  return forLoop(ci, c, ForKind::Serial, forLoop(ti, th, ForKind::Serial, block(std::move(blocks))));
}

/// Where V[c][th][xi][j] lies for tile row th and column 2 * tw (the part that
/// depends on the tile).
Expr tileOffset(const Expr &thIdx, const Expr &twIdx, int64_t jw) {
  return add(mul(thIdx, intImm(16 * jw)), mul(twIdx, intImm(2)));
}

/// A^T's rows as combinations (the output transform) and A's (the gradient's):
/// (A^T m)[i] over m[0..3] for i < 2.
Expr outputCombination(const std::array<Expr, 4> &v, int64_t i) {
  return i == 0 ? add(add(v[0], v[1]), v[2]) : sub(sub(v[1], v[2]), v[3]);
}
/// (A e)[k] over e[0..1] for k < 4: e0, e0 + e1, e0 - e1, -e1.
Expr gradientCombination(int64_t k, const Expr &e0, const Expr &e1) {
  switch (k) {
  case 0: return e0;
  case 1: return add(e0, e1);
  case 2: return sub(e0, e1);
  default: return unary(UnOp::Neg, e1);
  }
}

/// M[xi][p][o] = sum over k < kDim of V(xi, k, p) U[xi][k][o] for o < oDim:
/// outer-product tiles of tiles (rows) x vectors of outputs, V broadcast from
/// vb[kBase(xi, k) + pOffset(p)], U read as vectors; M stored to mb.
Stmt winogradProducts(KernelBuilder &kb, const Tile &tile, DType t, int64_t kDim, int64_t oDim, int64_t tiles, int ub,
                      int vb, int mb, const std::function<Expr(const Expr &xi, const Expr &k)> &kBase,
                      const std::function<Expr(const Expr &p)> &pOffset) {
  const Tile wtile{tile.lanes, tile.vectors, tileRows(tiles, tile.rows)};
  int acc = kb.local("acc", t, wtile.rows * wtile.vectors * wtile.lanes);
  TileCode tc{kb, wtile, acc, t};
  Expr xi = kb.newVar("xi"), ob = kb.newVar("ob"), k = kb.newVar("k");
  Expr ocBase = mul(ob, intImm(wtile.width()));
  auto tileBlock = [&](const Expr &p0, int64_t rows) {
    std::vector<std::pair<Expr, Expr>> lets;
    std::vector<Expr> at = tc.rowVars("vp", p0, rows, pOffset, lets);
    Expr vRow = kBase(xi, k);
    Expr uRow = add(mul(add(mul(xi, intImm(kDim)), k), intImm(oDim)), ocBase);
    Stmt kloop = forLoop(k, kDim, ForKind::Serial,
                         tc.step([&](int64_t v) { return load(ub, t, add(uRow, intImm(v * wtile.lanes)), tc.lanes()); },
                                 [&](int64_t r) { return load(vb, t, add(vRow, at[r])); }, rows));
    Stmt save = saveTile(tc, rows, mb, [&](int64_t r, int64_t v) {
      return add(add(mul(add(mul(xi, intImm(tiles)), add(p0, intImm(r))), intImm(oDim)), ocBase), intImm(v * wtile.lanes));
    });
    return letStmts(lets, alloc(acc, block({tc.zero(rows), kloop, save})));
  };
  return forLoop(xi, 16, ForKind::Serial,
                 forLoop(ob, oDim / wtile.width(), ForKind::Serial, overTiles(kb, tiles, wtile.rows, tileBlock)));
}

/// Output transform per tile and vector of outputs: Y = A^T M A, where
/// A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], from mb[xi][p][o] into the
/// channel-minor block cb[(oh * outW + ow) * oDim + o].
Stmt winogradOutput(KernelBuilder &kb, DType t, int64_t lanes, int64_t oDim, int64_t tiles, int64_t tw, int64_t outW,
                    int mb, int cb) {
  Expr p = kb.newVar("p"), ov = kb.newVar("ov");
  const int l = static_cast<int>(lanes);
  std::array<std::array<Expr, 4>, 4> m;
  std::vector<std::pair<Expr, Expr>> lets;
  for (int64_t e = 0; e < 16; ++e) {
    m[e / 4][e % 4] = kb.newVar("m", {t, l});
    lets.push_back({m[e / 4][e % 4], load(mb, t, add(mul(add(intImm(e * tiles), p), intImm(oDim)), mul(ov, intImm(lanes))), l)});
  }
  std::vector<Stmt> outStores;
  for (int64_t i = 0; i < 2; ++i) {
    std::array<Expr, 4> s;
    for (int64_t b = 0; b < 4; ++b)
      s[b] = outputCombination({m[0][b], m[1][b], m[2][b], m[3][b]}, i);
    for (int64_t jj = 0; jj < 2; ++jj) {
      Expr oh = add(mul(div(p, intImm(tw)), intImm(2)), intImm(i)), ow = add(mul(mod(p, intImm(tw)), intImm(2)), intImm(jj));
      Expr at = add(mul(add(mul(oh, intImm(outW)), ow), intImm(oDim)), mul(ov, intImm(lanes)));
      outStores.push_back(store(cb, at, outputCombination(s, jj)));
    }
  }
  return forLoop(p, tiles, ForKind::Serial,
                 forLoop(ov, oDim / lanes, ForKind::Serial, letStmts(lets, block(std::move(outStores)))));
}

} // namespace

bool convWinograd(ProgramBuilder &pb, Node &node, const std::string &name) {
  if (node.kind() != OpKind::Conv2d)
    return false;
  Value in = node.operand(0), w = node.operand(1), y = node.result();
  std::optional<Layer> layer = winogradLayer(pb, node, in, w.shape(), y.dtype());
  if (!layer || layer->images < std::max(1, pb.opt.threads) || pb.bufferOf(w) < 0)
    return false;
  const Window2d &g = layer->g;
  const Tile &tile = layer->tile;
  const int64_t o = layer->o, c = layer->c, images = layer->images, th = layer->th, tw = layer->tw;
  const int64_t tiles = layer->tiles, jw = layer->jw, pixels = layer->pixels, vSize = layer->vSize;
  const DType t = y.dtype();
  const int64_t mSize = 16 * tiles * o;
  if ((vSize + mSize + pixels * o) * 4 > 2 * kMaxImageBytes)
    return false;

  KernelBuilder kb(pb, name);
  Expr n = kb.newVar("n");
  std::optional<Image> im = imageOf(kb, in, g, n);
  if (!im)
    return false;
  int u = filterTransform(pb, name, w, c, o, [](const Expr &k, const Expr &oc, int64_t kh, int64_t kw) {
    return Index{oc, k, intImm(kh), intImm(kw)};
  });
  int ub = kb.param(u, /*write=*/false);
  int vb = kb.local("wino_in", t, vSize), mb = kb.local("wino_prod", t, mSize), cb = kb.local("cblock", t, pixels * o);

  // 1. Input transform.
  Stmt input = inputTransform(kb, *im, t, c, th, jw, vb);

  // 2. M[xi][p][o] = sum over c of V[xi][c][p] U[xi][c][o], tile by tile;
  // 3. the output transform into a channel-minor block.
  Stmt products = winogradProducts(
      kb, tile, t, c, o, tiles, ub, vb, mb,
      [&](const Expr &xi, const Expr &k) { return add(mul(k, intImm(th * 16 * jw)), mul(xi, intImm(jw))); },
      [&](const Expr &p) { return tileOffset(div(p, intImm(tw)), mod(p, intImm(tw)), jw); });
  Stmt output = winogradOutput(kb, t, tile.lanes, o, tiles, tw, g.outW, mb, cb);

  std::vector<Stmt> steps;
  if (im->fill)
    steps.push_back(im->fill);
  steps.insert(steps.end(), {input, products, output, channelMinorToNchw(kb, y, n, cb)});
  Stmt body = alloc(vb, alloc(mb, alloc(cb, block(std::move(steps)))));
  if (im->local >= 0)
    body = alloc(im->local, body);
  kb.kernel.body = kb.makeParallel(forLoop(n, images, ForKind::Serial, body), 2.0 * static_cast<double>(16 * c * o * tiles));
  pb.finish(kb);
  return true;
}

bool filterGradWinograd(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value x = node.operand(0), dy = node.operand(1), dw = node.result();
  std::optional<Layer> layer = winogradLayer(pb, node, x, dw.shape(), dw.dtype());
  if (!layer || dy.dtype() != dw.dtype())
    return false;
  const Window2d &g = layer->g;
  const Tile &tile = layer->tile;
  const int64_t o = layer->o, c = layer->c, images = layer->images, th = layer->th, tw = layer->tw;
  const int64_t tiles = layer->tiles, jw = layer->jw, pixels = layer->pixels, vSize = layer->vSize;
  const DType t = dw.dtype();
  const int64_t ySize = 16 * tiles * o, accSize = 16 * c * o;
  if ((vSize + ySize + pixels * o + accSize) * 4 > 2 * kMaxImageBytes)
    return false;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(pb.opt.threads, images));

  KernelBuilder kb(pb, name);
  Expr part = kb.newVar("part"), n = kb.newVar("n");
  std::optional<Image> im = imageOf(kb, x, g, n);
  if (!im)
    return false;
  // vb: the input transform; dyt[pixel][o]: image n's dy, transposed;
  // yb[xi][p][o]: its transform A dY A^T per 2x2 block; all[xi][c][o]: the
  // part's sums, before G^T . G.
  int vb = kb.local("wino_in", t, vSize), dyt = kb.local("dyt", t, pixels * o), yb = kb.local("wino_dy", t, ySize);
  int all = kb.local("accall", t, accSize);
  Stmt input = inputTransform(kb, *im, t, c, th, jw, vb);

  Expr oc = kb.newVar("o"), oh = kb.newVar("oh"), ow = kb.newVar("ow");
  Stmt transpose = forLoop(oc, o, ForKind::Serial,
                           forLoop(oh, g.outH, ForKind::Serial,
                                   forLoop(ow, g.outW, ForKind::Scalar,
                                           store(dyt, add(mul(add(mul(oh, intImm(g.outW)), ow), intImm(o)), oc),
                                                 kb.valueAt(dy, {n, oc, oh, ow})))));

  // Y[a][b] = sum over i, j of A[a][i] dY[i][j] A[b][j], vectors along o.
  Expr ti = kb.newVar("th"), tj = kb.newVar("tw"), ov = kb.newVar("ov");
  const int lanes = static_cast<int>(tile.lanes);
  std::vector<std::pair<Expr, Expr>> lets;
  std::array<std::array<Expr, 2>, 2> dv;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t jj = 0; jj < 2; ++jj) {
      Expr pix = add(mul(add(mul(ti, intImm(2)), intImm(i)), intImm(g.outW)), add(mul(tj, intImm(2)), intImm(jj)));
      dv[i][jj] = kb.newVar("dy", {t, lanes});
      lets.push_back({dv[i][jj], load(dyt, t, add(mul(pix, intImm(o)), mul(ov, intImm(tile.lanes))), lanes)});
    }
  std::vector<Stmt> yStores;
  Expr p = add(mul(ti, intImm(tw)), tj);
  for (int64_t b = 0; b < 4; ++b) {
    std::array<Expr, 2> z{kb.newVar("z", {t, lanes}), kb.newVar("z", {t, lanes})};
    lets.push_back({z[0], gradientCombination(b, dv[0][0], dv[0][1])});
    lets.push_back({z[1], gradientCombination(b, dv[1][0], dv[1][1])});
    for (int64_t a = 0; a < 4; ++a) {
      Expr at = add(mul(add(mul(intImm(a * 4 + b), intImm(tiles)), p), intImm(o)), mul(ov, intImm(tile.lanes)));
      yStores.push_back(store(yb, at, gradientCombination(a, z[0], z[1])));
    }
  }
  Stmt dyTransform = forLoop(ti, th, ForKind::Serial,
                             forLoop(tj, tw, ForKind::Serial,
                                     forLoop(ov, o / tile.lanes, ForKind::Serial, letStmts(lets, block(std::move(yStores))))));

  // all[xi][c][o] += sum over tiles p of V[xi][c][p] Y[xi][p][o]: tiles of
  // channels (rows) x vectors of filters, accumulated over the image's tiles.
  const Tile wtile{tile.lanes, tile.vectors, tileRows(c, tile.rows)};
  int acc = kb.local("acc", t, wtile.rows * wtile.vectors * wtile.lanes);
  TileCode tc{kb, wtile, acc, t};
  Expr xi = kb.newVar("xi"), ob = kb.newVar("ob");
  Expr ocBase = mul(ob, intImm(wtile.width()));
  auto channelTile = [&](const Expr &c0, int64_t rows) {
    auto home = [&](int64_t r, int64_t v) {
      return add(add(mul(add(mul(xi, intImm(c)), add(c0, intImm(r))), intImm(o)), ocBase), intImm(v * wtile.lanes));
    };
    Expr yAt = add(mul(add(mul(xi, intImm(tiles)), add(mul(ti, intImm(tw)), tj)), intImm(o)), ocBase);
    Expr vAt = add(mul(xi, intImm(jw)), tileOffset(ti, tj, jw));
    Stmt step = tc.step([&](int64_t v) { return load(yb, t, add(yAt, intImm(v * wtile.lanes)), tc.lanes()); },
                        [&](int64_t r) { return load(vb, t, add(mul(add(c0, intImm(r)), intImm(th * 16 * jw)), vAt)); },
                        rows);
    Stmt sweep = forLoop(ti, th, ForKind::Serial, forLoop(tj, tw, ForKind::Serial, step));
    return alloc(acc, block({loadTile(tc, rows, all, home), sweep, saveTile(tc, rows, all, home)}));
  };
  Stmt products = forLoop(xi, 16, ForKind::Serial,
                          forLoop(ob, o / wtile.width(), ForKind::Serial, overTiles(kb, c, wtile.rows, channelTile)));

  std::vector<Stmt> perImage;
  if (im->fill)
    perImage.push_back(im->fill);
  perImage.insert(perImage.end(), {input, transpose, dyTransform, products});
  Expr first = div(mul(part, intImm(images)), intImm(parts));
  Expr last = div(mul(add(part, intImm(1)), intImm(images)), intImm(parts));
  Stmt sweep = forLoop(n, first, sub(last, first), ForKind::Serial, block(std::move(perImage)));
  Expr e = kb.newVar("e");
  Stmt zero = forLoop(e, accSize, ForKind::Serial, store(all, e, constant(0, t)));
  // The part's sums go to row `part` of a [parts, 16, C, O] scratch buffer.
  int scratch = pb.addBuffer(name + ".parts", TensorType{t, {parts, 16, c, o}}, BufferRole::Temp);
  Stmt save = forLoop(e, accSize, ForKind::Serial,
                      store(kb.param(scratch, true), add(mul(part, intImm(accSize)), e), load(all, t, e)));
  Stmt partBody = alloc(vb, alloc(dyt, alloc(yb, alloc(all, block({zero, sweep, save})))));
  if (im->local >= 0)
    partBody = alloc(im->local, partBody);
  kb.kernel.body = kb.makeParallel(forLoop(part, parts, ForKind::Serial, partBody),
                                   2.0 * static_cast<double>(16 * c * o * tiles * images / parts));
  pb.finish(kb);

  // Kernel _sum: the parts added in order, then dw = G^T S G.
  KernelBuilder sk(pb, name + "_sum");
  int in = sk.param(scratch, false);
  Expr so = sk.newVar("o"), sc = sk.newVar("c");
  std::vector<Stmt> outs;
  std::array<Expr, 16> sums;
  std::vector<std::pair<Expr, Expr>> sumLets;
  for (int64_t x16 = 0; x16 < 16; ++x16) {
    Expr at = add(mul(add(intImm(x16 * c), sc), intImm(o)), so);
    Expr v = load(in, t, at);
    for (int64_t q = 1; q < parts; ++q)
      v = add(v, load(in, t, add(intImm(q * accSize), at)));
    sums[x16] = sk.newVar("s", {t, 1});
    sumLets.push_back({sums[x16], v});
  }
  for (int64_t kh = 0; kh < 3; ++kh)
    for (int64_t kw = 0; kw < 3; ++kw) {
      Expr v = gWeighted(kh, kw, 4, t, [&](int64_t a, int64_t b) { return sums[a * 4 + b]; });
      outs.push_back(sk.storeResult(dw, {so, sc, intImm(kh), intImm(kw)}, v));
    }
  Stmt sumBody = forLoop(so, o, ForKind::Serial, forLoop(sc, c, ForKind::Scalar, letStmts(sumLets, block(std::move(outs)))));
  sk.kernel.body = sk.makeParallel(sumBody, static_cast<double>(c * 16 * parts));
  pb.finish(sk);
  return true;
}

bool inputGradWinograd(ProgramBuilder &pb, Node &node, const std::string &name) {
  Value dy = node.operand(0), w = node.operand(1), dx = node.result();
  const Shape &xs = dx.shape(), &ws = w.shape(), &ys = dy.shape();
  const Window2d g = convGeometry(node, xs, ws);
  const DType t = dx.dtype();
  const int64_t o = ws[0], c = ws[1], images = xs[0], h = xs[2], wd = xs[3];
  // dy padded by 2 - padding on each side: the correlation with the turned
  // filter then yields dx (H x W) exactly.
  const Padding2d pad{2 - g.pad.top, 2 - g.pad.left, 2 - g.pad.bottom, 2 - g.pad.right};
  const Tile tile = tileFor(c, pb.opt.vectorBytes), along = tileFor(o, pb.opt.vectorBytes);
  if (t != DType::F32 || dy.dtype() != t || tile.lanes == 0 || along.lanes == 0 || ws[2] != 3 || ws[3] != 3 ||
      g.strideH != 1 || g.strideW != 1 || pad.top < 0 || pad.left < 0 || pad.bottom < 0 || pad.right < 0 ||
      h % 2 != 0 || wd % 2 != 0 || o * 9 < kMinTaps || images < std::max(1, pb.opt.threads))
    return false;
  const int64_t hp = h + 2, wp = wd + 2, th = h / 2, tw = wd / 2, tiles = th * tw;
  const int64_t dSize = hp * wp * o, vSize = 16 * tiles * o, mSize = 16 * tiles * c, cSize = h * wd * c;
  if ((dSize + vSize + mSize + cSize) * 4 > 2 * kMaxImageBytes)
    return false;

  KernelBuilder kb(pb, name);
  Expr n = kb.newVar("n");
  int u = filterTransform(pb, name, w, o, c, [](const Expr &k, const Expr &oc, int64_t kh, int64_t kw) {
    return Index{k, oc, intImm(2 - kh), intImm(2 - kw)};
  });
  int ub = kb.param(u, /*write=*/false);
  // dp[(row * Wp + col) * O + o]: image n's dy, zero-padded and channel-minor.
  int dp = kb.local("dypad", t, dSize), vb = kb.local("wino_in", t, vSize), mb = kb.local("wino_prod", t, mSize);
  int cb = kb.local("cblock", t, cSize);
  Expr e = kb.newVar("e"), oc = kb.newVar("o"), r = kb.newVar("r"), col = kb.newVar("col");
  Stmt zero = forLoop(e, dSize, ForKind::Serial, store(dp, e, constant(0, t)));
  Expr at = add(mul(add(mul(add(r, intImm(pad.top)), intImm(wp)), add(col, intImm(pad.left))), intImm(o)), oc);
  // Strided stores (a transposition): scalar, vectorized they would scatter.
  Stmt copy = forLoop(oc, o, ForKind::Serial,
                      forLoop(r, ys[2], ForKind::Serial,
                              forLoop(col, ys[3], ForKind::Scalar, store(dp, at, kb.valueAt(dy, {n, oc, r, col})))));

  // Input transform per tile and vector of dy's channels: V[xi][p][o].
  Expr ti = kb.newVar("th"), tj = kb.newVar("tw"), ov = kb.newVar("ov");
  const int lanes = static_cast<int>(along.lanes);
  std::vector<std::pair<Expr, Expr>> lets;
  std::array<std::array<Expr, 4>, 4> d; // d[a][k]: row combination a of patch column k
  for (int64_t k = 0; k < 4; ++k) {
    std::array<Expr, 4> rows;
    for (int64_t i = 0; i < 4; ++i) {
      Expr pix = add(mul(add(mul(ti, intImm(2)), intImm(i)), intImm(wp)), add(mul(tj, intImm(2)), intImm(k)));
      rows[i] = kb.newVar("px", {t, lanes});
      lets.push_back({rows[i], load(dp, t, add(mul(pix, intImm(o)), mul(ov, intImm(along.lanes))), lanes)});
    }
    for (int64_t a = 0; a < 4; ++a) {
      d[a][k] = kb.newVar("d", {t, lanes});
      lets.push_back({d[a][k], rowCombination(a, rows)});
    }
  }
  std::vector<Stmt> vStores;
  Expr p = add(mul(ti, intImm(tw)), tj);
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 4; ++b)
      vStores.push_back(store(vb, add(mul(add(mul(intImm(a * 4 + b), intImm(tiles)), p), intImm(o)),
                                      mul(ov, intImm(along.lanes))),
                              rowCombination(b, d[a])));
  Stmt input = forLoop(ti, th, ForKind::Serial,
                       forLoop(tj, tw, ForKind::Serial,
                               forLoop(ov, o / along.lanes, ForKind::Serial, letStmts(lets, block(std::move(vStores))))));

  Stmt products = winogradProducts(
      kb, tile, t, o, c, tiles, ub, vb, mb, [&](const Expr &xi, const Expr &k) { return add(mul(xi, intImm(tiles * o)), k); },
      [&](const Expr &pt) { return mul(pt, intImm(o)); });
  Stmt output = winogradOutput(kb, t, tile.lanes, c, tiles, tw, wd, mb, cb);
  Stmt body = block({zero, copy, input, products, output, channelMinorToNchw(kb, dx, n, cb)});
  body = alloc(dp, alloc(vb, alloc(mb, alloc(cb, body))));
  kb.kernel.body = kb.makeParallel(forLoop(n, images, ForKind::Serial, body), 2.0 * static_cast<double>(16 * c * o * tiles));
  pb.finish(kb);
  return true;
}

} // namespace kiln::lower
