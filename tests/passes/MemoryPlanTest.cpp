// tests/passes/MemoryPlanTest.cpp - the memory plan: no overlap of live buffers, legal in-place, and a
// simulation that runs a graph out of one arena by the plan and matches the interpreter.
#include "FusionTestUtil.h"

#include "ir/Printer.h"
#include "passes/MemoryPlan.h"
#include "tests/support/RandomGraph.h"

#include <cstring>
#include <iostream>
#include <map>

namespace kiln::test {
namespace {

struct Live {
  int64_t def, last;
};

/// Live intervals computed here, independently of the planner: a value lives from
/// its producer to its last reader; graph outputs and assigned values to the end.
std::map<std::pair<const Node *, uint32_t>, Live> liveIntervals(const Graph &g) {
  std::map<std::pair<const Node *, uint32_t>, Live> live;
  const auto &nodes = g.nodes();
  int64_t end = static_cast<int64_t>(nodes.size());
  for (size_t p = 0; p < nodes.size(); ++p)
    for (uint32_t k = 0; k < nodes[p]->numResults(); ++k)
      live[{nodes[p], k}] = {static_cast<int64_t>(p), static_cast<int64_t>(p)};
  for (size_t p = 0; p < nodes.size(); ++p)
    for (Value v : nodes[p]->operands()) {
      auto it = live.find({v.node, v.index});
      if (it == live.end())
        continue;
      int64_t at = nodes[p]->kind() == OpKind::Assign ? end : static_cast<int64_t>(p);
      it->second.last = std::max(it->second.last, at);
    }
  for (Value v : g.outputs()) {
    auto it = live.find({v.node, v.index});
    if (it != live.end())
      it->second.last = end;
  }
  return live;
}

Value aliasRoot(const MemoryPlan &plan, Value v) {
  while (plan.at(v).inPlaceOf && plan.at(v).place == BufferSlot::Place::Arena)
    v = plan.at(v).inPlaceOf;
  return v;
}

/// Brute force over all pairs: two arena values live at the same time never
/// overlap unless they are one buffer by a legal in-place decision.
void checkPlan(const Graph &g, const MemoryPlan &plan) {
  auto live = liveIntervals(g);
  std::vector<Value> vals;
  for (Node *n : g.nodes())
    for (uint32_t k = 0; k < n->numResults(); ++k)
      if (plan.at(n->result(k)).place == BufferSlot::Place::Arena)
        vals.push_back(n->result(k));
  size_t arenaEnd = 0;
  for (Value v : vals) {
    const BufferSlot &s = plan.at(v);
    EXPECT_EQ(s.offset % 64, 0);
    EXPECT_EQ(s.size, v.type().byteSize());
    arenaEnd = std::max(arenaEnd, static_cast<size_t>(s.offset) + s.size);
    if (s.inPlaceOf) {
      // Legal in-place: a view, or the source dies where this value is produced.
      Node *n = v.node;
      bool view = n->kind() == OpKind::Reshape || n->kind() == OpKind::Flatten;
      bool elementwise = n->info().opClass == OpClass::Elementwise || n->kind() == OpKind::Fused;
      Live src = live.at({s.inPlaceOf.node, s.inPlaceOf.index});
      EXPECT_TRUE(view || (elementwise && src.last == live.at({v.node, v.index}).def))
          << "illegal in-place of " << n->mnemonic();
    }
  }
  EXPECT_LE(arenaEnd, plan.arenaBytes);
  for (size_t i = 0; i < vals.size(); ++i)
    for (size_t j = i + 1; j < vals.size(); ++j) {
      Live a = live.at({vals[i].node, vals[i].index}), b = live.at({vals[j].node, vals[j].index});
      if (a.def > b.last || b.def > a.last || aliasRoot(plan, vals[i]) == aliasRoot(plan, vals[j]))
        continue;
      const BufferSlot &x = plan.at(vals[i]), &y = plan.at(vals[j]);
      bool disjoint = x.offset + static_cast<int64_t>(x.size) <= y.offset ||
                      y.offset + static_cast<int64_t>(y.size) <= x.offset;
      EXPECT_TRUE(disjoint || x.size == 0 || y.size == 0)
          << vals[i].node->mnemonic() << " and " << vals[j].node->mnemonic() << " overlap while both live";
    }
  EXPECT_LE(plan.peakLiveBytes, plan.arenaBytes);
}

/// Runs `g` node by node, every value read from and written to the place the
/// plan gives it (one byte arena, one buffer per signature value), applies
/// the assigns the plan did not do in place at the end, and compares outputs
/// and final parameters/state with the interpreter.
void simulate(const Graph &g, const MemoryPlan &plan, uint32_t seed) {
  TensorMap env = randomEnv(g, seed);
  TensorMap refEnv = cloneEnv(env);
  std::vector<HostTensor> expected = interpret(g, refEnv);

  std::vector<std::byte> arena(plan.arenaBytes + 64);
  auto storage = [&](Value v) -> std::byte * {
    const BufferSlot &s = plan.at(v);
    if (s.place == BufferSlot::Place::Signature)
      return env.at(s.signature->name()).bytes();
    return arena.data() + s.offset;
  };
  auto read = [&](Value v) {
    HostTensor t(v.type());
    std::memcpy(t.bytes(), storage(v), t.byteSize());
    return t;
  };
  // Inputs (and reads of params/state) see the values before the step.
  TensorMap before = cloneEnv(env);
  auto readOperand = [&](Value v) {
    if (v.node->kind() == OpKind::Input || v.node->kind() == OpKind::Parameter || v.node->kind() == OpKind::State) {
      // A param/state overwritten in place must not be read afterwards; read the live buffer.
      HostTensor t(v.type());
      std::memcpy(t.bytes(), env.at(v.node->name()).bytes(), t.byteSize());
      return t;
    }
    return read(v);
  };
  std::vector<std::pair<Value, Value>> deferred;
  for (Node *n : g.nodes()) {
    if (n->kind() == OpKind::Assign) {
      if (plan.at(n->operand(1)).signature != n->operand(0).node)
        deferred.emplace_back(n->operand(0), n->operand(1));
      continue;
    }
    Graph one("one");
    TensorMap in;
    std::vector<Value> ins;
    for (size_t i = 0; i < n->numOperands(); ++i) {
      std::string name = "in" + std::to_string(i);
      ins.push_back(one.addInput(name, n->operand(i).type()));
      in[name] = readOperand(n->operand(i));
    }
    Node *c = one.createUnchecked(n->kind(), ins, n->attrs(),
                                  {n->resultTypes().begin(), n->resultTypes().end()}, n->location());
    if (n->body())
      c->setBody(n->body()->clone());
    for (size_t k = 0; k < n->numResults(); ++k)
      one.addOutput(c->result(k));
    std::vector<HostTensor> out = interpret(one, in);
    for (size_t k = 0; k < out.size(); ++k)
      std::memcpy(storage(n->result(k)), out[k].bytes(), out[k].byteSize());
  }
  std::vector<HostTensor> got;
  for (Value v : g.outputs())
    got.push_back(v.node->kind() == OpKind::Input || v.node->kind() == OpKind::Parameter ||
                          v.node->kind() == OpKind::State
                      ? before.at(v.node->name())
                      : read(v));
  std::vector<HostTensor> staged;
  for (auto &[target, v] : deferred)
    staged.push_back(read(v));
  for (size_t i = 0; i < deferred.size(); ++i)
    env[deferred[i].first.node->name()] = staged[i];
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(maxRelativeDifference(got[i], expected[i]), 0.0) << "output " << i;
  for (const auto &[name, t] : refEnv)
    EXPECT_EQ(maxRelativeDifference(env.at(name), t), 0.0) << "state " << name;
}

void planCheckSimulate(const Graph &g) {
  MemoryPlan plan = planMemory(g);
  checkPlan(g, plan);
  for (uint32_t seed : {1u, 2u})
    simulate(g, plan, seed);
}

const char *kChain = R"(graph @f(%x: f32[3,4]) {
  %e = exp(%x) : f32[3,4]
  %n = neg(%e) : f32[3,4]
  %a = abs(%n) : f32[3,4]
  return %a : f32[3,4]
}
)";

TEST(MemoryPlan, ElementwiseChainRunsInOneBuffer) {
  auto g = parseGraph(kChain);
  MemoryPlan plan = planMemory(*g);
  checkPlan(*g, plan);
  EXPECT_EQ(plan.arenaBytes, 64u); // 48 bytes, aligned
  EXPECT_EQ(plan.unplannedBytes, 3 * 48u);
  EXPECT_EQ(plan.inPlace, 2);
  const auto &n = g->nodes();
  EXPECT_FALSE(plan.at(n[0]->result()).inPlaceOf); // never over an input
  EXPECT_EQ(plan.at(n[1]->result()).inPlaceOf, n[0]->result());
  simulate(*g, plan, 3);
}

TEST(MemoryPlan, NoInPlaceWhileTheOperandIsStillRead) {
  auto g = parseGraph(R"(graph @f(%x: f32[16]) {
  %e = exp(%x) : f32[16]
  %n = neg(%e) : f32[16]
  %s = add(%n, %e) : f32[16]
  %b = broadcast(%s) {shape = [2,16]} : f32[2,16]
  return %b : f32[2,16]
}
)");
  MemoryPlan plan = planMemory(*g);
  const auto &n = g->nodes();
  EXPECT_FALSE(plan.at(n[1]->result()).inPlaceOf); // e is read again by add
  EXPECT_TRUE(plan.at(n[2]->result()).inPlaceOf);  // add over n or e, both die there
  EXPECT_FALSE(plan.at(n[3]->result()).inPlaceOf); // broadcast is not elementwise in place
  planCheckSimulate(*g);
}

TEST(MemoryPlan, ViewsShareTheirOperandsBuffer) {
  auto g = parseGraph(R"(graph @f(%x: f32[2,3,4]) {
  %e = exp(%x) : f32[2,3,4]
  %f = flatten(%e) : f32[2,12]
  %r = reshape(%e) {shape = [24]} : f32[24]
  %s = reduce_sum(%f) : f32[]
  return %r, %s : f32[24], f32[]
}
)");
  MemoryPlan plan = planMemory(*g);
  const auto &n = g->nodes();
  EXPECT_EQ(plan.at(n[1]->result()).offset, plan.at(n[0]->result()).offset);
  EXPECT_EQ(plan.at(n[2]->result()).offset, plan.at(n[0]->result()).offset);
  planCheckSimulate(*g);
}

TEST(MemoryPlan, OptimizerUpdatesOverwriteTheirStateWhenLegal) {
  auto g = parseGraph(R"(graph @f(%g: f32[8]) params(%p: f32[8], %q: f32[8]) state(%v: f32[8]) {
  %h = constant() {value = 0.5, dtype = "f32", shape = []} : f32[]
  %vn = mul(%v, %h) : f32[8]
  %vn2 = add(%vn, %g) : f32[8]
  %pn = sub(%p, %vn2) : f32[8]
  %qn = sub(%q, %g) : f32[8]
  %late = mul(%q, %h) : f32[8]
  assign(%v, %vn2)
  assign(%p, %pn)
  assign(%q, %qn)
  return %late : f32[8]
}
)");
  MemoryPlan plan = planMemory(*g);
  const auto &n = g->nodes();
  // v is last read by %vn, before %vn2 is produced: the new v goes over the old one.
  EXPECT_EQ(plan.at(n[2]->result()).place, BufferSlot::Place::Signature);
  EXPECT_EQ(plan.at(n[2]->result()).signature->name(), "v");
  EXPECT_EQ(plan.at(n[3]->result()).signature->name(), "p"); // sub reads p in place
  // q is read by %late after %qn: the new q waits in the arena until the step ends.
  EXPECT_EQ(plan.at(n[4]->result()).place, BufferSlot::Place::Arena);
  planCheckSimulate(*g);
}

TEST(MemoryPlan, RegionOutputInPlaceOnlyAfterEveryBodyReader) {
  // Output 0 (neg) is produced before the body reads %arg0 again (add): writing
  // it over %arg0 would break op-by-op execution of the body.
  auto g = parseGraph(R"(graph @f(%x: f32[8]) {
  %e = exp(%x) : f32[8]
  %0, %1 = fused(%e) {name = "elementwise"} : f32[8], f32[8] {
    ^(%arg0: f32[8])
    %n = neg(%arg0) : f32[8]
    %a = add(%arg0, %n) : f32[8]
    yield %n, %a : f32[8], f32[8]
  }
  %s = add(%0, %1) : f32[8]
  return %s : f32[8]
}
)");
  MemoryPlan plan = planMemory(*g);
  Node *region = g->nodes()[1];
  EXPECT_FALSE(plan.at(region->result(0)).inPlaceOf);
  EXPECT_EQ(plan.at(region->result(1)).inPlaceOf, g->nodes()[0]->result());
  planCheckSimulate(*g);
}

TEST(MemoryPlan, FusedTrainingBlockAndPassStatistics) {
  auto g = parseGraph(R"(graph @f(%x: f32[2,3,8,8], %dp: f32[2,4,3,3]) params(%w: f32[4,3,3,3], %b: f32[4]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %z = add(%c, %b) {broadcast = [1]} : f32[2,4,6,6]
  %r = relu(%z) : f32[2,4,6,6]
  %p = max_pool2d(%r) : f32[2,4,3,3]
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %dr = max_pool2d_grad(%dp, %r) : f32[2,4,6,6]
  %m = cmp(%z, %zero) {pred = "gt"} : bool[2,4,6,6]
  %dz = select(%m, %dr, %zero) : f32[2,4,6,6]
  %db = reduce_sum(%dz) {axes = [0,2,3]} : f32[4]
  %dw = conv2d_filter_grad(%x, %dz) {filter_shape = [4,3,3,3]} : f32[4,3,3,3]
  %lr = constant() {value = 0.1, dtype = "f32", shape = []} : f32[]
  %sw = mul(%dw, %lr) : f32[4,3,3,3]
  %wn = sub(%w, %sw) : f32[4,3,3,3]
  %sb = mul(%db, %lr) : f32[4]
  %bn = sub(%b, %sb) : f32[4]
  assign(%w, %wn)
  assign(%b, %bn)
  return %p : f32[2,4,3,3]
}
)");
  planCheckSimulate(*g);
  PassContext ctx = runPasses(*g, "fuse,plan-memory");
  planCheckSimulate(*g);
  EXPECT_GT(ctx.stats.at("plan-memory.arena-bytes"), 0);
  EXPECT_LE(ctx.stats.at("plan-memory.peak-live-bytes"), ctx.stats.at("plan-memory.arena-bytes"));
  EXPECT_LT(ctx.stats.at("plan-memory.arena-bytes"), ctx.stats.at("plan-memory.unplanned-bytes"));
  EXPECT_GE(ctx.stats.at("plan-memory.in-place"), 2); // both parameter updates
}

TEST(MemoryPlan, RandomGraphsFusedAndUnfused) {
  // Differential test of every fusion pass and of the plan: random forward and
  // backward graphs, fused by `fuse`, equal on the interpreter; both plans
  // overlap-free and runnable out of one arena.
  std::map<std::string, int64_t> formed;
  for (uint32_t seed = 0; seed < 400; ++seed) {
    SCOPED_TRACE("random graph seed " + std::to_string(seed));
    std::unique_ptr<Graph> g = randomGraph(seed);
    std::unique_ptr<Graph> fused = g->clone();
    for (const auto &[stat, n] : runPasses(*fused, "fuse").stats)
      formed[stat] += n;
    expectSameResults(*g, *fused, seed);
    planCheckSimulate(*g);
    planCheckSimulate(*fused);
    if (HasFailure()) {
      std::cout << toText(*g) << "\n" << toText(*fused);
      return;
    }
  }
  // What the random graphs exercise (the anchored patterns have their own tests).
  for (const char *p : {"fuse.elementwise", "fuse.bias_grad", "fuse.matmul_bias", "fuse.softmax_xent"})
    EXPECT_GT(formed[p], 0) << p;
}

} // namespace
} // namespace kiln::test
