// passes/Rewrite.cpp - the greedy pattern-rewrite driver and its small helpers.
#include "passes/Rewrite.h"

#include "ir/Error.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

namespace kiln {

namespace {

constexpr int kMaxSweeps = 16;

bool isOutput(const Graph &g, Value v) {
  const auto &outs = g.outputs();
  return std::find(outs.begin(), outs.end(), v) != outs.end();
}

/// Only an unnamed single-result body node prints under a name of its own.
bool canCarryName(const Graph &g, Value to) {
  return g.positionOf(to.node) >= 0 && to.node->name().empty() && to.node->numResults() == 1;
}

} // namespace

bool isConstant(Value v, double *value) {
  if (!v || v.node->kind() != OpKind::Constant)
    return false;
  if (value)
    *value = v.node->attrs().getFloat("value");
  return true;
}

void replaceValue(Graph &g, Value from, Value to) {
  if (from == to)
    return;
  if (!from.node->name().empty() && canCarryName(g, to)) {
    to.node->setName(from.node->name());
    from.node->setName("");
  }
  g.replaceAllUsesWith(from, to);
}

int64_t eraseIfDead(Graph &g, Node *n) {
  int64_t erased = 0;
  std::vector<Node *> work{n};
  while (!work.empty()) {
    Node *m = work.back();
    work.pop_back();
    if (g.positionOf(m) < 0 || m->info().has(kSideEffect))
      continue;
    bool used = false;
    for (size_t i = 0; i < m->numResults() && !used; ++i)
      used = g.useCount(m->result(i)) != 0;
    if (used)
      continue;
    std::vector<Node *> operands;
    for (Value v : m->operands())
      operands.push_back(v.node);
    g.erase(m);
    ++erased;
    work.insert(work.end(), operands.begin(), operands.end());
  }
  return erased;
}

int64_t applyPatternsGreedily(Graph &g, std::span<const RewritePattern> patterns, PassContext &ctx,
                              std::string_view statPrefix) {
  Node *savedInsertion = g.insertionPoint();
  int64_t total = 0;
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    int64_t rewrites = 0;
    std::vector<Node *> snapshot = g.nodes();
    std::unordered_set<const Node *> erased;
    for (Node *n : snapshot) {
      if (erased.count(n) || n->numResults() != 1)
        continue;
      for (const RewritePattern &p : patterns) {
        g.setInsertionPoint(n);
        Value r = p.apply(g, *n);
        if (!r)
          continue;
        Value from = n->result();
        KILN_INTERNAL_CHECK(r.type() == from.type())
            << "rewrite '" << p.name << "' replaced a " << typeString(from.type()) << " by a "
            << typeString(r.type());
        if (!n->name().empty() && isOutput(g, from) && !canCarryName(g, r)) {
          eraseIfDead(g, r.node); // the unused replacement, if the pattern built one
          continue;
        }
        replaceValue(g, from, r);
        // Record what the cleanup erases so the sweep skips it.
        std::vector<Node *> before = g.nodes();
        eraseIfDead(g, n);
        std::unordered_set<const Node *> still(g.nodes().begin(), g.nodes().end());
        for (Node *m : before)
          if (!still.count(m))
            erased.insert(m);
        ctx.bump(std::string(statPrefix) + "." + std::string(p.name));
        ++rewrites;
        break;
      }
    }
    total += rewrites;
    if (rewrites == 0)
      break;
  }
  g.setInsertionPoint(savedInsertion);
  return total;
}

} // namespace kiln
