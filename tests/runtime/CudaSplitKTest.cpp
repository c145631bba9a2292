// tests/runtime/CudaSplitKTest.cpp - work split over blocks and summed by the last one; f64 GEMMs.
//
// A GEMM of few tiles and a long K is split along K; split at most 8 ways,
// the block of a tile that stores its slice last (a counter per tile, in a
// workspace buffer that persists between steps) sums the slices and stores
// the result, so no second kernel is launched. The counters must be left at
// 0 for the next step: three steps on new inputs each must all agree with the
// product computed here in float64 (of the TF32-rounded inputs on tensor cores).
// A reduction of fewer outputs than SMs splits each output's values into
// chunks the same way.
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "runtime/cuda/CudaCompile.h"
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace kiln::test {
namespace {

TEST(CudaMatmul, FewSplitsAreSummedByEachTilesLastBlock) {
#if KILN_WITH_CUDA
  const int64_t m = 70, n = 72, k = 2048;
  Graph g("splitk");
  Value a = g.addInput("a", f32({m, k})), b = g.addInput("b", f32({k, n}));
  g.setOutputs({g.build(OpKind::Matmul, {a, b})});
  // 2 x 2 tiles want 264 / 4 = 66 slices for 132 SMs, at most K / 256 = 8.
  cuda::CudaProgram p = cuda::lowerCuda(g, {/*smCount=*/132});
  ASSERT_EQ(p.kernels.size(), 1u) << "no kernel of its own for the sums";
  EXPECT_EQ(p.kernels[0].kind, "gemm_splitk");
  EXPECT_EQ(p.kernels[0].grid[0], 4 * 8);
  EXPECT_NE(p.kernels[0].source.find("atomicAdd("), std::string::npos);
  int counters = lastWorkspaceBuffer(p.program);
  ASSERT_GE(counters, 0) << printProgram(p.program);
  EXPECT_EQ(p.program.buffers[counters].type, (TensorType{DType::I32, {4}}));
  // The counters keep their bytes for the whole step and between steps.
  ArenaPlan plan = cuda::planCudaArena(p);
  size_t lo = plan.offset[counters], hi = lo + 4 * sizeof(int32_t);
  for (size_t i = 0; i < p.program.buffers.size(); ++i) {
    if (static_cast<int>(i) == counters || p.program.buffers[i].aliasOf >= 0)
      continue;
    size_t from = plan.offset[i], to = from + p.program.buffers[i].type.byteSize();
    EXPECT_TRUE(to <= lo || hi <= from) << p.program.buffers[i].name << " shares the counters' bytes";
  }
  // On tensor cores (TF32) the slices are summed the same way.
  cuda::CudaLowerOptions tf32;
  tf32.tf32 = true;
  EXPECT_EQ(cuda::lowerCuda(g, tf32).kernels.size(), 1u);
  EXPECT_TRUE(assemblesForSm90(g));
  EXPECT_TRUE(assemblesForSm90(g, false, tf32));
  if (!hasCudaBackend())
    return;
  for (bool tensorCores : {false, true}) {
    CompileOptions opt;
    opt.backend = "cuda";
    opt.runPasses = false;
    opt.tf32 = tensorCores;
    auto exe = compile(g, opt);
    for (uint32_t step = 0; step < 3; ++step) {
      HostTensor av = randomTensor(a.type(), 20 + step), bv = randomTensor(b.type(), 40 + step);
      exe->set("a", av);
      exe->set("b", bv);
      exe->run();
      double worst = worstProductError(exe->output(0), av, bv, m, n, k, false, false, tensorCores);
      EXPECT_LT(worst, 1e-6) << "step " << step << ", tf32 " << tensorCores;
    }
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// Five sums, means and maxima over 12,800 values each (a bias gradient's
// shape): 3 chunks per output (at least 4,096 values each, the last one
// shorter), whose last block adds the partials. Three steps on new inputs
// must each agree with the sums computed here in float64, so the counters
// are back at 0 after every step.
TEST(CudaReduce, ChunksOfFewLongReductionsAreAddedEveryStep) {
#if KILN_WITH_CUDA
  Graph g("chunks");
  Value x = g.addInput("x", f32({8, 5, 40, 40}));
  AttrMap at;
  at.set("axes", std::vector<int64_t>{0, 2, 3});
  g.setOutputs(
      {g.build(OpKind::ReduceSum, {x}, at), g.build(OpKind::ReduceMean, {x}, at), g.build(OpKind::ReduceMax, {x}, at)});
  cuda::CudaProgram p = cuda::lowerCuda(g, {/*smCount=*/132});
  int reductions = 0;
  for (const cuda::CudaKernel &k : p.kernels) {
    if (k.kind != "reduce")
      continue;
    ++reductions;
    EXPECT_EQ(k.grid[0], 5 * 3) << k.name;
    EXPECT_NE(k.source.find("for (int c = 1; c < 3; ++c)"), std::string::npos) << k.source;
  }
  EXPECT_EQ(reductions, 3) << printProgram(p.program);
  EXPECT_TRUE(assemblesForSm90(g));
  if (!hasCudaBackend())
    return;
  CompileOptions opt;
  opt.backend = "cuda";
  opt.runPasses = false;
  auto exe = compile(g, opt);
  for (uint32_t step = 0; step < 3; ++step) {
    HostTensor xv = randomTensor(x.type(), 60 + step, step == 1 ? -3.0 : -1.0, 1.0);
    exe->set("x", xv);
    exe->run();
    for (int64_t c = 0; c < 5; ++c) {
      double sum = 0, l1 = 0, mx = -INFINITY;
      for (int64_t n = 0; n < 8; ++n)
        for (int64_t i = 0; i < 1600; ++i) {
          double v = xv.at((n * 5 + c) * 1600 + i);
          sum += v;
          l1 += std::abs(v);
          mx = std::max(mx, v);
        }
      // float32 sums of 12,800 terms: within 1e-6 of the terms' magnitudes.
      EXPECT_NEAR(exe->output(0).at(c), sum, 1e-6 * l1) << "step " << step << ", sum " << c;
      EXPECT_NEAR(exe->output(1).at(c), sum / 12800, 1e-6 * l1 / 12800) << "step " << step << ", mean " << c;
      EXPECT_EQ(exe->output(2).at(c), mx) << "step " << step << ", max " << c;
    }
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// An f64 GEMM reads its operands from shared memory element by element (the
// 16-byte loads are for f32), in every tile shape; results are the
// interpreter's.
TEST(CudaMatmul, DoublesTakeElementLoads) {
#if KILN_WITH_CUDA
  for (auto [m, n] : {std::pair<int64_t, int64_t>{70, 72}, {20, 36}, {20, 100}}) {
    Graph g("f64");
    Value a = g.addInput("a", TensorType{DType::F64, {m, 40}}), b = g.addInput("b", TensorType{DType::F64, {40, n}});
    g.setOutputs({g.build(OpKind::Matmul, {a, b})});
    cuda::CudaProgram p = cuda::lowerCuda(g);
    ASSERT_EQ(p.kernels.size(), 1u);
    EXPECT_EQ(p.kernels[0].source.find("float4 av"), std::string::npos);
    EXPECT_NE(p.kernels[0].source.find("a[u] = sa[kk][4 * ty + u]"), std::string::npos);
    EXPECT_TRUE(assemblesForSm90(g)) << m << "x" << n;
    if (hasCudaBackend()) {
      EXPECT_TRUE(sameAsInterpreter(g, "cuda", 1e-12)) << m << "x" << n;
    }
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

} // namespace
} // namespace kiln::test
