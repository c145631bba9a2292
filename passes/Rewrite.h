// passes/Rewrite.h - local rewrite patterns and the greedy driver that applies them.
//
// A pattern looks at one node and either returns "no match" (a null Value) at
// its first failed check, or builds a replacement for the node's result. The
// driver applies a list of patterns over the body until none matches, and
// erases what the replacements left unused.
#ifndef KILN_PASSES_REWRITE_H
#define KILN_PASSES_REWRITE_H

#include "ir/Graph.h"
#include "passes/Pass.h"

#include <span>
#include <string_view>

namespace kiln {

/// A rewrite of node `n`: the value that replaces n's single result, or a null
/// Value when the pattern does not apply. Nodes it builds go just before `n`.
using RewriteFn = Value (*)(Graph &g, Node &n);

/// A named rewrite (the name is its statistic: "<pass>.<name>").
struct RewritePattern {
  std::string_view name;
  RewriteFn apply;
};

/// Applies `patterns` (first match wins) to every single-result body node in
/// program order, sweeping until a sweep changes nothing. A replaced node and
/// the operands it leaves unused are erased (never side effects). A graph
/// output keeps its name: a rewrite that would lose it is skipped. Bumps
/// "<statPrefix>.<pattern>" per rewrite; returns the number of rewrites.
int64_t applyPatternsGreedily(Graph &g, std::span<const RewritePattern> patterns, PassContext &ctx,
                              std::string_view statPrefix);

/// Replaces every use of `from` by `to` and moves `from`'s name to `to` when
/// `to` is an unnamed single-result body node.
void replaceValue(Graph &g, Value from, Value to);

/// Erases `n` if none of its results is used and it has no side effect, then
/// the operand nodes that became unused the same way. Returns nodes erased.
int64_t eraseIfDead(Graph &g, Node *n);

/// True when `v` is produced by a `constant` node; its splat value goes to *value.
bool isConstant(Value v, double *value = nullptr);

} // namespace kiln

#endif // KILN_PASSES_REWRITE_H
