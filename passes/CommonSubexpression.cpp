// passes/CommonSubexpression.cpp - the `cse` pass: merges structurally equal nodes.
//
// Two nodes are equal when kind, operands, attributes and result types are
// equal (operands of commutative ops in either order). One program-order sweep
// suffices: operands are merged before their users are looked at. Never
// merged: side effects, signature values, fused regions, and two nodes that
// both carry a name (each may be an output someone asks for by name).
// Dropout nodes merge only when seed, rate and key operand are all equal,
// which makes their masks equal.
#include "passes/Pass.h"
#include "passes/Rewrite.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln {

namespace {

bool mergeable(const Node &n) {
  const OpInfo &info = n.info();
  if (info.has(kSideEffect) || info.opClass == OpClass::Region)
    return false;
  return info.opClass != OpClass::Source || n.kind() == OpKind::Constant;
}

/// The structural key of `n`: equal keys mean equal values.
std::string structuralKey(const Node &n) {
  std::vector<std::pair<uint32_t, uint32_t>> ops;
  for (Value v : n.operands())
    ops.emplace_back(v.node->id(), v.index);
  bool numpyBroadcast = !n.attrs().has("broadcast") || n.attrs().getInts("broadcast").empty();
  if (n.info().has(kCommutative) && ops.size() == 2 && numpyBroadcast)
    std::sort(ops.begin(), ops.end());
  std::string key(n.mnemonic());
  key += "(";
  for (const auto &[id, index] : ops)
    key += std::to_string(id) + "#" + std::to_string(index) + ",";
  key += "){";
  for (const auto &[name, attr] : n.attrs().entries())
    key += name + "=" + attrString(attr) + ",";
  key += "}:";
  for (const TensorType &t : n.resultTypes())
    key += typeString(t) + ",";
  return key;
}

} // namespace

bool commonSubexpressionPass(Graph &g, PassContext &ctx) {
  std::unordered_map<std::string, Node *> seen;
  std::vector<Node *> merged;
  for (Node *n : std::vector<Node *>(g.nodes())) {
    if (!mergeable(*n))
      continue;
    auto [it, fresh] = seen.try_emplace(structuralKey(*n), n);
    if (fresh)
      continue;
    Node *kept = it->second;
    if (!n->name().empty() && (!kept->name().empty() || kept->numResults() != 1))
      continue;
    if (!n->name().empty()) {
      kept->setName(n->name());
      n->setName("");
    }
    for (size_t i = 0; i < n->numResults(); ++i)
      g.replaceAllUsesWith(n->result(i), kept->result(i));
    merged.push_back(n);
  }
  for (auto it = merged.rbegin(); it != merged.rend(); ++it)
    g.erase(*it);
  if (!merged.empty())
    ctx.bump("cse.merged", static_cast<int64_t>(merged.size()));
  return !merged.empty();
}

} // namespace kiln
