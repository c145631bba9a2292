// ir/Dot.cpp - writeDot(): a Graph as a Graphviz digraph.
//
// One box per op (mnemonic and result types), signature values as ellipses
// (inputs blue, parameters yellow, state grey), the returned values as one
// "return" node, side effects as octagons. A fused region becomes
// `subgraph cluster_N` holding its member ops: edges run from the producer of
// each operand straight to the members that use the matching region argument,
// and from the member producing each yielded value to the fused node's users,
// so the picture shows the real data flow through the group.
#include "ir/Printer.h"

#include "ir/ValueNames.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace kiln {

namespace {

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string typesLabel(std::span<const TensorType> ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i)
    s += (i ? ", " : "") + typeString(ts[i]);
  return s;
}

class DotWriter {
public:
  explicit DotWriter(std::ostream &os) : os_(os) {}

  void write(const Graph &g) {
    os_ << "digraph \"" << escape(g.name()) << "\" {\n";
    os_ << "  rankdir=TB;\n";
    os_ << "  graph [fontname=\"monospace\", fontsize=11];\n";
    os_ << "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"monospace\", fontsize=10];\n";
    os_ << "  edge [fontname=\"monospace\", fontsize=9];\n";
    ValueNames names(g);
    signature(g.inputs(), names, "#cfe2f3");
    signature(g.params(), names, "#fff2cc");
    signature(g.states(), names, "#e0e0e0");
    nodes(g, 1);
    edges(g);
    os_ << "  ret [label=\"return\", shape=doublecircle, style=filled, fillcolor=\"#d9ead3\"];\n";
    for (size_t i = 0; i < g.outputs().size(); ++i)
      if (g.outputs()[i])
        os_ << "  " << source(g.outputs()[i]) << " -> ret [label=\"" << i << "\"];\n";
    os_ << "}\n";
  }

private:
  std::string id(const Node *n) {
    auto [it, inserted] = ids_.emplace(n, "");
    if (inserted) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "n%zu", ids_.size() - 1);
      it->second = std::string(buf);
    }
    return it->second;
  }

  /// The dot node that produces `v`, looking through region arguments and fused results.
  std::string source(Value v) {
    for (int guard = 0; guard < 1000 && v.node; ++guard) {
      Node *n = v.node;
      if (n->kind() == OpKind::Fused && n->body() && v.index < n->body()->outputs().size()) {
        v = n->body()->outputs()[v.index];
        continue;
      }
      auto owner = regionOwner_.find(n->graph());
      if (n->kind() == OpKind::Input && owner != regionOwner_.end()) {
        const auto &args = n->graph()->inputs();
        size_t k = std::find(args.begin(), args.end(), n) - args.begin();
        if (k < owner->second->numOperands()) {
          v = owner->second->operand(k);
          continue;
        }
      }
      return id(n);
    }
    return "unknown";
  }

  void signature(const std::vector<Node *> &nodes, const ValueNames &names, const char *color) {
    for (const Node *n : nodes)
      os_ << "  " << id(n) << " [label=\"" << escape(names(Value{const_cast<Node *>(n), 0})) << "\\n"
          << escape(typesLabel(n->resultTypes())) << "\", shape=ellipse, fillcolor=\"" << color << "\"];\n";
  }

  void nodes(const Graph &g, int depth) {
    std::string pad(2 * depth, ' ');
    for (const Node *n : g.nodes()) {
      if (n->kind() == OpKind::Fused && n->body()) {
        regionOwner_[n->body()] = n;
        std::string label = std::string(n->mnemonic());
        if (n->attrs().has("name") && std::holds_alternative<std::string>(n->attrs().get("name")))
          label += " " + n->attrs().getString("name");
        os_ << pad << "subgraph cluster_" << clusters_++ << " {\n";
        os_ << pad << "  label=\"" << escape(label) << "\"; style=\"rounded,filled\"; fillcolor=\"#f4f4f4\";\n";
        nodes(*n->body(), depth + 1);
        os_ << pad << "}\n";
        continue;
      }
      os_ << pad << id(n) << " [label=\"" << escape(n->mnemonic());
      if (n->numResults())
        os_ << "\\n" << escape(typesLabel(n->resultTypes()));
      os_ << "\"";
      if (n->info().has(kSideEffect))
        os_ << ", shape=octagon, fillcolor=\"#f4cccc\"";
      os_ << "];\n";
    }
  }

  void edges(const Graph &g) {
    for (const Node *n : g.nodes()) {
      if (n->kind() == OpKind::Fused && n->body()) {
        edges(*n->body());
        continue;
      }
      for (const Value &v : n->operands())
        if (v)
          os_ << "  " << source(v) << " -> " << id(n) << ";\n";
    }
  }

  std::ostream &os_;
  std::unordered_map<const Node *, std::string> ids_;
  std::unordered_map<const Graph *, const Node *> regionOwner_;
  int clusters_ = 0;
};

} // namespace

void writeDot(const Graph &g, std::ostream &os) { DotWriter(os).write(g); }

} // namespace kiln
