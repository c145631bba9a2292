// passes/FuseOptimizer.cpp - the fuse-optimizer pass: one kernel per parameter update.
//
// The optimizer writes each parameter and its state through `assign` nodes
// (Adadelta: two accumulators and the parameter). Starting from the value of
// each assign, the elementwise ops of the parameter's shape that compute the
// new values are grouped into one "optimizer_update" region with several
// results; the assigns stay outside and read those results.
#include "passes/Fusion.h"
#include "passes/Pass.h"

namespace kiln {

bool fuseOptimizerPass(Graph &g, PassContext &ctx) {
  if (!fusionCaps(ctx.backend).optimizerUpdate)
    return false;
  std::unordered_set<uint32_t> tried;
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    UseIndex idx(g);
    for (Node *a : g.nodes()) {
      if (a->kind() != OpKind::Assign || !tried.insert(a->id()).second)
        continue;
      Node *seed = a->operand(1).node;
      if (idx.position(seed) < 0 || !isFusibleElementwise(seed))
        continue;
      std::vector<Node *> members = growElementwiseGroup(idx, seed, {});
      if (members.size() < 2 || !tryMakeRegion(g, ctx, members, "optimizer_update"))
        continue;
      changed = again = true;
      break;
    }
  }
  return changed;
}

} // namespace kiln
