// ir/ops/ConvUtil.h - sliding-window geometry shared by conv2d, pooling and backends.
//
// One place computes strides, padding ("valid", "same" or explicit
// [top,left,bottom,right]) and output sizes of a 2-D window over NCHW data, so
// inference, the interpreter and every backend agree on them. Header-only; it
// includes nothing beyond ir/Attr.h and ir/Error.h.
#ifndef KILN_IR_OPS_CONVUTIL_H
#define KILN_IR_OPS_CONVUTIL_H

#include "ir/Attr.h"
#include "ir/Error.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Zero padding around the spatial dims, in elements.
struct Padding2d {
  int64_t top = 0, left = 0, bottom = 0, right = 0;
};

/// Geometry of a 2-D window sliding over the H and W dims of NCHW data.
/// Output position (oh, ow) reads input rows oh*strideH - pad.top + kh for kh
/// in [0, kernelH), and likewise for columns; rows outside [0, inH) are padding.
struct Window2d {
  int64_t inH = 0, inW = 0;
  int64_t kernelH = 0, kernelW = 0;
  int64_t strideH = 1, strideW = 1;
  Padding2d pad;
  int64_t outH = 0, outW = 0;

  /// First input row of output row oh (negative inside the top padding).
  int64_t rowStart(int64_t oh) const { return oh * strideH - pad.top; }
  /// First input column of output column ow.
  int64_t colStart(int64_t ow) const { return ow * strideW - pad.left; }
};

/// "same" padding of one dim: out = ceil(in / stride),
/// total = max((out - 1) * stride + kernel - in, 0), before = total / 2.
inline void samePadding(int64_t in, int64_t kernel, int64_t stride, int64_t &before, int64_t &after) {
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
  before = total / 2;
  after = total - before;
}

/// Output extent of one dim; may be <= 0 when the window does not fit.
inline int64_t windowOutSize(int64_t in, int64_t kernel, int64_t stride, int64_t before,
                             int64_t after) {
  int64_t span = in + before + after - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

/// Text of a padding attribute for messages: "valid", "same" or "[1,1,1,1]".
inline std::string paddingString(const Attr &padding) {
  if (const auto *s = std::get_if<std::string>(&padding))
    return *s;
  return attrString(padding);
}

/// Computes the window geometry of input extent inH x inW, kernel kH x kW,
/// `stride` (two positive ints) and `padding` (a Padding attribute). Throws
/// UserError starting with `op` on a bad stride or padding, or when the window
/// does not fit the padded input.
inline Window2d windowGeometry(std::string_view op, int64_t inH, int64_t inW, int64_t kH,
                               int64_t kW, std::span<const int64_t> stride, const Attr &padding) {
  KILN_USER_CHECK(stride.size() == 2)
      << op << ": stride needs 2 values (height, width), got " << stride.size();
  KILN_USER_CHECK(stride[0] > 0 && stride[1] > 0)
      << op << ": stride must be positive, got [" << stride[0] << "," << stride[1] << "]";
  KILN_USER_CHECK(kH > 0 && kW > 0) << op << ": kernel must be positive, got " << kH << "x" << kW;
  Window2d w;
  w.inH = inH;
  w.inW = inW;
  w.kernelH = kH;
  w.kernelW = kW;
  w.strideH = stride[0];
  w.strideW = stride[1];
  if (const auto *s = std::get_if<std::string>(&padding)) {
    if (*s == "same") {
      samePadding(inH, kH, w.strideH, w.pad.top, w.pad.bottom);
      samePadding(inW, kW, w.strideW, w.pad.left, w.pad.right);
    } else {
      KILN_USER_CHECK(*s == "valid")
          << op << ": padding must be \"valid\", \"same\" or [top,left,bottom,right], got \"" << *s
          << "\"";
    }
  } else if (const auto *p = std::get_if<std::vector<int64_t>>(&padding)) {
    KILN_USER_CHECK(p->size() == 4)
        << op << ": explicit padding needs 4 values [top,left,bottom,right], got " << p->size();
    KILN_USER_CHECK((*p)[0] >= 0 && (*p)[1] >= 0 && (*p)[2] >= 0 && (*p)[3] >= 0)
        << op << ": padding must not be negative, got " << attrString(padding);
    w.pad = Padding2d{(*p)[0], (*p)[1], (*p)[2], (*p)[3]};
  } else {
    KILN_USER_ERROR() << op << ": padding must be \"valid\", \"same\" or [top,left,bottom,right]";
  }
  w.outH = windowOutSize(inH, kH, w.strideH, w.pad.top, w.pad.bottom);
  w.outW = windowOutSize(inW, kW, w.strideW, w.pad.left, w.pad.right);
  KILN_USER_CHECK(w.outH > 0 && w.outW > 0)
      << op << ": window " << kH << "x" << kW << " does not fit the input " << inH << "x" << inW
      << " with padding " << paddingString(padding);
  return w;
}

/// windowGeometry reading the `stride` and `padding` attributes of `attrs`.
/// An empty stride means "equal to the kernel" (pooling's default).
inline Window2d windowGeometry(std::string_view op, const AttrMap &attrs, int64_t inH, int64_t inW,
                               int64_t kH, int64_t kW) {
  std::vector<int64_t> stride = attrs.getInts("stride");
  if (stride.empty())
    stride = {kH, kW};
  return windowGeometry(op, inH, inW, kH, kW, stride, attrs.get("padding"));
}

/// Spatial geometry of a convolution of input shape `x` (NCHW) with filter
/// shape `w` (OIHW), from its `stride` and `padding` attributes.
inline Window2d convGeometry(std::string_view op, const AttrMap &attrs, std::span<const int64_t> x,
                             std::span<const int64_t> w) {
  return windowGeometry(op, x[2], x[3], w[2], w[3], attrs.getInts("stride"), attrs.get("padding"));
}

} // namespace kiln

#endif // KILN_IR_OPS_CONVUTIL_H
