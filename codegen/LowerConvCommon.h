// codegen/LowerConvCommon.h - what the convolution lowerings share.
//
// Internal to codegen/: the window geometry of a conv node, the (c, kh, kw)
// of a flattened filter column, and the fast paths of codegen/LowerConvDirect.cpp
// that codegen/LowerConv.cpp tries before its GEMMs.
#ifndef KILN_CODEGEN_LOWERCONVCOMMON_H
#define KILN_CODEGEN_LOWERCONVCOMMON_H

#include "codegen/LowerContext.h"
#include "ir/ops/ConvUtil.h"

#include <array>
#include <optional>

namespace kiln::lower {

/// The window geometry of conv node `node` over input shape x, filter shape w.
inline Window2d convGeometry(Node &node, const Shape &x, const Shape &w) {
  return kiln::convGeometry(node.mnemonic(), node.attrs(), x, w);
}

inline bool isPadded(const Window2d &g) { return g.pad.top || g.pad.left || g.pad.bottom || g.pad.right; }

/// Column q of a filter flattened over its last three dims (C, KH, KW of
/// ws = [O, C, KH, KW]) as its (c, kh, kw).
inline std::array<Expr, 3> filterTap(const Expr &q, const Shape &ws) {
  int64_t kk = ws[2] * ws[3];
  return {kir::div(q, kir::intImm(kk)), kir::div(kir::mod(q, kir::intImm(kk)), kir::intImm(ws[3])),
          kir::mod(q, kir::intImm(ws[3]))};
}

/// Value v (NCHW) at (n, c, ih, iw), 0 outside [0,H)x[0,W).
inline Expr paddedAt(KernelBuilder &kb, Value v, const Expr &n, const Expr &c, const Expr &ih, const Expr &iw) {
  const Shape &s = v.shape();
  Expr ok = kir::binary(kir::BinOp::And, inRange(ih, s[2]), inRange(iw, s[3]));
  Expr x = kb.valueAt(v, {n, c, clampIndex(ih, s[2]), clampIndex(iw, s[3])});
  return kir::select(ok, x, kir::constant(0, v.dtype()));
}

/// Where the sums of one part of a filter gradient's images go: with one
/// part, dw(o, q) itself (q = (c, kh, kw) flattened); else element
/// (part, o, q) of a [parts, O, Q] scratch buffer that finishPartSums adds up.
struct PartSums {
  int scratch = -1;
  std::function<Stmt(const Expr &o, const Expr &q, Expr v)> put;
};
PartSums partSums(ProgramBuilder &pb, KernelBuilder &kb, const std::string &name, Value dw, int64_t parts,
                  const Expr &part);
/// After the parts kernel: kernel `name`_sum adding the parts in order into dw
/// (nothing with one part).
void finishPartSums(ProgramBuilder &pb, const std::string &name, Value dw, const PartSums &sums, int64_t parts);

/// dw(o, q) = v for column q = (c, kh, kw) of a flattened filter.
Stmt filterGradStore(KernelBuilder &kb, Value dw, const Expr &o, const Expr &q, Expr v);

/// conv2d_filter_grad with stride 1, no padding and OW a multiple of 8 as
/// dot products along output rows (LowerWeightGrads.cpp). False, emitting
/// nothing, when it does not suit.
bool filterGradRows(ProgramBuilder &pb, Node &node, const std::string &name);

// ---- Outer-product tiles (LowerConvDirect.cpp, LowerConvWinograd.cpp) ------

/// Fewest filter taps (C*KH*KW) for conv2d's channel form: with fewer, the
/// transposing epilogue costs more than the outer products save.
inline constexpr int64_t kMinTaps = 64;
/// Largest local copy of a padded image, in bytes.
inline constexpr int64_t kMaxImageBytes = 512 * 1024;

/// The register tile: VB vectors of L output channels times R rows (pixels
/// or taps): at most 24 accumulators and 12 broadcasts per step with 32
/// vector registers (AVX-512), 12 and 6 with 16 (AVX2, SSE).
struct Tile {
  int64_t lanes = 0, vectors = 0, rows = 0;
  int64_t width() const { return lanes * vectors; } // output channels per block
};

/// The tile for o output channels, or lanes 0 when o is not a multiple of
/// the vector length.
Tile tileFor(int64_t o, int vectorBytes);

/// x's image n as the kernels read it: element (c, ih, iw) of the padded
/// image is buf[base + c*plane + ih*row + iw]. In place when x has a buffer
/// and no padding, else a zero-padded local copy that `fill` writes.
struct Image {
  int buf = -1;
  int local = -1; ///< the copy's local buffer, or -1
  int64_t row = 0, plane = 0;
  Expr base;
  Stmt fill;
};

/// x's image n: in place, or a zero-padded local copy; nothing when the copy
/// would exceed kMaxImageBytes.
std::optional<Image> imageOf(KernelBuilder &kb, Value x, const Window2d &g, const Expr &n);

/// The accumulators of an R x VB tile: vector (r, v) at acc[(r*VB + v)*L].
struct TileCode {
  KernelBuilder &kb;
  Tile tile;
  int acc;
  DType t;

  Expr slot(int64_t r, int64_t v) const { return kir::intImm((r * tile.vectors + v) * tile.lanes); }
  int lanes() const { return static_cast<int>(tile.lanes); }

  /// One i64 variable per row r < rows of a tile starting at row r0, bound
  /// in `lets` to at(r0 + r) (where the row's broadcast operand starts).
  std::vector<Expr> rowVars(const std::string &prefix, const kir::Expr &r0, int64_t rows,
                            const std::function<Expr(const Expr &row)> &at,
                            std::vector<std::pair<Expr, Expr>> &lets) const {
    std::vector<Expr> vars;
    for (int64_t r = 0; r < rows; ++r) {
      vars.push_back(kb.newVar(prefix));
      lets.push_back({vars.back(), at(kir::add(r0, kir::intImm(r)))});
    }
    return vars;
  }

  /// One step: acc(r, v) += kir::splat(scalars[r]) * vectors[v].
  Stmt step(const std::function<Expr(int64_t v)> &vector, const std::function<Expr(int64_t r)> &scalar,
            int64_t rows) const {
    std::vector<std::pair<Expr, Expr>> lets;
    std::vector<Expr> vs, ss;
    for (int64_t v = 0; v < tile.vectors; ++v) {
      vs.push_back(kb.newVar("w", {t, lanes()}));
      lets.push_back({vs.back(), vector(v)});
    }
    std::vector<Stmt> fmas;
    for (int64_t r = 0; r < rows; ++r) {
      ss.push_back(kb.newVar("x", {t, lanes()}));
      lets.push_back({ss.back(), kir::splat(scalar(r), lanes())});
      for (int64_t v = 0; v < tile.vectors; ++v)
        fmas.push_back(kir::store(acc, slot(r, v), kir::add(kir::load(acc, t, slot(r, v), lanes()), kir::mul(ss[r], vs[v]))));
    }
    return kir::letStmts(lets, kir::block(std::move(fmas)));
  }

  /// acc(r, v) = 0 for r < rows.
  Stmt zero(int64_t rows) const {
    std::vector<Stmt> s;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < tile.vectors; ++v)
        s.push_back(kir::store(acc, slot(r, v), kir::splat(kir::constant(0, t), lanes())));
    return kir::block(std::move(s));
  }
};

/// buf[at(r, v)] = acc(r, v) for r < rows.
Stmt saveTile(const TileCode &tc, int64_t rows, int buf, const std::function<Expr(int64_t r, int64_t v)> &at);
/// Loads acc(r, v) = buf[at(r, v)] for r < rows.
Stmt loadTile(const TileCode &tc, int64_t rows, int buf, const std::function<Expr(int64_t r, int64_t v)> &at);
/// Tiles of `rows` over [0, extent): whole tiles in a loop, then the rest as
/// one shorter tile; body(first row, rows in the tile).
Stmt overTiles(KernelBuilder &kb, int64_t extent, int64_t rows, const std::function<Stmt(const Expr &, int64_t)> &body);
/// Image n of v (NCHW) from the channel-minor block cb[(h*W + w)*C + c],
/// through v's epilogue.
Stmt channelMinorToNchw(KernelBuilder &kb, Value v, const Expr &n, int cb);

/// 3x3 conv2d with stride 1 and an even output size by Winograd's F(2x2, 3x3)
/// (LowerConvWinograd.cpp): a `_wt` kernel transforms the filter, then one
/// kernel per image. False, emitting nothing, when the shape does not suit.
bool convWinograd(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d_input_grad of a 3x3 filter with stride 1 and an even input size by
/// Winograd's F(2x2, 3x3) over dy zero-padded and transposed channel-minor
/// per image (LowerConvWinograd.cpp). False, emitting nothing, when the
/// shape does not suit.
bool inputGradWinograd(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d_filter_grad of a 3x3 filter with stride 1 and an even output size
/// by Winograd's F(2x2, 3x3) (LowerConvWinograd.cpp): one part of the images
/// per thread, the parts added and transformed back by a `_sum` kernel.
bool filterGradWinograd(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d with vectors along the output channels (LowerConvDirect.cpp): a
/// `_wt` kernel transposes the filter, then one kernel per image. False,
/// emitting nothing, when the shape does not suit it.
bool convChannels(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d with stride 1 and OW a multiple of 8 (LowerConvDirect.cpp):
/// vectors along output rows, filter values broadcast, one kernel per image.
bool convRows(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d_input_grad with stride 1 and vectors along the input channels
/// (LowerConvDirect.cpp): a `_wt` kernel rearranges the filter, then one
/// kernel per image reading dy in place.
bool inputGradChannels(ProgramBuilder &pb, Node &node, const std::string &name);

/// conv2d_filter_grad with vectors along the output channels
/// (LowerConvDirect.cpp): one part of the images per thread, parts summed in
/// order by a `_sum` kernel. False, emitting nothing, when it does not suit.
bool filterGradChannels(ProgramBuilder &pb, Node &node, const std::string &name);

} // namespace kiln::lower

#endif // KILN_CODEGEN_LOWERCONVCOMMON_H
