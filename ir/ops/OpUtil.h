// ir/ops/OpUtil.h - helpers shared by the op blocks: axes, broadcasting, attr access.
//
// Header-only so every family file (and the interpreter) can use it without a
// link dependency. Messages follow "opname: what, numbers"; callers pass the
// op mnemonic.
#ifndef KILN_IR_OPS_OPUTIL_H
#define KILN_IR_OPS_OPUTIL_H

#include "ir/Attr.h"
#include "ir/Error.h"
#include "ir/OpInfo.h"
#include "ir/Types.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Maps `axis` (negative counts from the end) into [0, rank); UserError
/// "op: axis 3 out of range for rank 2" otherwise.
inline int64_t normalizeAxis(int64_t axis, int64_t rank, std::string_view op) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_USER_CHECK(a >= 0 && a < rank) << op << ": axis " << axis << " out of range for rank " << rank;
  return a;
}

/// Normalizes a list of axes; an empty list means every axis. The result is
/// sorted and duplicate-free (a duplicate is a UserError).
inline std::vector<int64_t> normalizeAxes(std::span<const int64_t> axes, int64_t rank,
                                          std::string_view op) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalizeAxis(a, rank, op));
  std::sort(out.begin(), out.end());
  KILN_USER_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end())
      << op << ": repeated axis in " << shapeString(Shape(axes.begin(), axes.end()));
  return out;
}

/// "[2,3] and [4]": operand shapes for messages.
inline std::string shapesString(std::span<const TensorType> ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i) s += i + 1 == ts.size() ? " and " : ", ";
    s += shapeString(ts[i].shape);
  }
  return s;
}

/// Numpy-style (trailing-aligned) broadcast of two shapes; UserError
/// "op: cannot broadcast shapes [2,3] and [4]" when they do not fit.
inline Shape broadcastShape(const Shape &a, const Shape &b, std::string_view op) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    KILN_USER_CHECK(da == db || da == 1 || db == 1)
        << op << ": cannot broadcast shapes " << shapeString(a) << " and " << shapeString(b);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/// For an operand of shape `operand` broadcast to `result`, the result dim each
/// operand dim maps to: `dims` itself when non-empty (checked), else trailing
/// alignment; negative dims count from the end. Checks that each operand dim
/// is 1 or equal to its result dim.
inline std::vector<int64_t> broadcastDimMap(const Shape &operand, const Shape &result,
                                            std::span<const int64_t> dims, std::string_view op) {
  std::vector<int64_t> map(operand.size());
  if (dims.empty()) {
    KILN_USER_CHECK(operand.size() <= result.size())
        << op << ": cannot broadcast " << shapeString(operand) << " to " << shapeString(result);
    for (size_t k = 0; k < operand.size(); ++k)
      map[k] = static_cast<int64_t>(result.size() - operand.size() + k);
  } else {
    KILN_USER_CHECK(dims.size() == operand.size())
        << op << ": broadcast dims " << shapeString(Shape(dims.begin(), dims.end())) << " do not match rank "
        << operand.size() << " of " << shapeString(operand);
    int64_t r = static_cast<int64_t>(result.size());
    for (size_t k = 0; k < operand.size(); ++k) {
      int64_t d = dims[k] < 0 ? dims[k] + r : dims[k]; // negative dims count from the end
      KILN_USER_CHECK(d >= 0 && d < r && (k == 0 || d > map[k - 1]))
          << op << ": broadcast dims " << shapeString(Shape(dims.begin(), dims.end()))
          << " must be increasing and within rank " << r;
      map[k] = d;
    }
  }
  for (size_t k = 0; k < operand.size(); ++k)
    KILN_USER_CHECK(operand[k] == 1 || operand[k] == result[map[k]])
        << op << ": cannot broadcast " << shapeString(operand) << " to " << shapeString(result);
  return map;
}

/// Per result dim, the stride (in elements) of an operand of shape `operand`
/// broadcast to `result` (0 along broadcast dims). Lets a loop over result
/// elements find the operand element: sum(idx[d] * strides[d]).
inline std::vector<int64_t> broadcastStrides(const Shape &operand, const Shape &result,
                                             std::span<const int64_t> dims = {}) {
  std::vector<int64_t> map = broadcastDimMap(operand, result, dims, "broadcast");
  std::vector<int64_t> own = rowMajorStrides(operand);
  std::vector<int64_t> out(result.size(), 0);
  for (size_t k = 0; k < operand.size(); ++k)
    if (operand[k] != 1) out[map[k]] = own[k];
  return out;
}

/// Result shape of a binary op with operands a and b and `broadcast` attr
/// `dims`: numpy-style when empty; otherwise the lower-rank operand's dim k
/// maps to result dim dims[k] and the higher-rank operand gives the shape.
inline Shape binaryBroadcastShape(const Shape &a, const Shape &b, std::span<const int64_t> dims,
                                  std::string_view op) {
  if (dims.empty()) return broadcastShape(a, b, op);
  const Shape &big = a.size() >= b.size() ? a : b;
  const Shape &small = a.size() >= b.size() ? b : a;
  broadcastDimMap(small, big, dims, op);
  return big;
}

/// Operand `i`'s broadcast dims for a node with `broadcast` attr `dims`:
/// `dims` when that operand has lower rank than `result`, empty otherwise.
inline std::span<const int64_t> operandBroadcastDims(const Shape &operand, const Shape &result,
                                                     std::span<const int64_t> dims) {
  if (dims.empty() || operand.size() >= result.size()) return {};
  return dims;
}

/// Checks that every operand has dtype `t`; UserError names the op and dtypes.
inline void checkSameDType(const InferContext &c) {
  for (size_t i = 1; i < c.operands.size(); ++i)
    KILN_USER_CHECK(c.operands[i].dtype == c.operands[0].dtype)
        << c.op << ": operand dtypes differ, " << dtypeName(c.operands[0].dtype) << " and "
        << dtypeName(c.operands[i].dtype);
}

/// Checks that operand `i` is a float tensor.
inline void checkFloat(const InferContext &c, size_t i = 0) {
  KILN_USER_CHECK(isFloat(c.operands[i].dtype))
      << c.op << ": expects a float operand, got " << typeString(c.operands[i]);
}

/// Decomposes linear row-major index `i` of `shape` into per-dim indices.
inline void unravelIndex(int64_t i, const Shape &shape, std::vector<int64_t> &idx) {
  idx.resize(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
}

/// AttrMap holding one Ints attribute: a shorthand for building nodes.
inline AttrMap intsAttr(std::string_view name, std::vector<int64_t> v) {
  AttrMap m;
  m.set(name, std::move(v));
  return m;
}

} // namespace kiln

#endif // KILN_IR_OPS_OPUTIL_H
