// tests/passes/FusionBackwardTest.cpp - fuse-backward: relu-gradient masks and bias-gradient reductions.
#include "FusionTestUtil.h"

#include "ir/Printer.h"
#include "passes/Fusion.h"

#include <cstring>

namespace kiln::test {
namespace {

TEST(FuseBackward, ConvInputGradTakesTheReluMask) {
  const char *text = R"(graph @f(%dy: f32[2,4,6,6], %r: f32[2,3,8,8]) params(%w: f32[4,3,3,3]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %g = conv2d_input_grad(%dy, %w) {input_shape = [2,3,8,8]} : f32[2,3,8,8]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[2,3,8,8]
  %dz = select(%m, %g, %zero) : f32[2,3,8,8]
  return %dz : f32[2,3,8,8]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "conv_input_grad_mask");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "conv2d_input_grad,cmp,select");
  EXPECT_EQ(regions[0]->numResults(), 1u);
}

TEST(FuseBackward, MatmulGradThroughDropoutGradientTakesTheMask) {
  const char *text = R"(graph @f(%dy: f32[4,5], %r: f32[4,8], %key: i64[]) params(%w: f32[8,5]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %g = matmul(%dy, %w) {transpose_b = true} : f32[4,8]
  %d = dropout(%g, %key) {rate = 0.25, seed = 7} : f32[4,8]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[4,8]
  %dz = select(%m, %d, %zero) : f32[4,8]
  %db = reduce_sum(%dz) {axes = [0]} : f32[8]
  return %dz, %db : f32[4,8], f32[8]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "matmul_grad_mask");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "matmul,dropout,cmp,select");
}

TEST(FuseBackward, PoolGradWithTheFollowingReluGradient) {
  const char *text = R"(graph @f(%dp: f32[2,4,3,3], %r: f32[2,4,6,6]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %dr = max_pool2d_grad(%dp, %r) : f32[2,4,6,6]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[2,4,6,6]
  %dz = select(%m, %dr, %zero) : f32[2,4,6,6]
  return %dz : f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "pool_grad_mask");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "max_pool2d_grad,cmp,select");
}

TEST(FuseBackward, PoolGradTakesTheDropoutGradientBeforeIt) {
  const char *text = R"(graph @f(%dp: f32[2,4,3,3], %r: f32[2,4,6,6], %key: i64[]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %dd = dropout(%dp, %key) {rate = 0.25, seed = 7} : f32[2,4,3,3]
  %dr = max_pool2d_grad(%dd, %r) : f32[2,4,6,6]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[2,4,6,6]
  %dz = select(%m, %dr, %zero) : f32[2,4,6,6]
  return %dz : f32[2,4,6,6]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "pool_grad_mask");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "dropout,max_pool2d_grad,cmp,select");
  EXPECT_EQ(g->nodes().size(), 1u) << toText(*g); // the region alone
}

// A dense relu layer with dropout in training: the relu-gradient mask reads
// the dropout output instead of the relu output, so the dense region keeps
// only the dropout output. The rewrite is exact: every output is bit-identical.
TEST(FuseBackward, MaskBehindADropoutLayerMovesToItsOutput) {
  const char *text = R"(graph @f(%x: f32[4,6], %dy: f32[4,5], %key: i64[]) params(%w: f32[6,8], %b: f32[8], %w2: f32[8,5]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %mm = matmul(%x, %w) : f32[4,8]
  %z = add(%mm, %b) {broadcast = [1]} : f32[4,8]
  %h = relu(%z) : f32[4,8]
  %hd = dropout(%h, %key) {rate = 0.5, seed = 9} : f32[4,8]
  %o = matmul(%hd, %w2) : f32[4,5]
  %gh = matmul(%dy, %w2) {transpose_b = true} : f32[4,8]
  %gd = dropout(%gh, %key) {rate = 0.5, seed = 9} : f32[4,8]
  %m = cmp(%z, %zero) {pred = "gt"} : bool[4,8]
  %dz = select(%m, %gd, %zero) : f32[4,8]
  return %o, %dz : f32[4,5], f32[4,8]
}
)";
  auto g = fuseAndCheck(text, "fuse");
  auto dense = regionsNamed(*g, "matmul_bias_act");
  ASSERT_EQ(dense.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(dense[0]), "matmul,add,relu,dropout");
  EXPECT_EQ(dense[0]->numResults(), 1u) << toText(*g);
  std::unique_ptr<Graph> before = parseGraph(text, "test.kir");
  for (uint32_t seed : {1u, 2u, 3u}) {
    TensorMap env = randomEnv(*before, seed);
    TensorMap env1 = cloneEnv(env);
    std::vector<HostTensor> r0 = interpret(*before, env), r1 = interpret(*g, env1);
    for (size_t i = 0; i < r0.size(); ++i)
      EXPECT_EQ(std::memcmp(r0[i].bytes(), r1[i].bytes(), r0[i].byteSize()), 0) << "output " << i;
  }
}

// A first layer: the masked pool gradient feeds only the filter and bias
// gradients (no input gradient), so on the cpu they join it in one region.
const char *kFirstLayer = R"(graph @f(%x: f32[2,1,8,8], %dp: f32[2,4,3,3], %r: f32[2,4,6,6]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %dr = max_pool2d_grad(%dp, %r) : f32[2,4,6,6]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[2,4,6,6]
  %dz = select(%m, %dr, %zero) : f32[2,4,6,6]
  %dw = conv2d_filter_grad(%x, %dz) {filter_shape = [4,1,3,3]} : f32[4,1,3,3]
  %db = reduce_sum(%dz) {axes = [0,2,3]} : f32[4]
  return %dw, %db EXTRA : f32[4,1,3,3], f32[4] EXTRATYPE
}
)";

std::string firstLayer(bool dzOutput) {
  std::string s = kFirstLayer;
  s.replace(s.find("EXTRATYPE"), 9, dzOutput ? ", f32[2,4,6,6]" : "");
  s.replace(s.find("EXTRA"), 5, dzOutput ? ", %dz" : "");
  return s;
}

TEST(FuseBackward, FirstLayerWeightGradientsJoinThePoolGradientOnTheCpu) {
  auto g = fuseAndCheck(firstLayer(false), "fuse-backward", 2, "cpu");
  auto regions = regionsNamed(*g, "pool_grad_wgrad");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "max_pool2d_grad,cmp,select,conv2d_filter_grad,reduce_sum");
  EXPECT_EQ(regions[0]->numResults(), 2u);
  // Besides the region only the reshapes that keep the outputs' names.
  EXPECT_EQ(g->nodes().size(), 3u) << toText(*g);
}

TEST(FuseBackward, WeightGradientsStayOutsideElsewhereOrWhenTheGradientIsUsed) {
  // The interpreter and the CUDA backend have no such kernel: pool_grad_mask.
  for (const char *backend : {"interp", "cuda"}) {
    auto g = fuseAndCheck(firstLayer(false), "fuse-backward", 2, backend);
    EXPECT_TRUE(regionsNamed(*g, "pool_grad_wgrad").empty()) << backend;
    EXPECT_EQ(regionsNamed(*g, "pool_grad_mask").size(), 1u) << backend << "\n" << toText(*g);
  }
  // The masked gradient is a graph output: it must be written, so no fusion.
  auto g = fuseAndCheck(firstLayer(true), "fuse-backward", 2, "cpu");
  EXPECT_TRUE(regionsNamed(*g, "pool_grad_wgrad").empty()) << toText(*g);
  EXPECT_EQ(regionsNamed(*g, "pool_grad_mask").size(), 1u) << toText(*g);
}

TEST(FuseBackward, SharedMaskStaysOutsideAndNonReluSelectsAreLeftAlone) {
  const char *text = R"(graph @f(%dy: f32[4,5], %r: f32[4,8], %q: f32[4,8]) params(%w: f32[8,5]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %half = constant() {value = 0.5, dtype = "f32", shape = []} : f32[]
  %g = matmul(%dy, %w) {transpose_b = true} : f32[4,8]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[4,8]
  %dz = select(%m, %g, %zero) : f32[4,8]
  %other = select(%m, %q, %zero) : f32[4,8]
  %g2 = matmul(%dy, %w) {transpose_b = true} : f32[4,8]
  %lt = cmp(%r, %half) {pred = "gt"} : bool[4,8]
  %s2 = select(%lt, %g2, %zero) : f32[4,8]
  return %dz, %other, %s2 : f32[4,8], f32[4,8], f32[4,8]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "matmul_grad_mask");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  // The mask has a second user: it is an operand of the region, not a member.
  EXPECT_EQ(bodyOps(regions[0]), "matmul,select");
  // cmp(r, 0.5) is not a relu mask: the second matmul is not fused.
  size_t matmuls = 0;
  for (Node *n : g->nodes())
    matmuls += n->kind() == OpKind::Matmul;
  EXPECT_EQ(matmuls, 1u);
}

TEST(FuseBackward, MaskOnPreActivationMovesToTheReluOutput) {
  // Autodiff writes the relu gradient with the pre-activation; after fusion the
  // conv region must not have to keep it.
  const char *text = R"(graph @f(%x: f32[4,8], %dy: f32[4,5]) params(%w: f32[8,5], %b: f32[5]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %mm = matmul(%x, %w) : f32[4,5]
  %z = add(%mm, %b) {broadcast = [1]} : f32[4,5]
  %r = relu(%z) : f32[4,5]
  %m = cmp(%z, %zero) {pred = "gt"} : bool[4,5]
  %dz = select(%m, %dy, %zero) : f32[4,5]
  return %r, %dz : f32[4,5], f32[4,5]
}
)";
  auto g = fuseAndCheck(text, "fuse-matmul");
  auto regions = regionsNamed(*g, "matmul_bias_act");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(regions[0]->numResults(), 1u) << toText(*g);
}

TEST(FuseBackward, BiasGradientTakesItsElementwiseProducers) {
  const char *text = R"(graph @f(%dy: f32[4,8], %r: f32[4,8]) {
  %zero = constant() {value = 0.0, dtype = "f32", shape = []} : f32[]
  %m = cmp(%r, %zero) {pred = "gt"} : bool[4,8]
  %dz = select(%m, %dy, %zero) : f32[4,8]
  %db = reduce_sum(%dz) {axes = [0]} : f32[8]
  %t = exp(%dz) : f32[4,8]
  return %db, %t : f32[8], f32[4,8]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  auto regions = regionsNamed(*g, "bias_grad");
  ASSERT_EQ(regions.size(), 1u) << toText(*g);
  EXPECT_EQ(bodyOps(regions[0]), "cmp,select,reduce_sum");
  // dz has another user: it is a result too, computed once.
  EXPECT_EQ(regions[0]->numResults(), 2u);
}

TEST(FuseBackward, GradientThatIsAGraphOutputEndsTheChain) {
  const char *text = R"(graph @f(%dy: f32[4,5]) params(%w: f32[8,5]) {
  %g = matmul(%dy, %w) {transpose_b = true} : f32[4,8]
  return %g : f32[4,8]
}
)";
  auto g = fuseAndCheck(text, "fuse");
  EXPECT_EQ(g->nodes().size(), 1u) << toText(*g);
}

TEST(FuseBackward, ReductionOfAHeavyOpIsNotABiasGradRegion) {
  const char *text = R"(graph @f(%dy: f32[4,5]) params(%w: f32[8,5]) {
  %g = matmul(%dy, %w) {transpose_b = true} : f32[4,8]
  %db = reduce_sum(%g) {axes = [0]} : f32[8]
  return %db : f32[8]
}
)";
  auto g = fuseAndCheck(text, "fuse-backward");
  EXPECT_EQ(g->nodes().size(), 2u) << toText(*g);
}

} // namespace
} // namespace kiln::test
