// passes/DeadCodeElimination.cpp - the `dce` pass: removes nodes whose values
// reach no graph output and no side-effect node (ir/GraphAlgo.h liveNodes).
// Side-effect nodes (assign) always stay; signature values are never removed.
#include "passes/Pass.h"

#include "ir/GraphAlgo.h"

#include <unordered_set>
#include <vector>

namespace kiln {

bool deadCodeEliminationPass(Graph &g, PassContext &ctx) {
  std::vector<const Node *> live = liveNodes(g);
  std::unordered_set<const Node *> keep(live.begin(), live.end());
  std::vector<Node *> dead;
  for (Node *n : g.nodes())
    if (!keep.count(n) && !n->info().has(kSideEffect))
      dead.push_back(n);
  // Users come after their operands, so erasing backward never erases a used node.
  for (auto it = dead.rbegin(); it != dead.rend(); ++it)
    g.erase(*it);
  if (!dead.empty())
    ctx.bump("dce.removed", static_cast<int64_t>(dead.size()));
  return !dead.empty();
}

} // namespace kiln
