// tests/passes/FusionForwardTest.cpp - fuse-conv, fuse-matmul and fuse-softmax: positive and negative cases.
//
// Every case checks the fused graph against the unfused one on the reference
// interpreter (random inputs) besides the region's shape.
#include "FusionTestUtil.h"

#include "ir/Error.h"
#include "ir/Printer.h"
#include "passes/Fusion.h"

namespace kiln::test {
namespace {

const char *kConvBlock = R"(graph @f(%x: f32[2,3,8,8]) params(%w: f32[4,3,3,3], %b: f32[4]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %z = add(%c, %b) {broadcast = [1]} : f32[2,4,6,6]
  %r = relu(%z) : f32[2,4,6,6]
  %p = max_pool2d(%r) : f32[2,4,3,3]
  return %p : f32[2,4,3,3]
}
)";

TEST(FuseConv, ConvBiasReluPoolIsOneRegionWithOnlyThePooledResult) {
  auto g = fuseAndCheck(kConvBlock, "fuse-conv");
  auto regions = regionsNamed(*g, "conv_bias_relu_pool");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "conv2d,add,relu,max_pool2d");
  // Inference: the pre-pool activation is never a result.
  EXPECT_EQ(regions[0]->numResults(), 1u);
  EXPECT_EQ(regions[0]->resultType().shape, (Shape{2, 4, 3, 3}));
  EXPECT_EQ(g->nodes().size(), 1u);
  EXPECT_EQ(regions[0]->name(), "p"); // the single result keeps its name
}

TEST(FuseConv, TrainingKeepsOnlyWhatBackwardReads) {
  // Backward reads the relu output (pool gradient, mask on the pre-activation).
  const char *text = R"(graph @f(%x: f32[2,3,8,8], %dp: f32[2,4,3,3]) params(%w: f32[4,3,3,3], %b: f32[4]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %z = add(%c, %b) {broadcast = [1]} : f32[2,4,6,6]
  %r = relu(%z) : f32[2,4,6,6]
  %p = max_pool2d(%r) : f32[2,4,3,3]
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %dr = max_pool2d_grad(%dp, %r) : f32[2,4,6,6]
  %m = cmp(%z, %zero) {pred = "gt"} : bool[2,4,6,6]
  %dz = select(%m, %dr, %zero) : f32[2,4,6,6]
  return %p, %dz : f32[2,4,3,3], f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-conv");
  auto regions = regionsNamed(*g, "conv_bias_relu_pool");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  // Results: the relu output (read by backward) and the pooled output; not z.
  ASSERT_EQ(regions[0]->numResults(), 2u) << toText(*g);
  const Graph &body = *regions[0]->body();
  EXPECT_EQ(body.outputs()[0].node->kind(), OpKind::Relu);
  EXPECT_EQ(body.outputs()[1].node->kind(), OpKind::MaxPool2d);
}

TEST(FuseConv, ReluInputWithASecondUserStaysAResult) {
  const char *text = R"(graph @f(%x: f32[2,3,8,8]) params(%w: f32[4,3,3,3], %b: f32[4]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %z = add(%c, %b) {broadcast = [1]} : f32[2,4,6,6]
  %r = relu(%z) : f32[2,4,6,6]
  %e = exp(%z) : f32[2,4,6,6]
  return %r, %e : f32[2,4,6,6], f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-conv");
  auto regions = regionsNamed(*g, "conv_bias_relu");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  ASSERT_EQ(regions[0]->numResults(), 2u);
  EXPECT_EQ(regions[0]->body()->outputs()[0].node->kind(), OpKind::Add);
  // exp still reads the pre-activation, from the region, not recomputed.
  Node *e = g->nodes().back();
  ASSERT_EQ(e->kind(), OpKind::Exp);
  EXPECT_EQ(e->operand(0), regions[0]->result(0));
}

TEST(FuseConv, NoBiasNoRegion) {
  const char *text = R"(graph @f(%x: f32[2,3,8,8]) params(%w: f32[4,3,3,3]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %r = relu(%c) : f32[2,4,6,6]
  return %r : f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-conv");
  EXPECT_EQ(g->nodes().size(), 2u) << toText(*g);
}

TEST(FuseConv, ResidualAddIsNotABias) {
  const char *text = R"(graph @f(%x: f32[2,3,8,8], %y: f32[2,4,6,6]) params(%w: f32[4,3,3,3]) {
  %c = conv2d(%x, %w) : f32[2,4,6,6]
  %s = add(%c, %y) : f32[2,4,6,6]
  return %s : f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-conv");
  EXPECT_TRUE(regionsNamed(*g, "conv_bias").empty()) << toText(*g);
}

TEST(FuseConv, EveryBackendFormsEveryPattern) {
  for (const char *backend : {"interp", "cpu", "cuda"})
    for (const char *p : {"conv_bias_relu", "conv_bias_relu_pool", "matmul_bias_act", "softmax_xent",
                          "pool_grad_mask", "bias_grad", "optimizer_update", "elementwise"})
      EXPECT_TRUE(fusionCaps(backend).supports(p)) << backend << " " << p;
  EXPECT_FALSE(fusionCaps("cpu").supports("no_such_pattern"));
  // Only the cpu has a kernel for it; elsewhere it would hide pool_grad_mask.
  EXPECT_TRUE(fusionCaps("cpu").supports("pool_grad_wgrad"));
  EXPECT_FALSE(fusionCaps("interp").supports("pool_grad_wgrad"));
  EXPECT_FALSE(fusionCaps("cuda").supports("pool_grad_wgrad"));
  EXPECT_THROW(fusionCaps("tpu"), UserError);
}

const char *kDense = R"(graph @f(%x: f32[4,8]) params(%w: f32[8,5], %b: f32[5]) {
  %m = matmul(%x, %w) : f32[4,5]
  %z = add(%m, %b) {broadcast = [1]} : f32[4,5]
  %a = ACT(%z) : f32[4,5]
  return %a : f32[4,5]
}
)";

TEST(FuseMatmul, MatmulBiasActivation) {
  for (std::string act : {"relu", "sigmoid", "tanh"}) {
    std::string text = kDense;
    text.replace(text.find("ACT"), 3, act);
    auto g = fuseAndCheck(text, "fuse-matmul");
    auto regions = regionsNamed(*g, "matmul_bias_act");
    ASSERT_EQ(regions.size(), 1u) << act << "\n" << toText(*g);
    EXPECT_EQ(bodyOps(regions[0]), "matmul,add," + act);
  }
}

TEST(FuseMatmul, BiasWithoutActivationAndNotAcrossOtherOps) {
  std::string text = kDense;
  text.replace(text.find("ACT"), 3, "exp");
  auto g = fuseAndCheck(text, "fuse-matmul");
  auto regions = regionsNamed(*g, "matmul_bias");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "matmul,add");
  EXPECT_EQ(g->nodes().back()->kind(), OpKind::Exp);
}

TEST(FuseMatmul, NonBiasAddIsLeftAlone) {
  const char *text = R"(graph @f(%x: f32[4,8], %y: f32[4,5]) params(%w: f32[8,5]) {
  %m = matmul(%x, %w) : f32[4,5]
  %z = add(%m, %y) : f32[4,5]
  %a = relu(%z) : f32[4,5]
  return %a : f32[4,5]
}
)";
  auto g = fuseAndCheck(text, "fuse-matmul");
  EXPECT_EQ(g->nodes().size(), 3u) << toText(*g);
}

TEST(FuseSoftmax, LossAndItsGradientShareOneRegion) {
  const char *text = R"(graph @f(%logits: f32[6,5], %y: i32[6]) {
  %loss = softmax_cross_entropy(%logits, %y) : f32[]
  %one = constant() {value = 1.0, dtype = "f32", shape = []} : f32[]
  %d = softmax_cross_entropy_grad(%logits, %y, %one) : f32[6,5]
  return %loss, %d : f32[], f32[6,5]
}
)";
  auto g = fuseAndCheck(text, "fuse-softmax", 5);
  auto regions = regionsNamed(*g, "softmax_xent");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "softmax_cross_entropy,softmax_cross_entropy_grad");
  // The loss is a named graph output of a two-result region: its name survives.
  std::string text2 = toText(*g);
  EXPECT_NE(text2.find("return %loss"), std::string::npos) << text2;
}

TEST(FuseSoftmax, DifferentLogitsOrLossDependingOnLossAreNotMerged) {
  const char *text = R"(graph @f(%a: f32[6,5], %b: f32[6,5], %y: i32[6]) {
  %l1 = softmax_cross_entropy(%a, %y) : f32[]
  %p = softmax(%b) : f32[6,5]
  %s = exp(%l1) : f32[]
  %d = softmax_cross_entropy_grad(%a, %y, %s) : f32[6,5]
  return %p, %d : f32[6,5], f32[6,5]
}
)";
  auto g = fuseAndCheck(text, "fuse-softmax", 5);
  // %d reads exp(loss) of its own logits: fusing them would make a cycle.
  EXPECT_TRUE(regionsNamed(*g, "softmax_xent").empty()) << toText(*g);
}

} // namespace
} // namespace kiln::test
