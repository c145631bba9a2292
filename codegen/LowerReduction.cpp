// codegen/LowerReduction.cpp - reduce_sum, reduce_mean, reduce_max and argmax.
//
// The kept dims after the last reduced dim form an "inner block" that stays
// innermost: a local accumulator array holds one partial result per inner
// element, so the hot loop walks memory contiguously and vectorizes across
// independent accumulators (bias gradients: sum over N of [N, C]). When the
// last dim itself is reduced the block is one scalar accumulator, which the
// emitter lets LLVM reassociate. The kept dims before it are outer loops, the
// first of them parallel.
#include "codegen/LowerContext.h"

#include "ir/Error.h"
#include "ir/ops/OpUtil.h"

#include <cmath>
#include <limits>

namespace kiln::lower {

using namespace kir;

namespace {
Expr lowest(DType t) {
  if (isFloat(t))
    return floatImm(-INFINITY, t);
  switch (t) {
  case DType::I32: return intImm(std::numeric_limits<int32_t>::min(), t);
  case DType::I64: return intImm(std::numeric_limits<int64_t>::min(), t);
  default: return intImm(0, t);
  }
}
} // namespace

void lowerReduction(ProgramBuilder &pb, Node &n, const std::string &name) {
  KernelBuilder kb(pb, name);
  Value in = n.operand(0), out = n.result();
  const Shape &is = in.shape();
  auto rank = static_cast<int64_t>(is.size());
  bool argmax = n.kind() == OpKind::Argmax;
  std::vector<int64_t> axes =
      argmax ? std::vector<int64_t>{normalizeAxis(n.attrs().getInt("axis"), rank, "argmax")}
             : normalizeAxes(n.attrs().getInts("axes"), rank, n.mnemonic());
  bool keep = n.attrs().getBool("keepdims");
  std::vector<bool> reduced(rank, false);
  int64_t count = 1, last = -1;
  for (int64_t a : axes) {
    reduced[a] = true;
    count *= is[a];
    last = std::max(last, a);
  }
  Shape innerShape(is.begin() + (last + 1), is.end());
  int64_t v = numElements(innerShape), tile = tileOf(v);
  DType at = argmax ? in.dtype() : out.dtype();

  // Outer loop variables: kept dims before the last reduced one, then the tile.
  // A run of adjacent reduced dims of a buffer is one loop over their product
  // (index 0 in all but the run's last dim gives the same linear address), so
  // bias gradients (sum over N, H, W of NCHW) stream whole H*W planes.
  const bool flat = kb.pb.bufferOf(in) >= 0;
  Index full(rank);
  std::vector<std::pair<Expr, int64_t>> outerLoops, redLoops;
  for (int64_t d = 0; d <= last; ++d) {
    if (is[d] == 1) {
      full[d] = intImm(0);
      continue;
    }
    if (flat && reduced[d] && !redLoops.empty() && d > 0 && reduced[d - 1] && full[d - 1] == redLoops.back().first) {
      full[d - 1] = intImm(0);
      full[d] = redLoops.back().first;
      redLoops.back().second *= is[d];
      continue;
    }
    full[d] = kb.newVar(reduced[d] ? "r" : "i");
    (reduced[d] ? redLoops : outerLoops).push_back({full[d], is[d]});
  }
  Expr tileVar = v / tile > 1 ? kb.newVar("t") : intImm(0);
  if (v / tile > 1)
    outerLoops.push_back({tileVar, v / tile});
  Expr lane = tile > 1 ? kb.newVar("v") : intImm(0);
  Index innerIdx = unravel(add(mul(tileVar, intImm(tile)), lane), innerShape);
  for (size_t k = 0; k < innerShape.size(); ++k)
    full[last + 1 + k] = innerIdx[k];
  Index outIdx;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d])
      outIdx.push_back(full[d]);
    else if (keep)
      outIdx.push_back(intImm(0));

  int acc = kb.local("acc", at, tile);
  int accIdx = argmax ? kb.local("arg", DType::I32, tile) : -1;
  auto overLanes = [&](Stmt s) { return tile > 1 ? forLoop(lane, tile, ForKind::Serial, s) : s; };

  bool isMax = n.kind() == OpKind::ReduceMax || argmax;
  std::vector<Stmt> init{store(acc, lane, isMax ? lowest(at) : constant(0, at))};
  if (argmax)
    init.push_back(store(accIdx, lane, intImm(0, DType::I32)));

  Expr x = cast(kb.valueAt(in, full), at), cur = load(acc, at, lane);
  Stmt update;
  if (argmax) {
    Expr pos = intImm(0);
    for (auto &[var, extent] : redLoops)
      pos = var;
    update = ifThen(binary(BinOp::Lt, cur, x),
                    block({store(acc, lane, x), store(accIdx, lane, cast(pos, DType::I32))}));
  } else {
    update = store(acc, lane, isMax ? max(x, cur) : add(cur, x));
  }
  update = overLanes(update);
  for (size_t r = redLoops.size(); r-- > 0;)
    update = forLoop(redLoops[r].first, redLoops[r].second, ForKind::Serial, update);

  Expr result = argmax ? load(accIdx, DType::I32, lane) : load(acc, at, lane);
  if (n.kind() == OpKind::ReduceMean)
    result = div(result, constant(static_cast<double>(count), at));
  Stmt fin = overLanes(kb.storeResult(out, outIdx, cast(result, out.dtype())));

  Stmt s = block({overLanes(block(init)), update, fin});
  if (argmax)
    s = alloc(accIdx, s);
  s = alloc(acc, s);
  for (size_t o = outerLoops.size(); o-- > 0;)
    s = forLoop(outerLoops[o].first, outerLoops[o].second, ForKind::Serial, s);
  double perIter = static_cast<double>(numElements(is));
  if (!outerLoops.empty())
    perIter /= static_cast<double>(outerLoops[0].second);
  kb.kernel.body = kb.makeParallel(s, perIter);
  pb.finish(kb);
}

} // namespace kiln::lower
