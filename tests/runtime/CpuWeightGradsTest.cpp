// tests/runtime/CpuWeightGradsTest.cpp - a first layer's weight gradients
// fused with its pool gradient ("pool_grad_wgrad") and the pool gradient along
// input rows, on the cpu backend.
//
// The backward of conv -> bias -> relu -> 2x2 max pool, written out: the pool
// gradient, the relu mask, the filter gradient and the bias sum. Activations
// are small integers, so windows tie often (at zero and above) and the first
// maximum must win exactly as in the interpreter. Each case checks which
// kernels the lowering chose (the masked gradient is never a buffer when the
// fused kernel applies) and compares with the interpreter at 1, 2 and 3
// threads and with 32-byte vectors.
#include "codegen/Lower.h"
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

namespace kiln::test {
namespace {

struct WgradCase {
  Shape x;             ///< the layer's input
  Shape w;             ///< its filter
  int64_t pool = 2;    ///< pooling window (stride alike)
  bool bias = true;    ///< a bias gradient reads the masked gradient too
  bool dropout = false; ///< a dropout gradient between the pool and the mask
  bool fused = true;   ///< the lowering keeps the masked gradient in a local buffer
};

/// The graph: outputs dw (and db), inputs x, r (the relu output), dp (the pooled gradient).
std::unique_ptr<Graph> backward(const WgradCase &c) {
  auto owner = std::make_unique<Graph>();
  Graph &g = *owner;
  Value x = g.addInput("x", {DType::F32, c.x});
  const int64_t oh = c.x[2] - c.w[2] + 1, ow = c.x[3] - c.w[3] + 1;
  Value r = g.addInput("r", {DType::F32, {c.x[0], c.w[0], oh, ow}});
  Value dp = g.addInput("dp", {DType::F32, {c.x[0], c.w[0], oh / c.pool, ow / c.pool}});
  AttrMap pool;
  pool.set("kernel", std::vector<int64_t>{c.pool, c.pool});
  Value dr = g.build(OpKind::MaxPool2dGrad, {dp, r}, pool);
  if (c.dropout) {
    AttrMap d;
    d.set("rate", 0.25);
    d.set("seed", int64_t{7});
    dr = g.build(OpKind::Dropout, {dr, g.addInput("key", {DType::I64, {}})}, d);
  }
  Value zero = g.constant(0.0, TensorType{DType::F32, {}});
  AttrMap gt;
  gt.set("pred", std::string("gt"));
  Value dz = g.build(OpKind::Select, {g.build(OpKind::Cmp, {r, zero}, gt), dr, zero});
  AttrMap fg;
  fg.set("filter_shape", c.w);
  std::vector<Value> outs{g.build(OpKind::Conv2dFilterGrad, {x, dz}, fg)};
  if (c.bias) {
    AttrMap sum;
    sum.set("axes", std::vector<int64_t>{0, 2, 3});
    outs.push_back(g.build(OpKind::ReduceSum, {dz}, sum));
  }
  g.setOutputs(outs);
  return owner;
}

TensorMap inputs(const Graph &g, uint32_t seed) {
  TensorMap env = randomEnvironment(g, seed);
  // Small integers: many windows hold their maximum twice.
  Value r = g.inputs()[1]->result();
  env["r"] = randomInts(r.type(), seed + 1, -2, 3);
  return env;
}

class CpuWeightGrads : public ::testing::TestWithParam<WgradCase> {};

TEST_P(CpuWeightGrads, MatchTheInterpreter) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  const WgradCase &c = GetParam();
  std::unique_ptr<Graph> g = backward(c);
  std::unique_ptr<Graph> fused = g->clone();
  fuseFor(*fused, "cpu");
  size_t regions = 0;
  for (Node *n : fused->nodes())
    regions += n->kind() == OpKind::Fused && n->attrs().getString("name") == "pool_grad_wgrad";
  ASSERT_EQ(regions, 1u) << "the fuse pipeline did not form pool_grad_wgrad";

  LowerOptions lo;
  lo.threads = 2;
  Program p = lowerGraph(*fused, lo);
  const TensorType dz = g->inputs()[1]->resultType();
  bool dzBuffer = false;
  for (const ProgramBuffer &b : p.buffers)
    dzBuffer |= b.role == BufferRole::Temp && b.type == dz;
  EXPECT_EQ(dzBuffer, !c.fused) << printProgram(p);

  TensorMap env = inputs(*g, 3);
  for (int threads : {1, 2, 3})
    EXPECT_TRUE(sameAsInterpreter(*fused, "cpu", 1e-4, env, false, 1, threads)) << threads << " threads";
  EXPECT_TRUE(sameAsInterpreter(*fused, "cpu", 1e-4, env, false, 1, 2, 32)) << "32-byte vectors";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuWeightGrads,
    ::testing::Values(
        // The report CNN's first layer at batch 5: 28x28 -> 24x24 (three 8-wide vectors a row) -> 12x12.
        WgradCase{{5, 1, 28, 28}, {32, 1, 5, 5}},
        WgradCase{{3, 1, 28, 28}, {32, 1, 5, 5}, 2, false},
        WgradCase{{4, 1, 28, 28}, {8, 1, 5, 5}, 2, true, true},
        // Two input channels, 3x3 filters, 16-wide rows; 6 filters (tiles of 3 or 2).
        WgradCase{{2, 2, 18, 18}, {6, 2, 3, 3}},
        // 3x3 windows: the scalar window loop inside the fused kernel.
        WgradCase{{2, 1, 28, 28}, {4, 1, 5, 5}, 3},
        // Rows 10 wide (not whole vectors): the region lowers op by op.
        WgradCase{{3, 1, 14, 14}, {4, 1, 5, 5}, 2, true, false, false}),
    [](const ::testing::TestParamInfo<WgradCase> &info) { return "Case" + std::to_string(info.index); });

// max_pool2d_grad alone (with and without its relu mask) along input rows
// (16 wide) and in windows (10 wide), ties included.
TEST(CpuPoolGrad, RowsAndWindowsMatchTheInterpreter) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  for (int64_t w : {16, 24, 10}) {
    // Alone, with the relu mask, and with the mask and a dropout gradient
    // before it, in the region as the GPU's pipeline forms it (the cpu's
    // leaves the dropout outside): the pool gradient reads it inline.
    for (int form : {0, 1, 2}) {
      bool mask = form > 0;
      Graph g;
      Value r = g.addInput("r", {DType::F32, {3, 5, 6, w}});
      Value dp = g.addInput("dp", {DType::F32, {3, 5, 3, w / 2}});
      if (form == 2) {
        AttrMap drop;
        drop.set("rate", 0.25);
        drop.set("seed", int64_t{7});
        dp = g.build(OpKind::Dropout, {dp, g.addInput("key", {DType::I64, {}})}, drop);
      }
      AttrMap pool;
      pool.set("kernel", std::vector<int64_t>{2, 2});
      Value dr = g.build(OpKind::MaxPool2dGrad, {dp, r}, pool);
      if (mask) {
        Value zero = g.constant(0.0, TensorType{DType::F32, {}});
        AttrMap gt;
        gt.set("pred", std::string("gt"));
        dr = g.build(OpKind::Select, {g.build(OpKind::Cmp, {r, zero}, gt), dr, zero});
      }
      g.setOutputs({dr});
      fuseFor(g, form == 2 ? "cuda" : "cpu");
      if (mask) { // one region, the dropout gradient in it
        EXPECT_TRUE(g.nodes().size() == 1 && g.nodes()[0]->kind() == OpKind::Fused) << toText(g);
      }
      TensorMap env = randomEnvironment(g, 4);
      env["r"] = randomInts(r.type(), 9, -2, 3);
      EXPECT_TRUE(sameAsInterpreter(g, "cpu", 0.0, env)) << "rows " << w << " form " << form;
      EXPECT_TRUE(sameAsInterpreter(g, "cpu", 0.0, env, false, 1, 2, 32)) << "rows " << w << ", 32-byte vectors";
    }
  }
}

} // namespace
} // namespace kiln::test
