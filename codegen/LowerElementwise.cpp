// codegen/LowerElementwise.cpp - the one pattern for all elementwise and layout ops.
//
// A loop nest over the result shape stores each root's value; the values come
// from KernelBuilder::valueAt, which composes the ops' scalar formulas and
// index maps. Several roots of one shape (the outputs of a fused optimizer
// update, say) share the nest, so each input element is read once.
#include "codegen/LowerContext.h"

#include "ir/Error.h"

namespace kiln::lower {

void lowerElementwise(ProgramBuilder &pb, const std::vector<Value> &roots, const std::string &name) {
  KILN_INTERNAL_CHECK(!roots.empty()) << "lowering: elementwise kernel without results";
  KernelBuilder kb(pb, name);
  const Shape &shape = roots[0].shape();
  for (Value r : roots) {
    KILN_INTERNAL_CHECK(r.shape() == shape) << "lowering: elementwise roots of different shapes";
    kb.forceInline(r);
  }
  // All values are computed (every load done) before the first store, so an
  // output may share storage with an input read at the same index.
  kb.kernel.body = kb.loopNest(shape, [&](const Index &idx) {
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
