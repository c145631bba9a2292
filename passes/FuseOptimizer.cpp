// passes/FuseOptimizer.cpp - the fuse-optimizer pass: one kernel per parameter update.
//
// The optimizer writes each parameter and its state through `assign` nodes
// (Adadelta: two accumulators and the parameter). Starting from the value of
// each assign, the elementwise ops of the parameter's shape that compute the
// new values are grouped into one "optimizer_update" region with several
// results; the assigns stay outside and read those results. Where the backend
// stores a gradient through a fused epilogue of several results
// (FusionCaps::gradUpdate), the op that computes the parameter's
// gradient (a matmul, a filter gradient or a bias gradient's reduction, read
// by nothing else) joins the update as its anchor: a "grad_update" region,
// whose gradient never goes to memory and whose update needs no launch of
// its own.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <algorithm>

namespace kiln {

namespace {

/// The op computing the gradient that the update `members` reads, when it can
/// anchor a grad_update region: a matmul, conv2d_filter_grad, reduce_sum or
/// reduce_mean of the update's shape whose only readers are members (and no
/// graph output). Null when there is none, or more than one.
Node *gradientAnchor(const UseIndex &idx, const std::vector<Node *> &members) {
  std::unordered_set<const Node *> group(members.begin(), members.end());
  const Shape &shape = members.front()->resultType().shape;
  Node *anchor = nullptr;
  for (Node *m : members)
    for (const Value &v : m->operands()) {
      Node *p = v.node;
      OpKind k = p->kind();
      bool kind =
          k == OpKind::Matmul || k == OpKind::Conv2dFilterGrad || k == OpKind::ReduceSum || k == OpKind::ReduceMean;
      if (p == anchor || !kind || idx.position(p) < 0 || p->numResults() != 1 || v.shape() != shape || idx.isOutput(v))
        continue;
      bool onlyMembers = true;
      for (Node *u : idx.users(v))
        onlyMembers &= group.count(u) != 0;
      if (!onlyMembers)
        continue;
      if (anchor)
        return nullptr;
      anchor = p;
    }
  return anchor;
}

/// The last position at which a node other than `skip` reads v, through views
/// of it too; -1 when none does.
int64_t lastReader(const Graph &g, Value v, const Node *skip) {
  int64_t last = -1;
  for (Node *u : g.users(v)) {
    if (u == skip || (u->kind() == OpKind::Assign && u->operand(0) == v))
      continue;
    last = std::max(last, g.positionOf(u));
    if (u->kind() == OpKind::Reshape || u->kind() == OpKind::Flatten)
      last = std::max(last, lastReader(g, u->result(), skip));
  }
  return last;
}

/// makeRegion puts a region where its last member was: a grad_update where
/// the optimizer's ops were, after the whole backward pass. Moves it back to
/// just after what it must follow (its operands' producers, and every other
/// reader of a parameter or state it updates, so that the update can still
/// be done in place), so that the gradient's inputs die as early as before.
void hoistGradUpdate(Graph &g, Node *region) {
  int64_t after = -1;
  for (const Value &o : region->operands())
    after = std::max(after, g.positionOf(o.node)); // -1 for the signature
  for (size_t k = 0; k < region->numResults(); ++k)
    for (Node *u : g.users(region->result(k)))
      if (u->kind() == OpKind::Assign)
        after = std::max(after, lastReader(g, u->operand(0), region));
  if (after + 1 < g.positionOf(region))
    g.moveBefore(region, g.nodes()[static_cast<size_t>(after + 1)]);
}

} // namespace

bool fuseOptimizerPass(Graph &g, PassContext &ctx) {
  const FusionCaps caps = fusionCaps(ctx.backend);
  if (!caps.optimizerUpdate)
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
      if (members.size() < 2)
        continue;
      std::string name = "optimizer_update";
      if (Node *grad = caps.gradUpdate ? gradientAnchor(idx, members) : nullptr) {
        members.insert(members.begin(), grad); // makeRegion orders the members
        name = "grad_update";
      }
      Node *region = tryMakeRegion(g, ctx, members, name);
      if (!region)
        continue;
      if (name == "grad_update")
        hoistGradUpdate(g, region);
      changed = again = true;
      break;
    }
  }
  return changed;
}

} // namespace kiln
