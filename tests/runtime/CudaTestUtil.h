// tests/runtime/CudaTestUtil.h - compile-only checks of CUDA code generation (no GPU needed).
//
// assemblesForSm90 lowers a graph for the CUDA backend, compiles the whole
// translation unit with NVRTC to PTX for compute_90, checks that the PTX has
// one .entry per kernel, each starting with kiln_pdl_enter() and holding a
// griddepcontrol.wait (programmatic dependent launch), and assembles it with `ptxas -arch=sm_90` (from
// $KILN_PTXAS, /usr/local/cuda/bin or PATH). Without ptxas it compiles to an
// sm_90 CUBIN through NVRTC instead, which runs the same assembler inside.
// Header-only; only for builds with the CUDA toolkit (KILN_WITH_CUDA).
#ifndef KILN_TESTS_RUNTIME_CUDATESTUTIL_H
#define KILN_TESTS_RUNTIME_CUDATESTUTIL_H

#include "codegen/cuda/CudaLower.h"
#include "ir/Graph.h"
#include "runtime/Backends.h"
#include "runtime/cuda/Nvrtc.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace kiln::test {

/// The ptxas to use, or "" when there is none.
inline std::string findPtxas() {
  if (const char *p = std::getenv("KILN_PTXAS"))
    return p;
  if (std::filesystem::exists("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return std::system("command -v ptxas > /dev/null 2>&1") == 0 ? "ptxas" : "";
}

/// Lowers `g` (after the cuda pipeline when `passes`), compiles and assembles it for sm_90.
inline ::testing::AssertionResult assemblesForSm90(const Graph &g, bool passes = false,
                                                   const cuda::CudaLowerOptions &lo = {}) {
  std::unique_ptr<Graph> copy;
  if (passes) {
    CompileOptions opt;
    opt.backend = "cuda";
    copy = prepareGraph(g, opt);
  } else {
    copy = g.clone();
  }
  cuda::CudaProgram p = cuda::lowerCuda(*copy, lo);
  // Every kernel may be a programmatic dependent launch: its first statement
  // waits for the kernel before it.
  for (const cuda::CudaKernel &k : p.kernels) {
    size_t at = k.source.find("__global__");
    size_t open = k.source.find("{\n", at);
    if (at == std::string::npos || open == std::string::npos ||
        k.source.compare(open + 2, 19, "  kiln_pdl_enter();") != 0)
      return ::testing::AssertionFailure() << k.name << " does not start with kiln_pdl_enter():\n" << k.source;
  }
  cuda::CudaTranslationUnit tu = cuda::makeTranslationUnit(p.kernels);
  std::string ptx = cuda::nvrtcCompile(tu, "compute_90", g.name()).ptx;
  for (const auto &[line, name] : tu.kernelLines) {
    size_t entry = ptx.find(".entry " + name + "(");
    if (entry == std::string::npos)
      return ::testing::AssertionFailure() << "the PTX has no entry " << name;
    size_t wait = ptx.find("griddepcontrol.wait", entry);
    if (wait == std::string::npos || wait > ptx.find(".entry ", entry + 1))
      return ::testing::AssertionFailure() << "the PTX of " << name << " has no griddepcontrol.wait";
  }
  std::string ptxas = findPtxas();
  if (ptxas.empty()) {
    cuda::nvrtcCompile(tu, "sm_90", g.name());
    return ::testing::AssertionSuccess() << "(no ptxas: NVRTC compiled an sm_90 cubin)";
  }
  TempDir dir;
  std::string file = dir.write("kernels.ptx", ptx), log = dir.file("ptxas.log");
  std::string cmd = "'" + ptxas + "' -arch=sm_90 '" + file + "' -o /dev/null > '" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return ::testing::AssertionFailure() << "ptxas rejected the PTX of " << g.name() << ":\n" << TempDir::read(log);
  return ::testing::AssertionSuccess() << p.kernels.size() << " kernels";
}

/// x rounded to TF32 (10 mantissa bits, to nearest, ties away from zero).
inline double roundToTf32(double x) {
  int e = 0;
  double m = std::frexp(x, &e); // x = m 2^e, 0.5 <= |m| < 1: 11 significant bits kept
  return std::ldexp(std::round(std::ldexp(m, 11)), e - 11);
}

/// The largest error of c (m x n) as the product of a (m x k, or k x m when
/// `ta`) and b (k x n, or n x k when `tb`), computed here in float64 from
/// inputs rounded to TF32 when `tf32`: |c - sum| / sum of |terms| over the
/// elements.
inline double worstProductError(const HostTensor &c, const HostTensor &a, const HostTensor &b, int64_t m, int64_t n,
                                int64_t k, bool ta, bool tb, bool tf32) {
  auto in = [tf32](double x) { return tf32 ? roundToTf32(x) : x; };
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = 0, scale = 0;
      for (int64_t q = 0; q < k; ++q) {
        double x = in(a.at(ta ? q * m + i : i * k + q)) * in(b.at(tb ? j * k + q : q * n + j));
        want += x;
        scale += std::fabs(x);
      }
      worst = std::max(worst, std::fabs(c.at(i * n + j) - want) / scale);
    }
  return worst;
}

} // namespace kiln::test

#endif // KILN_TESTS_RUNTIME_CUDATESTUTIL_H
