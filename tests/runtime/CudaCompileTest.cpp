// tests/runtime/CudaCompileTest.cpp - NVRTC errors, the CUBIN cache, dumps, and the no-GPU message.
#include "ir/Error.h"
#include "runtime/Backends.h"
#include "tests/support/TempDir.h"

#if KILN_WITH_CUDA
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/Nvrtc.h"
#endif

#include <gtest/gtest.h>

#include <filesystem>

namespace kiln::test {
namespace {

#if KILN_WITH_CUDA

cuda::CudaKernel kernel(const std::string &name, const std::string &body) {
  cuda::CudaKernel k;
  k.name = name;
  k.source = "extern \"C\" __global__ void " + name + "(float *p0) {\n" + body + "}\n";
  return k;
}

TEST(CudaNvrtc, ErrorNamesTheKernelAndShowsTheLine) {
  cuda::CudaTranslationUnit tu =
      cuda::makeTranslationUnit({kernel("k0_fine", "  p0[0] = 1.0f;\n"), kernel("k1_broken", "  p0[0] = undefined_x;\n")});
  try {
    cuda::nvrtcCompile(tu, "compute_90", "unit");
    ADD_FAILURE() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("nvrtc: cannot compile kernel k1_broken of unit for compute_90"), std::string::npos) << m;
    EXPECT_NE(m.find("undefined_x"), std::string::npos) << m;           // the compiler log
    EXPECT_NE(m.find(" |   p0[0] = undefined_x;"), std::string::npos) << m; // the generated line
    EXPECT_NE(m.find("in kernel k1_broken, generated line"), std::string::npos) << m;
  }
}

TEST(CudaNvrtc, PtxAndCubin) {
  cuda::CudaTranslationUnit tu = cuda::makeTranslationUnit({kernel("k0_one", "  p0[threadIdx.x] = 1.0f;\n")});
  std::string ptx = cuda::nvrtcCompile(tu, "compute_90", "unit").ptx;
  EXPECT_NE(ptx.find(".target sm_90"), std::string::npos);
  EXPECT_NE(ptx.find(".entry k0_one("), std::string::npos);
  std::vector<char> cubin = cuda::nvrtcCompile(tu, "sm_90", "unit").cubin;
  ASSERT_GE(cubin.size(), 4u);
  EXPECT_EQ(std::string(cubin.data() + 1, 3), "ELF");
  EXPECT_THROW(cuda::nvrtcCompile(tu, "gfx90a", "unit"), UserError);
}

TEST(CudaNvrtc, ArchitectureNames) {
  EXPECT_EQ(cuda::archNumber("sm_90"), 90);
  EXPECT_EQ(cuda::archNumber("sm_90a"), 90);
  EXPECT_EQ(cuda::archNumber("compute_100"), 100);
  EXPECT_EQ(cuda::archNumber("sm_100f"), 100);
  EXPECT_EQ(cuda::virtualArch("sm_90a"), "compute_90a");
  EXPECT_EQ(cuda::virtualArch("compute_80"), "compute_80");
  for (const char *bad : {"", "sm_", "sm90", "sm_9x", "sm_90A", "sm_90ab", "compute_", "sm_123456789012", "gfx90a"})
    EXPECT_THROW(cuda::virtualArch(bad), UserError) << bad;
}

// kiln_pdl_enter (the prelude) is griddepcontrol on sm_90 and later, and
// nothing before: the same source compiles for an sm_80 GPU.
TEST(CudaNvrtc, GridDependencyControlOnlyFromSm90) {
  cuda::CudaTranslationUnit tu = cuda::makeTranslationUnit({kernel("k0_pdl", "  kiln_pdl_enter();\n  p0[0] = 1.0f;\n")});
  std::string hopper = cuda::nvrtcCompile(tu, "compute_90", "unit").ptx;
  EXPECT_NE(hopper.find("griddepcontrol.launch_dependents"), std::string::npos) << hopper;
  EXPECT_NE(hopper.find("griddepcontrol.wait"), std::string::npos) << hopper;
  std::string ampere = cuda::nvrtcCompile(tu, "compute_80", "unit").ptx;
  EXPECT_EQ(ampere.find("griddepcontrol"), std::string::npos) << ampere;
  EXPECT_NE(ampere.find(".entry k0_pdl("), std::string::npos);
}

/// compileModule twice: the first compiles, the second comes from `cache` with
/// the same bytes. Returns the module.
std::vector<char> compiledThenCached(const cuda::CudaTranslationUnit &tu, const std::string &arch,
                                     const KernelCache &cache) {
  bool hit = true;
  std::vector<char> a = cuda::compileModule(tu, arch, "unit", cache, &hit);
  EXPECT_FALSE(hit) << arch;
  std::vector<char> b = cuda::compileModule(tu, arch, "unit", cache, &hit);
  EXPECT_TRUE(hit) << arch;
  EXPECT_EQ(a, b) << arch;
  return a;
}

TEST(CudaNvrtc, SecondCompileComesFromTheDiskCache) {
  TempDir dir;
  KernelCache cache(dir.path().string());
  compiledThenCached(cuda::makeTranslationUnit({kernel("k0_two", "  p0[0] = 2.0f;\n")}), "sm_90", cache);
}

// A virtual architecture's module is its PTX text, NUL-terminated as
// cuModuleLoadData wants it, cached like a CUBIN.
TEST(CudaNvrtc, VirtualArchitectureModuleIsPtx) {
  TempDir dir;
  KernelCache cache(dir.path().string());
  cuda::CudaTranslationUnit tu = cuda::makeTranslationUnit({kernel("k0_three", "  p0[0] = 3.0f;\n")});
  std::vector<char> a = compiledThenCached(tu, "compute_90", cache);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.back(), '\0');
  std::string text(a.data());
  EXPECT_EQ(text.size() + 1, a.size()) << "one NUL, at the end";
  EXPECT_NE(text.find(".target sm_90"), std::string::npos) << text;
  EXPECT_NE(text.find(".entry k0_three("), std::string::npos) << text;
  std::vector<char> cubin = compiledThenCached(tu, "sm_90", cache); // cached apart from the PTX
  ASSERT_GE(cubin.size(), 4u);
  EXPECT_EQ(std::string(cubin.data() + 1, 3), "ELF");
  EXPECT_TRUE(cuda::isVirtualArch("compute_90"));
  EXPECT_FALSE(cuda::isVirtualArch("sm_90a"));
  EXPECT_THROW(cuda::isVirtualArch("compute90"), UserError);
}

TEST(CudaCompileOnly, DumpWritesSourcePtxAndKernelIrOfEveryKernel) {
  Graph g("mlp");
  Value x = g.addInput("x", {DType::F32, {8, 20}});
  Value w = g.addParam("w", {DType::F32, {20, 12}});
  Value y = g.build(OpKind::Relu, {g.build(OpKind::Matmul, {x, w})});
  g.setOutputs({g.build(OpKind::ReduceSum, {y})});
  TempDir dir;
  CompileOptions opt;
  opt.backend = "cuda";
  opt.compileOnly = true;
  opt.cudaArch = "sm_80";
  opt.dumpDir = dir.path().string();
  std::unique_ptr<Executable> exe = compile(g, opt);
  EXPECT_EQ(exe->backend(), "cuda");
  EXPECT_THROW(exe->get("w"), RuntimeError); // compiled only: nothing to read
  int kernels = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().extension() == ".cu" && e.path().filename() != "program.cu") {
      ++kernels;
      auto stem = dir.path() / e.path().stem();
      EXPECT_TRUE(std::filesystem::exists(stem.string() + ".ptx")) << stem;
      EXPECT_TRUE(std::filesystem::exists(stem.string() + ".kir")) << stem;
      EXPECT_NE(TempDir::read(stem.string() + ".ptx").find(".target sm_80"), std::string::npos) << stem;
    }
  EXPECT_GE(kernels, 2); // the GEMM with its relu epilogue, the reduction
  EXPECT_TRUE(std::filesystem::exists(dir.file("program.txt")));
}

#endif

TEST(CudaDevice, WithoutAGpuCompileFailsWithOneSentence) {
  if (hasCudaBackend())
    GTEST_SKIP() << "a GPU is present: nothing to check";
  Graph g;
  g.setOutputs({g.build(OpKind::Neg, {g.addInput("x", {DType::F32, {2}})})});
  CompileOptions opt;
  opt.backend = "cuda";
  try {
    compile(g, opt);
    ADD_FAILURE() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("backend 'cuda' is not available: ", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

} // namespace
} // namespace kiln::test
