// tests/passes/SimplificationTest.cpp - dce, cse, constant-fold and simplify:
// what each removes or keeps, and that the interpreter computes the same
// outputs before and after (on random inputs, and on random graphs).
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"
#include "tests/support/GradCheck.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <random>

namespace kiln::test {
namespace {

using Ints = std::vector<int64_t>;

AttrMap attr(const char *name, Attr v) {
  AttrMap a;
  a.set(name, std::move(v));
  return a;
}

size_t countKind(const Graph &g, OpKind k) {
  size_t n = 0;
  for (const Node *node : g.nodes())
    n += node->kind() == k ? 1 : 0;
  return n;
}

/// Runs `pipeline` on `g` and checks that its outputs, on three random input
/// sets, equal those of the original graph (exactly: every rewrite is exact).
void expectEquivalentAfter(Graph &g, const std::string &pipeline, PassContext *stats = nullptr) {
  std::unique_ptr<Graph> before = g.clone();
  PassContext local;
  PassContext &ctx = stats ? *stats : local;
  PassManager pm;
  pm.addPipeline(pipeline);
  pm.run(g, ctx);
  verify(g);
  for (uint32_t seed : {1u, 2u, 3u}) {
    GradCheckOptions opt;
    opt.seed = seed;
    opt.minAbs = 0;
    TensorMap env1 = randomEnv(*before, opt), env2 = randomEnv(*before, opt);
    std::vector<HostTensor> want = interpret(*before, env1), got = interpret(g, env2);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(want[i].type(), got[i].type()) << "output " << i;
      EXPECT_EQ(maxRelativeDifference(got[i], want[i]), 0.0) << "output " << i << " seed " << seed;
    }
  }
}

// ---- dce ----------------------------------------------------------------------------

TEST(DeadCodeElimination, RemovesUnusedKeepsAssigns) {
  Graph g;
  Value x = g.addInput("x", f32({4}));
  Value w = g.addParam("w", f32({4}));
  Value upd = g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {x, w})});
  g.create(OpKind::Assign, {w, upd});
  g.build(OpKind::Exp, {g.build(OpKind::Neg, {x})}); // dead chain
  g.addOutput(g.build(OpKind::Tanh, {x}));
  PassContext ctx;
  expectEquivalentAfter(g, "dce", &ctx);
  EXPECT_EQ(ctx.stats["dce.removed"], 2);
  EXPECT_EQ(countKind(g, OpKind::Assign), 1u);
  EXPECT_EQ(countKind(g, OpKind::Exp), 0u);
  EXPECT_EQ(g.nodes().size(), 4u); // mul, sub, assign, tanh
}

// ---- cse ----------------------------------------------------------------------------

TEST(CommonSubexpression, MergesEqualNodesOnly) {
  Graph g;
  Value a = g.addInput("a", f32({2, 3})), b = g.addInput("b", f32({3}));
  Value s1 = g.build(OpKind::Add, {a, b});
  Value s2 = g.build(OpKind::Add, {b, a}); // commutative: same value
  Value d1 = g.build(OpKind::Sub, {a, b});
  Value d2 = g.build(OpKind::Sub, {g.build(OpKind::Broadcast, {b}, attr("shape", Ints{2, 3})), a});
  Value r1 = g.build(OpKind::ReduceSum, {s1}, attr("axes", Ints{0}));
  Value r2 = g.build(OpKind::ReduceSum, {s2}, attr("axes", Ints{1}));
  g.setOutputs({g.build(OpKind::Mul, {s1, s2}), d1, d2, r1, r2});
  PassContext ctx;
  expectEquivalentAfter(g, "cse", &ctx);
  EXPECT_EQ(ctx.stats["cse.merged"], 1);
  EXPECT_EQ(countKind(g, OpKind::Add), 1u);
  EXPECT_EQ(countKind(g, OpKind::Sub), 2u);       // not commutative
  EXPECT_EQ(countKind(g, OpKind::ReduceSum), 2u); // different axes
}

TEST(CommonSubexpression, KeepsTwoNamedNodesApart) {
  Graph g;
  Value x = g.addInput("x", f32({3}));
  Value p = g.build(OpKind::Exp, {x}), q = g.build(OpKind::Exp, {x}), r = g.build(OpKind::Exp, {x});
  p.node->setName("p");
  q.node->setName("q");
  g.setOutputs({p, q, r});
  PassContext ctx;
  expectEquivalentAfter(g, "cse", &ctx);
  EXPECT_EQ(countKind(g, OpKind::Exp), 2u); // r merges into p; q keeps its name
  EXPECT_EQ(g.outputs()[2], g.outputs()[0]);
}

// ---- constant-fold --------------------------------------------------------------------

TEST(ConstantFolding, FoldsSplatsExactly) {
  Graph g;
  Value x = g.addInput("x", f32({2, 3}));
  Value two = g.constant(2.0, f32({}));
  Value half = g.build(OpKind::Div, {g.constant(1.0, f32({})), two});         // 0.5
  Value b = g.build(OpKind::Broadcast, {half}, attr("shape", Ints{2, 3}));      // splat 0.5
  Value sum = g.build(OpKind::ReduceSum, {b});                                  // 3, exact
  Value tenth = g.build(OpKind::Broadcast, {g.constant(0.1, f32({}))}, attr("shape", Ints{2, 3}));
  Value inexact = g.build(OpKind::ReduceSum, {tenth}, attr("axes", Ints{1}));   // not exact
  Value e = g.build(OpKind::Exp, {g.constant(1.0, f32({3}))});
  g.setOutputs({g.build(OpKind::Mul, {x, b}), sum, inexact, e});
  PassContext ctx;
  expectEquivalentAfter(g, "constant-fold", &ctx);
  // div, both broadcasts, the exact sum and exp fold; the 0.1 sum stays.
  EXPECT_EQ(ctx.stats["constant-fold.folded"], 5);
  EXPECT_EQ(countKind(g, OpKind::ReduceSum), 1u);
  ASSERT_EQ(g.outputs()[1].node->kind(), OpKind::Constant);
  EXPECT_EQ(g.outputs()[1].node->attrs().getFloat("value"), 3.0);
  ASSERT_EQ(g.outputs()[3].node->kind(), OpKind::Constant);
  EXPECT_EQ(g.outputs()[3].node->attrs().getFloat("value"), static_cast<double>(std::exp(1.0f)));
}

TEST(ConstantFolding, LeavesDropoutAndNonConstants) {
  Graph g;
  Value key = g.addInput("key", {DType::I64, {}});
  Value x = g.addInput("x", f32({4}));
  Value ones = g.constant(1.0, f32({4}));
  g.setOutputs({g.build(OpKind::Dropout, {ones, key}, attr("rate", 0.5)),
                g.build(OpKind::Add, {x, ones})});
  PassContext ctx;
  expectEquivalentAfter(g, "constant-fold", &ctx);
  EXPECT_EQ(ctx.stats.count("constant-fold.folded"), 0u);
}

// ---- simplify ----------------------------------------------------------------------

TEST(AlgebraicSimplify, RemovesIdentities) {
  Graph g;
  Value x = g.addInput("x", f32({2, 3}));
  Value one = g.build(OpKind::Broadcast, {g.constant(1.0, f32({}))}, attr("shape", Ints{2, 3}));
  Value zero = g.constant(0.0, f32({3}));
  Value v = g.build(OpKind::Mul, {one, x});
  v = g.build(OpKind::Add, {v, zero});
  v = g.build(OpKind::Div, {v, one});
  v = g.build(OpKind::Neg, {g.build(OpKind::Neg, {v})});
  v = g.build(OpKind::Relu, {g.build(OpKind::Relu, {v})});
  Value t = g.build(OpKind::Transpose, {v}, attr("perm", Ints{1, 0}));
  t = g.build(OpKind::Transpose, {t}, attr("perm", Ints{-1, 0}));
  Value r = g.build(OpKind::Reshape, {g.build(OpKind::Flatten, {t}, attr("axis", int64_t{0}))},
                    attr("shape", Ints{3, 2}));
  g.setOutputs({t, r});
  PassContext ctx;
  expectEquivalentAfter(g, "simplify", &ctx);
  EXPECT_EQ(g.nodes().size(), 2u) << "relu(x) and one reshape remain";
  EXPECT_EQ(countKind(g, OpKind::Relu), 1u);
  EXPECT_EQ(countKind(g, OpKind::Reshape), 1u);
  EXPECT_EQ(ctx.stats["simplify.transpose"], 1);
  EXPECT_EQ(ctx.stats["simplify.neg-neg"], 1);
}

TEST(AlgebraicSimplify, KeepsBroadcastingUnits) {
  Graph g;
  Value x = g.addInput("x", f32({3}));
  Value v = g.build(OpKind::Mul, {x, g.constant(1.0, f32({2, 3}))}); // result is [2,3]
  g.addOutput(v);
  PassContext ctx;
  expectEquivalentAfter(g, "simplify", &ctx);
  EXPECT_EQ(countKind(g, OpKind::Mul), 1u);
}

// ---- random graphs through the default pipeline ----------------------------------------

/// A random graph over f32[2,3] values that is rich in what the passes look
/// for: units, duplicates, layout round trips, constant subtrees, dead nodes.
std::unique_ptr<Graph> randomGraph(uint32_t seed) {
  std::mt19937 gen(seed);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(gen); };
  auto g = std::make_unique<Graph>("random" + std::to_string(seed));
  const TensorType t = f32({2, 3});
  std::vector<Value> pool{g->addInput("x", t), g->addInput("y", t)};
  Value key = g->addInput("key", {DType::I64, {}});
  const double consts[] = {0.0, 1.0, 2.0, 0.5};
  const OpKind binary[] = {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Maximum};
  const OpKind unary[] = {OpKind::Neg, OpKind::Relu, OpKind::Tanh, OpKind::Abs};
  for (int step = 0; step < 30; ++step) {
    Value a = pool[pick(pool.size())], b = pool[pick(pool.size())];
    Value v;
    switch (pick(9)) {
    case 0: v = g->build(binary[pick(4)], {a, b}); break;
    case 1: v = g->build(unary[pick(4)], {a}); break;
    case 2: {
      Value c = g->constant(consts[pick(4)], pick(2) ? t : f32({}));
      v = c.shape() == t.shape ? c : g->build(OpKind::Broadcast, {c}, attr("shape", t.shape));
      break;
    }
    case 3: v = g->build(pick(2) ? OpKind::Mul : OpKind::Add, {a, g->constant(consts[pick(2)], f32({3}))}); break;
    case 4: {
      Value tr = g->build(OpKind::Transpose, {a}, attr("perm", Ints{1, 0}));
      v = g->build(OpKind::Transpose, {g->build(OpKind::Neg, {tr})}, attr("perm", Ints{1, 0}));
      break;
    }
    case 5: {
      Value r = g->build(OpKind::Reshape, {a}, attr("shape", Ints{6}));
      v = g->build(OpKind::Reshape, {g->build(OpKind::Reshape, {r}, attr("shape", Ints{3, 2}))},
                   attr("shape", t.shape));
      break;
    }
    case 6: { // a duplicate of an existing body node
      const auto &nodes = g->nodes();
      if (nodes.empty())
        continue;
      Node *n = nodes[pick(nodes.size())];
      if (n->numResults() != 1 || n->resultType() != t)
        continue;
      v = g->build(n->kind(), {n->operands().begin(), n->operands().end()}, n->attrs());
      break;
    }
    case 7: {
      AttrMap ax = attr("axes", Ints{1});
      ax.set("keepdims", true);
      v = g->build(OpKind::Add, {a, g->build(OpKind::ReduceSum, {b}, ax)});
      break;
    }
    default: v = g->build(OpKind::Dropout, {a, key}, attr("rate", 0.25)); break;
    }
    pool.push_back(v);
  }
  g->setOutputs({pool.back(), pool[pool.size() / 2]});
  return g;
}

TEST(DefaultPipeline, PreservesRandomGraphs) {
  PassContext total;
  for (uint32_t seed = 0; seed < 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::unique_ptr<Graph> g = randomGraph(seed);
    size_t before = g->nodes().size();
    expectEquivalentAfter(*g, defaultPipeline("interp"), &total);
    EXPECT_LE(g->nodes().size(), before);
    // A second run finds nothing left to do.
    PassContext ctx;
    PassManager pm;
    pm.addPipeline(defaultPipeline("interp"));
    EXPECT_FALSE(pm.run(*g, ctx)) << "second run changed the graph";
  }
  // The graphs exercised every pass.
  for (const char *stat : {"cse.merged", "dce.removed", "constant-fold.folded", "simplify.mul-one",
                           "simplify.add-zero", "simplify.transpose", "simplify.reshape"})
    EXPECT_GT(total.stats[stat], 0) << stat;
}

TEST(DefaultPipeline, EachPassAloneOnRandomGraphs) {
  for (const char *pass : {"simplify", "cse", "constant-fold", "dce"})
    for (uint32_t seed = 100; seed < 110; ++seed) {
      SCOPED_TRACE(std::string(pass) + " seed " + std::to_string(seed));
      std::unique_ptr<Graph> g = randomGraph(seed);
      expectEquivalentAfter(*g, pass);
    }
}

} // namespace
} // namespace kiln::test
