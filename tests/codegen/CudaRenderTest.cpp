// tests/codegen/CudaRenderTest.cpp - the CUDA renderer and lowering, checked on their text and launch shapes.
//
// Expected numbers are worked out by hand from the kernel designs in
// codegen/cuda/ (64x64 GEMM tiles, 8 warps per reduction block, 256-thread
// generic blocks); compiling and assembling is tested in tests/runtime/.
#include "codegen/cuda/CudaRender.h"
#include "codegen/cuda/CudaLower.h"
#include "ir/Graph.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

namespace kiln::test {
namespace {

using cuda::CudaKernel;


TEST(CudaRender, LiteralsAreExact) {
  EXPECT_EQ(cuda::cudaLiteral(1.5, DType::F32), "(0x1.8p+0f)");
  EXPECT_EQ(cuda::cudaLiteral(0.1, DType::F32), "(0x1.99999ap-4f)"); // 0.1f, not 0.1
  EXPECT_EQ(cuda::cudaLiteral(-INFINITY, DType::F32), "__int_as_float(0xff800000)");
  EXPECT_EQ(cuda::cudaLiteral(0.25, DType::F64), "(0x1p-2)");
  EXPECT_EQ(cuda::cudaLiteral(-3, DType::I32), "(-3)");
  EXPECT_EQ(cuda::cudaLiteral(static_cast<double>(std::numeric_limits<int64_t>::min()), DType::I64),
            "(-9223372036854775807LL - 1)");
  EXPECT_EQ(cuda::cudaLiteral(1, DType::Bool), "true");
}

TEST(CudaLower, ElementwiseIsOneThreadPerElement) {
  Graph g;
  Value x = g.addInput("x", f32({4, 5}));
  g.setOutputs({g.build(OpKind::Relu, {x})});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  ASSERT_EQ(p.kernels.size(), 1u);
  const CudaKernel &k = p.kernels[0];
  EXPECT_EQ(k.kind, "generic");
  EXPECT_EQ(k.grid[0], 1);
  EXPECT_EQ(k.block[0], 256);
  EXPECT_NE(k.source.find("const int gid = (int)block * 256 + threadIdx.x;"), std::string::npos) << k.source;
  EXPECT_NE(k.source.find("if (gid >= 20) return;"), std::string::npos) << k.source;
  EXPECT_NE(k.source.find("kiln_max<float>"), std::string::npos) << k.source; // relu = max(x, 0)
  EXPECT_NE(k.source.find("const float *__restrict__ p"), std::string::npos) << k.source;
  // 2^30 threads: the index is 64-bit.
  Graph big;
  big.setOutputs({big.build(OpKind::Relu, {big.addInput("x", f32({int64_t{1} << 15, int64_t{1} << 15}))})});
  p = cuda::lowerCuda(big);
  ASSERT_EQ(p.kernels.size(), 1u);
  EXPECT_NE(p.kernels[0].source.find("const long long gid = (long long)block * 256 + threadIdx.x;"),
            std::string::npos)
      << p.kernels[0].source;
}

// A generic kernel's nest spreads over threads, one per iteration, unless a
// buffer it reads and writes could carry a value from one iteration to
// another; then only the outer loop does, and each thread runs the inner one.
// Hand-built nests over 24 x 40: rows only is 1 block, every element 4.
TEST(CudaRender, ReadWrittenBuffersSpreadOnlyDisjointIterations) {
  using namespace kir;
  auto render = [](const std::function<Expr(Expr, Expr)> &readWritten, const std::function<Expr(Expr, Expr)> &read,
                   int64_t size) {
    Kernel k;
    k.name = "update";
    int a = k.addParam("a", DType::F32, size, false);
    int x = k.addParam("x", DType::F32, 24 * 40, true);
    Expr i = var("i"), j = var("j");
    Stmt s = store(a, readWritten(i, j),
                   add(load(a, DType::F32, read(i, j)), load(x, DType::F32, add(mul(i, intImm(40)), j))));
    k.body = forLoop(i, 24, ForKind::Parallel, forLoop(j, 40, ForKind::Serial, s));
    return cuda::renderGenericKernel(k, "update", true);
  };
  auto rowMajor = [](Expr i, Expr j) { return add(mul(i, intImm(40)), j); };
  auto columnMajor = [](Expr i, Expr j) { return add(mul(j, intImm(24)), i); };
  // a[i][j] += x[i][j], and the same on a transposed a: disjoint elements.
  for (auto index : {std::function<Expr(Expr, Expr)>(rowMajor), std::function<Expr(Expr, Expr)>(columnMajor)}) {
    CudaKernel k = render(index, index, 24 * 40);
    EXPECT_EQ(k.grid[0], 4) << k.source;
    EXPECT_EQ(k.source.find("for ("), std::string::npos) << k.source;
  }
  std::vector<std::pair<std::string, CudaKernel>> serial{
      // a[i] += x[i][j]: a row sum accumulated in place.
      {"row sum", render([](Expr i, Expr) { return i; }, [](Expr i, Expr) { return i; }, 24)},
      // a[i][j] = a[i][j + 1] + x[i][j]: each iteration reads what the next one writes.
      {"shifted read", render(
                           rowMajor, [&](Expr i, Expr j) { return add(rowMajor(i, j), intImm(1)); }, 24 * 40 + 1)},
      // a[i + j] += x[i][j]: windows that overlap.
      {"overlap", render([](Expr i, Expr j) { return add(i, j); }, [](Expr i, Expr j) { return add(i, j); }, 63)},
      // a[40 i + 2 j]: the column's span, 78, passes the row's coefficient.
      {"wide columns", render([](Expr i, Expr j) { return add(mul(i, intImm(40)), mul(j, intImm(2))); },
                              [](Expr i, Expr j) { return add(mul(i, intImm(40)), mul(j, intImm(2))); }, 24 * 40 + 40)},
  };
  for (const auto &[what, k] : serial) {
    EXPECT_EQ(k.grid[0], 1) << what << "\n" << k.source;
    EXPECT_NE(k.source.find("for ("), std::string::npos) << what << "\n" << k.source;
  }
}

TEST(CudaLower, ConvIsOneImplicitGemmOverAllImages) {
  Graph g;
  Value x = g.addInput("x", f32({128, 1, 28, 28}));
  Value w = g.addInput("w", f32({32, 1, 5, 5}));
  g.setOutputs({g.build(OpKind::Conv2d, {x, w})});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  ASSERT_EQ(p.kernels.size(), 1u);
  // M = 32 filters, N = 128 * 24 * 24 = 73728 columns: 576 x 1 tiles of 32x128.
  EXPECT_EQ(p.kernels[0].kind, "gemm");
  EXPECT_EQ(p.kernels[0].grid[0], 576);
  EXPECT_EQ(p.kernels[0].grid[1], 1);
  EXPECT_EQ(p.kernels[0].grid[2], 1);
}

// A GEMM's staging computes its coordinates in 32 bits when M, N and K stay
// under 2^30, and its index arithmetic where the values fit (a convolution's
// divisions and remainders by constants then cost a GPU a few instructions
// each, not dozens); in 64 bits otherwise.
TEST(CudaLower, GemmStagingIndexesIn32BitsWhereTheyFit) {
  auto staging = [](const std::string &src) { // from the registers' declaration to the K loop
    size_t from = src.find(" ra[4];"), to = src.find(" k0 = kbeg;");
    return from == std::string::npos || to == std::string::npos ? std::string() : src.substr(from, to - from);
  };
  Graph conv;
  conv.setOutputs({conv.build(OpKind::Conv2d, {conv.addInput("x", f32({128, 32, 12, 12})),
                                               conv.addInput("w", f32({64, 32, 3, 3}))})});
  cuda::CudaProgram p = cuda::lowerCuda(conv);
  ASSERT_EQ(p.kernels.size(), 1u);
  std::string s = staging(p.kernels[0].source);
  ASSERT_FALSE(s.empty()) << p.kernels[0].source;
  EXPECT_NE(s.find("const int v_p = kl + "), std::string::npos) << s;
  EXPECT_NE(s.find("kiln_div<int>("), std::string::npos) << s;
  EXPECT_EQ(s.find("kiln_div<long long>"), std::string::npos) << s;
  EXPECT_EQ(s.find("kiln_mod<long long>"), std::string::npos) << s;
  EXPECT_NE(p.kernels[0].source.find("for (int k0 = kbeg; k0 < kend; k0 += 16)"), std::string::npos);

  // A has 2.4e9 elements: its flat index i * 60001 + p may pass 2^31, so that
  // product stays 64-bit while the coordinates are 32-bit ints.
  Graph big;
  Value a = big.addInput("a", f32({40000, 60001})), b = big.addInput("b", f32({60001, 8}));
  big.setOutputs({big.build(OpKind::Matmul, {a, b})});
  p = cuda::lowerCuda(big);
  ASSERT_FALSE(p.kernels.empty());
  s = staging(p.kernels[0].source);
  EXPECT_NE(s.find("const int v_i = row0 + rr, v_p = kl + cc;"), std::string::npos) << s;
  EXPECT_NE(s.find("(((long long)v_i) * (60001LL))"), std::string::npos) << s;
  // M = 2^30: the coordinates themselves are 64-bit.
  Graph tall;
  tall.setOutputs({tall.build(OpKind::Matmul, {tall.addInput("a", f32({int64_t{1} << 30, 4})),
                                                tall.addInput("b", f32({4, 4}))})});
  p = cuda::lowerCuda(tall);
  ASSERT_FALSE(p.kernels.empty());
  EXPECT_NE(p.kernels[0].source.find("const long long row0 = (long long)(tile / 1u) * 64"), std::string::npos)
      << p.kernels[0].source;
  EXPECT_NE(p.kernels[0].source.find("for (long long k0 = kbeg; k0 < kend; k0 += 16)"), std::string::npos);
}

TEST(CudaLower, LongKWithFewTilesSplitsK) {
  Graph g;
  Value a = g.addInput("a", f32({20, 3000}));
  Value b = g.addInput("b", f32({3000, 30}));
  g.setOutputs({g.build(OpKind::Matmul, {a, b})});
  cuda::CudaProgram p = cuda::lowerCuda(g, {/*smCount=*/132});
  // One tile; 264 blocks wanted but at most K/256 = 11 slices: chunk ceil(3000/11) = 273,
  // rounded to 288 (a multiple of 16), so 11 slices (a block each); then one summing kernel:
  // a block per 32 elements of C (600: 19 blocks), warp w summing slices w and w + 8.
  ASSERT_EQ(p.kernels.size(), 2u);
  EXPECT_EQ(p.kernels[0].kind, "gemm_splitk");
  EXPECT_EQ(p.kernels[0].grid[0], 11);
  EXPECT_EQ(p.kernels[1].kind, "splitk_sum");
  EXPECT_EQ(p.kernels[1].grid[0], 19);
  EXPECT_EQ(p.kernels[1].block[0], 256);
  const std::string &sum = p.kernels[1].source;
  EXPECT_NE(sum.find("for (int q = w + 8; q < 11; q += 8) acc = acc + slices[q * 600];"), std::string::npos) << sum;
  EXPECT_NE(sum.find("for (int p = 1; p < 8; ++p) sum = sum + kiln_parts[p][lane];"), std::string::npos) << sum;
  bool partial = false;
  for (const ProgramBuffer &buf : p.program.buffers)
    partial |= buf.type == TensorType{DType::F32, {11, 20, 30}};
  EXPECT_TRUE(partial);
}

TEST(CudaLower, ReductionIsOneWarpPerOutput) {
  Graph g;
  Value x = g.addInput("x", f32({128, 512}));
  AttrMap at;
  at.set("axes", std::vector<int64_t>{0});
  g.setOutputs({g.build(OpKind::ReduceSum, {x}, at)});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  ASSERT_EQ(p.kernels.size(), 1u);
  EXPECT_EQ(p.kernels[0].kind, "reduce");
  EXPECT_EQ(p.kernels[0].grid[0], 64); // 512 outputs, 8 warps per block
  EXPECT_NE(p.kernels[0].source.find("kiln_shfl_xor(acc, off)"), std::string::npos);
}

// A convolution's bias gradient: 32 sums of 128 * 24 * 24 = 73,728 values.
// A warp each would leave most of the GPU idle, so each output takes a
// block, whose 8 warps' results thread 0 adds in order; with fewer outputs
// than SMs, several blocks: 132 / 32 = 4 chunks of 18,432 values each. The
// block that counts its chunk last adds the 4 partials in order and leaves
// the output's counter (a workspace buffer) at 0.
TEST(CudaLower, FewLongReductionsTakeABlockEach) {
  Graph g;
  Value x = g.addInput("x", f32({128, 32, 24, 24}));
  AttrMap at;
  at.set("axes", std::vector<int64_t>{0, 2, 3});
  g.setOutputs({g.build(OpKind::ReduceSum, {x}, at)});
  cuda::CudaProgram p = cuda::lowerCuda(g, {/*smCount=*/132});
  ASSERT_EQ(p.kernels.size(), 1u);
  const CudaKernel &k = p.kernels[0];
  EXPECT_EQ(k.kind, "reduce");
  EXPECT_EQ(k.grid[0], 32 * 4);
  EXPECT_NE(k.source.find("for (int v_r = chunk * 18432 + threadIdx.x; v_r < end; v_r += 256)"), std::string::npos)
      << k.source;
  EXPECT_NE(k.source.find("for (int w = 1; w < 8; ++w) acc = acc + warpAcc[w];"), std::string::npos) << k.source;
  EXPECT_NE(k.source.find("for (int c = 1; c < 4; ++c) acc = acc + parts[c];"), std::string::npos) << k.source;
  int counters = lastWorkspaceBuffer(p.program);
  ASSERT_GE(counters, 0) << printProgram(p.program);
  EXPECT_EQ(p.program.buffers[counters].type, (TensorType{DType::I32, {32}}));

  // With as many outputs as SMs, or values too few for two chunks of 4,096,
  // a block per output.
  for (Shape s : {Shape{128, 132, 24, 24}, Shape{2, 32, 60, 60}}) {
    Graph h;
    h.setOutputs({h.build(OpKind::ReduceSum, {h.addInput("x", f32(s))}, at)});
    cuda::CudaProgram q = cuda::lowerCuda(h, {/*smCount=*/132});
    ASSERT_EQ(q.kernels.size(), 1u);
    EXPECT_EQ(q.kernels[0].grid[0], s[1]);
    EXPECT_EQ(q.kernels[0].source.find("atomicAdd"), std::string::npos);
  }
}

TEST(CudaLower, DropoutUsesTheSharedGenerator) {
  Graph g;
  Value x = g.addInput("x", f32({8, 100}));
  Value key = g.addInput("key", {DType::I64, {}});
  AttrMap at;
  at.set("rate", 0.5);
  at.set("seed", int64_t{7});
  g.setOutputs({g.build(OpKind::Dropout, {x, key}, at)});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  ASSERT_EQ(p.kernels.size(), 1u);
  EXPECT_NE(p.kernels[0].source.find("kiln_random(7ULL"), std::string::npos) << p.kernels[0].source;
  EXPECT_NE(cuda::cudaPrelude().find("0x9e3779b97f4a7c15ULL"), std::string::npos);
}

} // namespace
} // namespace kiln::test
