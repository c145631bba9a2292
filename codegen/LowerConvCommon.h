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
