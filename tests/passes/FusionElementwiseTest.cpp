// tests/passes/FusionElementwiseTest.cpp - fuse-elementwise and fuse-optimizer, and the region builder.
#include "FusionTestUtil.h"

#include "ir/Printer.h"
#include "passes/Fusion.h"

namespace kiln::test {
namespace {

TEST(FuseElementwise, ChainWithBroadcastsIsOneKernel) {
  const char *text = R"(graph @f(%x: f32[3,4], %v: f32[4]) {
  %e = exp(%x) : f32[3,4]
  %bv = broadcast(%v) {shape = [3,4]} : f32[3,4]
  %s = add(%e, %bv) : f32[3,4]
  %h = mul(%s, %v) {broadcast = [1]} : f32[3,4]
  %t = tanh(%h) : f32[3,4]
  return %t : f32[3,4]
}
)";
  auto g = fuseAndCheck(text, "fuse-elementwise");
  auto regions = regionsNamed(*g, "elementwise");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(g->nodes().size(), 1u);
  EXPECT_EQ(regions[0]->body()->nodes().size(), 5u);
  EXPECT_EQ(regions[0]->numResults(), 1u);
  EXPECT_EQ(regions[0]->numOperands(), 2u);
}

TEST(FuseElementwise, ConstantsAreCopiedIntoTheBody) {
  const char *valid = R"(graph @f(%x: f32[3,4]) {
  %two = constant() {value = 2.0, dtype = "f32", shape = []} : f32[]
  %a = mul(%x, %two) : f32[3,4]
  %b = sub(%a, %two) : f32[3,4]
  return %b, %two : f32[3,4], f32[]
}
)";
  auto g = fuseAndCheck(valid, "fuse-elementwise");
  auto regions = regionsNamed(*g, "elementwise");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(regions[0]->numOperands(), 1u); // only %x; the constant is inside
  // The constant is still returned, so it stays outside as well.
  EXPECT_EQ(g->nodes().front()->kind(), OpKind::Constant);
}

TEST(FuseElementwise, ShapesAreNotMixedAndSingleOpsAreLeftAlone) {
  const char *text = R"(graph @f(%x: f32[3,4]) {
  %e = exp(%x) : f32[3,4]
  %n = neg(%e) : f32[3,4]
  %s = reduce_sum(%n) {axes = [0]} : f32[4]
  %l = log(%s) : f32[4]
  %q = sqrt(%l) : f32[4]
  %r = reduce_sum(%q) : f32[]
  %t = tanh(%r) : f32[]
  return %t : f32[]
}
)";
  auto g = fuseAndCheck(text, "fuse-elementwise");
  auto regions = regionsNamed(*g, "elementwise");
  ASSERT_EQ(regions.size(), 2u) << toText(*g);
  EXPECT_EQ(regions[0]->resultType().shape, (Shape{3, 4}));
  EXPECT_EQ(regions[1]->resultType().shape, (Shape{4}));
  EXPECT_EQ(g->nodes().back()->kind(), OpKind::Tanh); // a group of one stays an op
}

TEST(FuseElementwise, DeadChainsAreLeftToDce) {
  const char *text = R"(graph @f(%x: f32[4]) {
  %e = exp(%x) : f32[4]
  %n = neg(%e) : f32[4]
  %t = tanh(%x) : f32[4]
  return %t : f32[4]
}
)";
  auto g = fuseAndCheck(text, "fuse");
  EXPECT_EQ(g->nodes().size(), 3u) << toText(*g);
}

TEST(FuseElementwise, NoCycleThroughAHeavyOp) {
  const char *text = R"(graph @f(%x: f32[4,4]) params(%w: f32[4,4]) {
  %e = exp(%x) : f32[4,4]
  %m = matmul(%e, %w) : f32[4,4]
  %s = add(%e, %m) : f32[4,4]
  %t = tanh(%s) : f32[4,4]
  return %t : f32[4,4]
}
)";
  auto g = fuseAndCheck(text, "fuse-elementwise");
  // exp feeds the matmul that feeds add: exp and add cannot share a region.
  auto regions = regionsNamed(*g, "elementwise");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "add,tanh");
  EXPECT_EQ(g->nodes().front()->kind(), OpKind::Exp);
}

TEST(FuseElementwise, ValueReadOutsideIsAResultNotRecomputed) {
  const char *text = R"(graph @f(%x: f32[4,4]) params(%w: f32[4,4]) {
  %e = exp(%x) : f32[4,4]
  %r = relu(%e) : f32[4,4]
  %n = neg(%r) : f32[4,4]
  %m = matmul(%r, %w) : f32[4,4]
  return %n, %m : f32[4,4], f32[4,4]
}
)";
  auto g = fuseAndCheck(text, "fuse-elementwise");
  auto regions = regionsNamed(*g, "elementwise");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "exp,relu,neg");
  ASSERT_EQ(regions[0]->numResults(), 2u);
  size_t relus = 0;
  for (Node *n : g->nodes())
    relus += n->kind() == OpKind::Relu;
  EXPECT_EQ(relus, 0u);
}

// Adadelta for two parameters, as the optimizer writes it.
const char *kAdadelta = R"(graph @step(%g1: f32[3,4], %g2: f32[5]) params(%p1: f32[3,4], %p2: f32[5]) state(%ag1: f32[3,4], %ad1: f32[3,4], %ag2: f32[5], %ad2: f32[5]) {
  %rho = constant() {value = 0.95, dtype = "f32", shape = []} : f32[]
  %omr = constant() {value = 0.05, dtype = "f32", shape = []} : f32[]
  %eps = constant() {value = 1e-07, dtype = "f32", shape = []} : f32[]
  %lr = constant() {value = 1.0, dtype = "f32", shape = []} : f32[]
  %sq1 = mul(%g1, %g1) : f32[3,4]
  %t1 = mul(%ag1, %rho) : f32[3,4]
  %t2 = mul(%sq1, %omr) : f32[3,4]
  %agn1 = add(%t1, %t2) : f32[3,4]
  %a1 = add(%ad1, %eps) : f32[3,4]
  %s1 = sqrt(%a1) : f32[3,4]
  %a2 = add(%agn1, %eps) : f32[3,4]
  %s2 = sqrt(%a2) : f32[3,4]
  %q1 = div(%s1, %s2) : f32[3,4]
  %dl1 = mul(%q1, %g1) : f32[3,4]
  %d21 = mul(%dl1, %dl1) : f32[3,4]
  %t3 = mul(%ad1, %rho) : f32[3,4]
  %t4 = mul(%d21, %omr) : f32[3,4]
  %adn1 = add(%t3, %t4) : f32[3,4]
  %u1 = mul(%dl1, %lr) : f32[3,4]
  %pn1 = sub(%p1, %u1) : f32[3,4]
  %sq2 = mul(%g2, %g2) : f32[5]
  %t5 = mul(%ag2, %rho) : f32[5]
  %t6 = mul(%sq2, %omr) : f32[5]
  %agn2 = add(%t5, %t6) : f32[5]
  %a3 = add(%ad2, %eps) : f32[5]
  %s3 = sqrt(%a3) : f32[5]
  %a4 = add(%agn2, %eps) : f32[5]
  %s4 = sqrt(%a4) : f32[5]
  %q2 = div(%s3, %s4) : f32[5]
  %dl2 = mul(%q2, %g2) : f32[5]
  %d22 = mul(%dl2, %dl2) : f32[5]
  %t7 = mul(%ad2, %rho) : f32[5]
  %t8 = mul(%d22, %omr) : f32[5]
  %adn2 = add(%t7, %t8) : f32[5]
  %u2 = mul(%dl2, %lr) : f32[5]
  %pn2 = sub(%p2, %u2) : f32[5]
  assign(%ag1, %agn1)
  assign(%ad1, %adn1)
  assign(%p1, %pn1)
  assign(%ag2, %agn2)
  assign(%ad2, %adn2)
  assign(%p2, %pn2)
  return
}
)";

TEST(FuseOptimizer, EachParameterUpdateIsOneRegionWithThreeResults) {
  auto g = fuseAndCheck(kAdadelta, "fuse-optimizer");
  auto regions = regionsNamed(*g, "optimizer_update");
  ASSERT_EQ(regions.size(), 2u) << toText(*g);
  for (Node *r : regions) {
    EXPECT_EQ(r->numResults(), 3u) << toText(*g);
    EXPECT_EQ(r->body()->nodes().size() - 4, 16u) << toText(*g); // 16 ops + 4 constants
  }
  size_t assigns = 0;
  for (Node *n : g->nodes())
    if (n->kind() == OpKind::Assign) {
      ++assigns;
      EXPECT_EQ(n->operand(1).node->kind(), OpKind::Fused);
    }
  EXPECT_EQ(assigns, 6u);
}

TEST(FuseOptimizer, UmbrellaFuseGivesTheSameRegions) {
  auto g = fuseAndCheck(kAdadelta, "fuse");
  EXPECT_EQ(regionsNamed(*g, "optimizer_update").size(), 2u) << toText(*g);
  EXPECT_TRUE(regionsNamed(*g, "elementwise").empty());
}

TEST(MakeRegion, ResultsAreTheValuesUsedOutsideInMemberOrder) {
  auto g = parseGraph(R"(graph @f(%x: f32[3]) {
  %a = exp(%x) : f32[3]
  %b = neg(%a) : f32[3]
  %c = abs(%b) : f32[3]
  %d = add(%a, %c) : f32[3]
  return %d, %b : f32[3], f32[3]
}
)");
  std::vector<Node *> members(g->nodes().begin(), g->nodes().begin() + 3);
  Node *r = makeRegion(*g, members, "elementwise");
  verify(*g);
  ASSERT_EQ(r->numResults(), 3u); // a (read by d), b (returned), c (read by d)
  EXPECT_EQ(r->body()->outputs()[0].node->kind(), OpKind::Exp);
  EXPECT_EQ(r->body()->outputs()[1].node->kind(), OpKind::Neg);
  EXPECT_EQ(r->body()->outputs()[2].node->kind(), OpKind::Abs);
  EXPECT_EQ(r->body()->inputs().size(), 1u);
  EXPECT_EQ(r->body()->inputs()[0]->name(), "arg0");
  EXPECT_EQ(g->outputs()[1].node->name(), "b"); // the named output survives as a view
}

TEST(MakeRegion, ConvexityIsCheckedThroughOutsideNodes) {
  auto g = parseGraph(R"(graph @f(%x: f32[4,4]) params(%w: f32[4,4]) {
  %e = exp(%x) : f32[4,4]
  %m = matmul(%e, %w) : f32[4,4]
  %s = add(%e, %m) : f32[4,4]
  return %s : f32[4,4]
}
)");
  UseIndex idx(*g);
  const auto &n = g->nodes();
  EXPECT_FALSE(isConvex(idx, {n[0], n[2]}));
  EXPECT_TRUE(isConvex(idx, {n[0], n[1], n[2]}));
  EXPECT_TRUE(isConvex(idx, {n[1], n[2]}));
}

} // namespace
} // namespace kiln::test
