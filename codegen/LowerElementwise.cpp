// codegen/LowerElementwise.cpp - the one pattern for all elementwise and layout ops.
//
// A loop nest over the result shape stores each root's value; the values come
// from KernelBuilder::valueAt, which composes the ops' scalar formulas and
// index maps. Several roots of one shape (the outputs of a fused optimizer
// update, say) share the nest, so each input element is read once.
#include "codegen/LowerContext.h"

#include "ir/Error.h"

#include <algorithm>
#include <set>

namespace kiln::lower {

namespace {

/// True when every value the roots compute inline has the roots' shape or is
/// a scalar, and no layout op is among them: each element then reads its
/// operands at its own linear index.
bool elementAligned(const ProgramBuilder &pb, const std::vector<Value> &roots) {
  const Shape &shape = roots[0].shape();
  std::vector<Value> work(roots.begin(), roots.end());
  std::set<const Node *> seen;
  while (!work.empty()) {
    Value v = pb.resolve(work.back());
    work.pop_back();
    if (v.shape() != shape && !v.shape().empty())
      return false;
    bool root = std::find(roots.begin(), roots.end(), v) != roots.end();
    if ((pb.bufferOf(v) >= 0 && !root) || v.node->kind() == OpKind::Constant || !seen.insert(v.node).second)
      continue;
    if (v.node->info().opClass != OpClass::Elementwise)
      return false;
    for (Value o : v.node->operands())
      work.push_back(o);
  }
  return true;
}

} // namespace

void lowerElementwise(ProgramBuilder &pb, const std::vector<Value> &roots, const std::string &name) {
  KILN_INTERNAL_CHECK(!roots.empty()) << "lowering: elementwise kernel without results";
  KernelBuilder kb(pb, name);
  const Shape &shape = roots[0].shape();
  for (Value r : roots) {
    KILN_INTERNAL_CHECK(r.shape() == shape) << "lowering: elementwise roots of different shapes";
    kb.forceInline(r);
  }
  // Rows shorter than a vector (dropout over N x C x 5 x 5) leave the inner
  // loop too short to vectorize: when every element reads its operands at
  // its own index, one loop runs over all elements (the unravelled index
  // folds back to the flat one in every address).
  const bool flat = shape.size() > 1 && shape.back() < 16 && elementAligned(pb, roots);
  const Shape loopShape = flat ? Shape{numElements(shape)} : shape;
  // All values are computed (every load done) before the first store, so an
  // output may share storage with an input read at the same index.
  kb.kernel.body = kb.loopNest(loopShape, [&](const Index &loopIdx) {
    const Index idx = flat ? unravel(loopIdx[0], shape) : loopIdx;
    std::vector<Expr> vars, vals;
    std::vector<Stmt> stores;
    for (Value r : roots) {
      vals.push_back(kb.valueAt(r, idx));
      vars.push_back(roots.size() > 1 ? kb.newVar("v", vals.back()->type) : vals.back());
      stores.push_back(kb.storeResult(r, idx, vars.back()));
    }
    Stmt s = kir::block(std::move(stores));
    if (roots.size() > 1)
      for (size_t i = roots.size(); i-- > 0;)
        s = kir::letStmt(vars[i], vals[i], s);
    return s;
  });
  pb.finish(kb);
}

} // namespace kiln::lower
