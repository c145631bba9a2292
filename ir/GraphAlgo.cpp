// ir/GraphAlgo.cpp - Boost.Graph adapter: topological order, cycles, liveness.
//
// The body of a Graph becomes a boost::adjacency_list whose vertex i is body
// node i (program order) and whose edges run operand producer -> user. Edges
// from signature nodes and foreign values are left out: they are always
// available. This file is the only one in kiln that includes Boost.Graph.
#include "ir/GraphAlgo.h"

#include "ir/Error.h"
#include "ir/ValueNames.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/reverse_graph.hpp>

#include <optional>
#include <unordered_map>

namespace kiln {

namespace {

using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;
using Vertex = boost::graph_traits<BGraph>::vertex_descriptor;

/// The body of `g` as a Boost graph; vertex i is g.nodes()[i].
BGraph toBoost(const Graph &g) {
  const auto &nodes = g.nodes();
  std::unordered_map<const Node *, Vertex> index;
  index.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    index.emplace(nodes[i], i);
  BGraph bg(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value &v : nodes[i]->operands()) {
      auto it = index.find(v.node);
      if (it != index.end())
        boost::add_edge(it->second, i, bg);
    }
  return bg;
}

/// DFS over user -> operand edges: finishing order puts operands before users,
/// and visiting roots in program order keeps an already sorted body unchanged.
struct OrderVisitor : boost::default_dfs_visitor {
  std::vector<Vertex> *finished;
  std::optional<Vertex> *cycleAt;
  template <typename E, typename G> void back_edge(E e, const G &g) {
    if (!*cycleAt)
      *cycleAt = boost::target(e, g);
  }
  template <typename V, typename G> void finish_vertex(V v, const G &) { finished->push_back(v); }
};

struct SortResult {
  std::vector<Vertex> order;
  std::optional<Vertex> cycleAt;
};

SortResult sortBody(const Graph &g) {
  BGraph bg = toBoost(g);
  SortResult r;
  r.order.reserve(boost::num_vertices(bg));
  OrderVisitor vis;
  vis.finished = &r.order;
  vis.cycleAt = &r.cycleAt;
  if (boost::num_vertices(bg) > 0)
    boost::depth_first_search(boost::make_reverse_graph(bg), boost::visitor(vis));
  return r;
}

bool isRoot(const Node *n) {
  if (n->info().has(kSideEffect))
    return true;
  if (Graph *body = n->body())
    for (const Node *m : body->nodes())
      if (isRoot(m))
        return true;
  return false;
}

/// Marks every vertex reachable from the roots along user -> operand edges.
struct MarkVisitor : boost::default_dfs_visitor {
  std::vector<char> *live;
  template <typename V, typename G> void discover_vertex(V v, const G &) { (*live)[v] = 1; }
};

} // namespace

std::vector<Node *> topologicalOrder(const Graph &g) {
  SortResult r = sortBody(g);
  if (r.cycleAt) {
    const Node *n = g.nodes()[*r.cycleAt];
    KILN_USER_ERROR() << (n->location().empty() ? "" : n->location() + ": ") << "cycle through "
                      << ValueNames(g)(Value{const_cast<Node *>(n), 0}) << " (" << n->mnemonic() << ")";
  }
  std::vector<Node *> out;
  out.reserve(r.order.size());
  for (Vertex v : r.order)
    out.push_back(g.nodes()[v]);
  return out;
}

bool hasCycle(const Graph &g) { return sortBody(g).cycleAt.has_value(); }

std::vector<const Node *> liveNodes(const Graph &g) {
  const auto &nodes = g.nodes();
  std::unordered_map<const Node *, Vertex> index;
  for (size_t i = 0; i < nodes.size(); ++i)
    index.emplace(nodes[i], i);
  BGraph bg = toBoost(g);
  auto rg = boost::make_reverse_graph(bg);
  std::vector<char> live(nodes.size(), 0);
  std::vector<boost::default_color_type> color(nodes.size(), boost::white_color);
  auto colorMap = boost::make_iterator_property_map(color.begin(), boost::get(boost::vertex_index, rg));
  MarkVisitor vis;
  vis.live = &live;
  auto visitFrom = [&](Vertex v) {
    if (!live[v])
      boost::depth_first_visit(rg, v, vis, colorMap);
  };
  for (const Value &v : g.outputs()) {
    auto it = index.find(v.node);
    if (it != index.end())
      visitFrom(it->second);
  }
  for (size_t i = 0; i < nodes.size(); ++i)
    if (isRoot(nodes[i]))
      visitFrom(i);
  std::vector<const Node *> out;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (live[i])
      out.push_back(nodes[i]);
  return out;
}

} // namespace kiln
