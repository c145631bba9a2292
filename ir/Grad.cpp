// ir/Grad.cpp - helpers shared by gradient rules: summing a broadcast gradient
// back to its operand's shape.
#include "ir/Grad.h"

#include "ir/Error.h"
#include "ir/ops/OpUtil.h"

namespace kiln {

Value sumToShape(Graph &g, Value grad, const Shape &target, std::span<const int64_t> dims) {
  const Shape &have = grad.shape();
  if (have == target)
    return grad;
  // Result dims that the operand's dims map to; every other dim, and every
  // mapped dim where the operand has extent 1 but the gradient does not, was
  // broadcast and is summed away.
  std::vector<int64_t> map = broadcastDimMap(target, have, dims, "sum_to_shape");
  std::vector<bool> keep(have.size(), false);
  for (size_t k = 0; k < target.size(); ++k)
    keep[map[k]] = !(target[k] == 1 && have[map[k]] != 1);
  std::vector<int64_t> axes;
  for (size_t d = 0; d < have.size(); ++d)
    if (!keep[d])
      axes.push_back(static_cast<int64_t>(d));
  Value r = grad;
  if (!axes.empty()) {
    AttrMap a;
    a.set("axes", axes);
    a.set("keepdims", false);
    r = g.build(OpKind::ReduceSum, {r}, std::move(a));
  }
  if (r.shape() != target) {
    AttrMap a;
    a.set("shape", target);
    r = g.build(OpKind::Reshape, {r}, std::move(a));
  }
  return r;
}

} // namespace kiln
