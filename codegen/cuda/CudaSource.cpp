// codegen/cuda/CudaSource.cpp - the shared prelude and the program's translation unit.
#include "codegen/cuda/CudaSource.h"

#include <algorithm>
#include <set>

namespace kiln::cuda {

const std::string &cudaPrelude() {
  // No #include: NVRTC compiles this without the toolkit's headers. The RNG
  // is ir/Formula.h's kilnRandomUniform, bit for bit.
  static const std::string text = R"(// kiln CUDA prelude
typedef unsigned long long kiln_u64;
__device__ __forceinline__ kiln_u64 kiln_mix64(kiln_u64 z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float kiln_random(kiln_u64 seed, kiln_u64 key, kiln_u64 index) {
  kiln_u64 z = kiln_mix64(seed * 0x9e3779b97f4a7c15ULL + key);
  z = kiln_mix64(z + index * 0x9e3779b97f4a7c15ULL);
  return (float)(z >> 40) * (1.0f / 16777216.0f);
}
template <class T> __device__ __forceinline__ T kiln_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <class T> __device__ __forceinline__ T kiln_min(T a, T b) { return (a < b || a != a) ? a : b; }
template <class T> __device__ __forceinline__ T kiln_div(T a, T b) { return b == 0 ? T(0) : T(a / b); }
template <class T> __device__ __forceinline__ T kiln_mod(T a, T b) { return b == 0 ? T(0) : T(a % b); }
__device__ __forceinline__ float kiln_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double kiln_shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ int kiln_shfl_xor(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ long long kiln_shfl_xor(long long v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ unsigned char kiln_shfl_xor(unsigned char v, int m) {
  return (unsigned char)__shfl_xor_sync(0xffffffffu, (int)v, m);
}
__device__ __forceinline__ bool kiln_shfl_xor(bool v, int m) { return __shfl_xor_sync(0xffffffffu, (int)v, m) != 0; }
// Programmatic dependent launch (sm_90+): every kernel starts with this. It
// lets the next kernel in the stream be scheduled now (its blocks then wait in
// their own kiln_pdl_enter), and waits until the kernels this one depends on
// have completed and their writes are visible, before it reads anything. On
// older GPUs, and without a programmatic launch, the wait returns at once.
__device__ __forceinline__ void kiln_pdl_enter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  asm volatile("griddepcontrol.wait;" ::: "memory");
#elif defined(KILN_EMULATOR_GRID_WAIT)
  KILN_EMULATOR_GRID_WAIT();
#endif
}
#ifdef __CUDA_ARCH__
// TF32 tensor cores (sm_80+): x rounded to TF32 (nearest, ties away), and
// d += a b for a warp's 16x8x8 tile (A row-major 16x8, B column-major 8x8).
__device__ __forceinline__ unsigned kiln_tf32(float x) {
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void kiln_mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
)";
  return text;
}

const std::vector<CudaKernel> &rowGatherKernels() {
  static const std::vector<CudaKernel> kernels = [] {
    std::vector<CudaKernel> ks;
    for (auto [suffix, type] : {std::pair{"u32", "unsigned"}, std::pair{"u8", "unsigned char"}}) {
      CudaKernel k;
      k.name = std::string("kiln_gather_rows_") + suffix;
      k.kind = "gather";
      k.block[0] = 256;
      const std::string T = type;
      k.source = "extern \"C\" __global__ void __launch_bounds__(256) " + k.name + "(const " + T +
                 " *__restrict__ table, const long long *__restrict__ rows, " + T +
                 " *__restrict__ out, long long count, long long total, long long width) {\n"
                 "  const long long i = (long long)blockIdx.x * 256 + threadIdx.x;\n"
                 "  if (i >= total) return;\n"
                 "  const long long r = i / width;\n"
                 "  out[i] = r < count ? table[rows[r] * width + (i - r * width)] : (" +
                 T + ")0;\n}\n";
      ks.push_back(std::move(k));
    }
    return ks;
  }();
  return kernels;
}

std::string CudaTranslationUnit::kernelAt(int line) const {
  std::string name = "prelude";
  for (const auto &[first, kernel] : kernelLines)
    if (first <= line)
      name = kernel;
  return name;
}

CudaTranslationUnit makeTranslationUnit(const std::vector<CudaKernel> &kernels) {
  CudaTranslationUnit tu;
  tu.text = cudaPrelude();
  std::set<std::string> seen;
  for (const CudaKernel &k : kernels) {
    if (!seen.insert(k.name).second)
      continue;
    tu.text += "\n";
    int line = 1 + static_cast<int>(std::count(tu.text.begin(), tu.text.end(), '\n'));
    tu.kernelLines.push_back({line, k.name});
    tu.text += k.source;
  }
  return tu;
}

} // namespace kiln::cuda
