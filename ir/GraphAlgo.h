// ir/GraphAlgo.h - graph algorithms over kiln graphs (topological order, cycles, liveness).
//
// The only door to Boost.Graph: the implementation adapts a Graph's body to a
// Boost adjacency list; nothing Boost-related appears in this header, so the
// rest of kiln never sees it. Only body nodes take part; signature nodes
// (inputs, params, state) are roots that are always available.
#ifndef KILN_IR_GRAPHALGO_H
#define KILN_IR_GRAPHALGO_H

#include "ir/Graph.h"

#include <vector>

namespace kiln {

/// Body nodes of `g` ordered so that every node comes after the body nodes it
/// uses; among independent nodes the current program order is kept. Throws
/// UserError "cycle through %N (op)" when the operands form a cycle.
std::vector<Node *> topologicalOrder(const Graph &g);

/// Body nodes that contribute to an output or to a side-effect node
/// (kSideEffect, e.g. assign), in program order. Everything else is dead code.
std::vector<const Node *> liveNodes(const Graph &g);

/// True when the body's operand edges form a cycle.
bool hasCycle(const Graph &g);

} // namespace kiln

#endif // KILN_IR_GRAPHALGO_H
