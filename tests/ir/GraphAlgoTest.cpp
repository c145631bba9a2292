// tests/ir/GraphAlgoTest.cpp - topological order, cycle detection, liveness, Graphviz output.
#include "ir/Error.h"
#include "ir/GraphAlgo.h"
#include "ir/Printer.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace kiln {
namespace {

using test::f32;

/// True when every body node comes after the body nodes it uses.
bool isTopological(const Graph &g, const std::vector<Node *> &order) {
  for (size_t i = 0; i < order.size(); ++i)
    for (const Value &v : order[i]->operands()) {
      auto it = std::find(order.begin(), order.end(), v.node);
      if (it != order.end() && static_cast<size_t>(it - order.begin()) >= i)
        return false;
    }
  return order.size() == g.nodes().size();
}

struct Diamond {
  Graph g{"d"};
  Value x = g.addInput("x", f32({4}));
  Value a = g.build(OpKind::Exp, {x});
  Value b = g.build(OpKind::Neg, {x});
  Value c = g.build(OpKind::Add, {a, b});
  Value dead = g.build(OpKind::Abs, {b});
  Value d = g.build(OpKind::Relu, {c});
  Diamond() { g.setOutputs({d}); }
};

TEST(GraphAlgo, SortedBodyKeepsProgramOrder) {
  Diamond s;
  EXPECT_EQ(topologicalOrder(s.g), s.g.nodes());
  EXPECT_FALSE(hasCycle(s.g));
}

TEST(GraphAlgo, ReordersOutOfOrderBody) {
  Diamond s;
  // relu, add to the front: both now precede what they use.
  s.g.moveBefore(s.d.node, s.a.node);
  s.g.moveBefore(s.c.node, s.d.node);
  EXPECT_THROW(verify(s.g), UserError);
  std::vector<Node *> order = topologicalOrder(s.g);
  EXPECT_TRUE(isTopological(s.g, order));
  // Hand-derived: exp, neg keep their order; add and relu follow them.
  std::vector<Node *> expected = {s.a.node, s.b.node, s.c.node, s.d.node, s.dead.node};
  EXPECT_EQ(order, expected);
  s.g.sortTopologically();
  EXPECT_EQ(s.g.nodes(), expected);
  EXPECT_NO_THROW(verify(s.g));
}

TEST(GraphAlgo, CycleIsReportedWithTheNode) {
  Diamond s;
  s.a.node->setOperand(0, s.d); // exp(relu(add(exp, neg))): a cycle exp -> add -> relu -> exp
  EXPECT_TRUE(hasCycle(s.g));
  try {
    topologicalOrder(s.g);
    FAIL() << "cycle not detected";
  } catch (const UserError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("cycle through %"), std::string::npos) << msg;
    // The node named must be one of the three on the cycle.
    bool onCycle = msg.find("(exp)") != std::string::npos || msg.find("(add)") != std::string::npos ||
                   msg.find("(relu)") != std::string::npos;
    EXPECT_TRUE(onCycle) << msg;
  }
}

TEST(GraphAlgo, SelfLoopIsACycle) {
  Diamond s;
  s.b.node->setOperand(0, s.b);
  s.b.node->setLocation("loop.kir:3:3");
  try {
    topologicalOrder(s.g);
    FAIL() << "self loop not detected";
  } catch (const UserError &e) {
    EXPECT_STREQ(e.what(), "loop.kir:3:3: cycle through %1 (neg)");
  }
}

TEST(GraphAlgo, LiveNodesFollowOutputsAndSideEffects) {
  Diamond s;
  std::vector<const Node *> expected = {s.a.node, s.b.node, s.c.node, s.d.node};
  EXPECT_EQ(liveNodes(s.g), expected);

  // An assign keeps its operands alive even though nothing returns them.
  Graph g("fx");
  Value x = g.addInput("x", f32({2}));
  Value p = g.addParam("p", f32({2}));
  Value e = g.build(OpKind::Exp, {x});
  Value unused = g.build(OpKind::Neg, {e});
  Value upd = g.build(OpKind::Add, {p, e});
  Node *asg = g.create(OpKind::Assign, {p, upd});
  std::vector<const Node *> live = {e.node, upd.node, asg};
  EXPECT_EQ(liveNodes(g), live);
  (void)unused;
  g.setOutputs({unused});
  std::vector<const Node *> all = {e.node, unused.node, upd.node, asg};
  EXPECT_EQ(liveNodes(g), all);
}

TEST(GraphAlgo, EmptyGraph) {
  Graph g("empty");
  g.addInput("x", f32({1}));
  EXPECT_TRUE(topologicalOrder(g).empty());
  EXPECT_TRUE(liveNodes(g).empty());
  EXPECT_FALSE(hasCycle(g));
}

/// A graph with a fused region feeding ordinary ops.
std::unique_ptr<Graph> fusedGraph() {
  auto g = std::make_unique<Graph>("dot \"test\"");
  Value x = g->addInput("x", f32({2, 3}));
  Value b = g->addParam("b", f32({3}));
  Value st = g->addState("st", f32({2, 3}));
  auto body = std::make_unique<Graph>("r");
  Value a0 = body->addInput("arg0", f32({2, 3}));
  Value a1 = body->addInput("arg1", f32({3}));
  body->setOutputs({body->build(OpKind::Relu, {body->build(OpKind::Add, {a0, a1})})});
  AttrMap a;
  a.set("name", std::string("bias_relu"));
  Node *f = g->createUnchecked(OpKind::Fused, {x, b}, a, {f32({2, 3})});
  f->setBody(std::move(body));
  Value s = g->build(OpKind::ReduceSum, {f->result(0)});
  g->create(OpKind::Assign, {st, f->result(0)});
  g->setOutputs({s});
  verify(*g);
  return g;
}

TEST(Dot, WritesClustersEdgesAndStyles) {
  std::unique_ptr<Graph> g = fusedGraph();
  std::ostringstream os;
  writeDot(*g, os);
  std::string dot = os.str();
  EXPECT_EQ(dot.rfind("digraph \"dot \\\"test\\\"\" {\n", 0), 0u) << dot;
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  // Node ids in order of appearance: x n0, b n1, st n2, add n3, relu n4, reduce_sum n5, assign n6.
  EXPECT_NE(dot.find("n0 [label=\"%x\\nf32[2,3]\", shape=ellipse"), std::string::npos) << dot;
  EXPECT_NE(dot.find("subgraph cluster_0 {"), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"fused bias_relu\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("n3 [label=\"add\\nf32[2,3]\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=octagon"), std::string::npos) << dot;
  // Region arguments resolve to the fused node's operands; its result to the yielding member.
  for (const char *edge : {"n0 -> n3;", "n1 -> n3;", "n3 -> n4;", "n4 -> n5;", "n2 -> n6;", "n4 -> n6;",
                           "n5 -> ret [label=\"0\"];"})
    EXPECT_NE(dot.find(edge), std::string::npos) << edge << "\n" << dot;
  // Braces balance.
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '{'), std::count(dot.begin(), dot.end(), '}'));
}

TEST(Dot, RendersWithGraphviz) {
  if (!std::filesystem::exists("/usr/bin/dot"))
    GTEST_SKIP() << "graphviz 'dot' is not installed at /usr/bin/dot";
  std::unique_ptr<Graph> g = fusedGraph();
  auto dir = std::filesystem::temp_directory_path() / ("kiln_dot_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "g.dot");
    writeDot(*g, out);
  }
  std::string cmd = "/usr/bin/dot -Tsvg '" + (dir / "g.dot").string() + "' -o '" + (dir / "g.svg").string() +
                    "' 2> '" + (dir / "err.txt").string() + "'";
  int rc = std::system(cmd.c_str());
  std::ifstream err(dir / "err.txt");
  std::string errText((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << errText;
  EXPECT_EQ(errText, "");
  std::ifstream svg(dir / "g.svg");
  std::string svgText((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(svgText.find("<svg"), std::string::npos);
  EXPECT_NE(svgText.find("cluster_0"), std::string::npos);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace kiln
