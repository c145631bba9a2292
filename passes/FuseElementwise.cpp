// passes/FuseElementwise.cpp - the fuse-elementwise pass: elementwise chains into one kernel.
//
// Groups elementwise ops and broadcasts whose results have one shape (the
// kernel's iteration space) over producer and user edges, as long as the group
// stays convex. Values other nodes read become region results, so nothing is
// computed twice. Runs after the anchored patterns, which claim their
// epilogues first; a group of one op is left alone.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <algorithm>

namespace kiln {

bool fuseElementwisePass(Graph &g, PassContext &ctx) {
  if (!fusionCaps(ctx.backend).elementwise)
    return false;
  std::unordered_set<uint32_t> tried;
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    UseIndex idx(g);
    // Seeds from the end, so each group starts at a chain's last op.
    std::vector<Node *> order = g.nodes();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node *n = *it;
      if (!isFusibleElementwise(n) || !tried.insert(n->id()).second)
        continue;
      std::vector<Node *> members = growElementwiseGroup(idx, n, {});
      for (Node *m : members)
        tried.insert(m->id());
      if (members.size() < 2 || std::none_of(members.begin(), members.end(), [](const Node *m) {
            return m->kind() != OpKind::Broadcast;
          }))
        continue;
      if (!tryMakeRegion(g, ctx, members, "elementwise"))
        continue;
      changed = again = true;
      break;
    }
  }
  return changed;
}

} // namespace kiln
