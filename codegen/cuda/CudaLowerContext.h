// codegen/cuda/CudaLowerContext.h - what the CUDA lowering patterns share (internal to codegen/cuda/).
#ifndef KILN_CODEGEN_CUDA_CUDALOWERCONTEXT_H
#define KILN_CODEGEN_CUDA_CUDALOWERCONTEXT_H

#include "codegen/LowerContext.h"
#include "codegen/cuda/CudaLower.h"

#include <functional>
#include <map>

namespace kiln::cuda {

using kir::Expr;
using kir::Stmt;
using lower::Index;
using lower::KernelBuilder;
using lower::ProgramBuilder;

/// The program being built and the hand-written CUDA of its special kernels.
struct CudaBuilder {
  CudaBuilder(CudaProgram &p, const LowerOptions &lo, const CudaLowerOptions &o)
      : out(p), pb(p.program, lo), opt(o) {}
  CudaProgram &out;
  ProgramBuilder pb;
  const CudaLowerOptions &opt;
  /// Kernel index -> its CUDA, for kernels not rendered generically.
  std::map<size_t, CudaKernel> special;
  /// A 2x2 max_pool2d that the convolution lowered next takes into its
  /// epilogue (set by the region walk, see fusablePool).
  Node *poolAfter = nullptr;

  /// Finishes kb as the next kernel whose CUDA is `ck` (name set here).
  void finishSpecial(KernelBuilder &kb, CudaKernel ck);
  /// Renders every kernel added since the last call.
  void renderPending();
  /// The symbol of kernel i.
  std::string symbol(size_t i) const;
  /// True when the arguments of kernel builder kb touch distinct storage.
  bool noAlias(const KernelBuilder &kb) const;
};

/// A GEMM C[M,N] = A[M,K] B[K,N] described by element accessors (they may
/// inline fused producers and compute im2col addresses) and the store of C.
struct GpuGemm {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::F32;
  bool aFastK = true;  ///< consecutive p are adjacent in A's memory (else consecutive i)
  bool bFastK = false; ///< consecutive p are adjacent in B's memory (else consecutive j)
  std::function<Expr(KernelBuilder &, const Expr &i, const Expr &p)> a;
  std::function<Expr(KernelBuilder &, const Expr &p, const Expr &j)> b;
  std::function<Stmt(KernelBuilder &, const Expr &i, const Expr &j, Expr v)> c;
  /// An operand that is a plain buffer (no fused producer): its element at
  /// index slow * ld + fast, where fast is the contiguous index (p for A when
  /// aFastK, else i; p for B when bFastK, else j) and slow the other. With
  /// buffer >= 0 an f32 operand is staged 4 elements at a time (float4 loads
  /// along the contiguous index) when the sizes allow it.
  struct Plain {
    int buffer = -1;
    int64_t ld = 0;
  };
  Plain aPlain, bPlain;
  /// A 2x2 max pooling in the epilogue (a convolution's), when positions > 0.
  /// Column j is then window element j % 4 of pooled position j / 4, and each
  /// thread holds the four elements of its windows: value gives the
  /// epilogue's value of an element (c is not used), keep stores it (the
  /// activation before pooling), pooled stores the window's maximum.
  struct Pool {
    int64_t positions = 0; ///< pooled outputs per row of C
    /// Of element w (0-3, row-major in the window) of pooled position q.
    std::function<Expr(KernelBuilder &, const Expr &i, const Expr &q, int w, Expr acc)> value;
    std::function<Stmt(KernelBuilder &, const Expr &i, const Expr &q, int w, Expr v)> keep;
    std::function<Stmt(KernelBuilder &, const Expr &i, const Expr &q, Expr v)> pooled;
  } pool;
};

/// Emits the tiled GEMM (and, with split K, its summing kernel).
void emitGemm(CudaBuilder &cb, const GpuGemm &g, const std::string &name);

void lowerCudaMatmul(CudaBuilder &cb, Node &n, const std::string &name);
void lowerCudaConv(CudaBuilder &cb, Node &n, const std::string &name);
void lowerCudaReduction(CudaBuilder &cb, Node &n, const std::string &name);
void lowerCudaPoolGrad(CudaBuilder &cb, Node &n, const std::string &name);
void lowerCudaCrossEntropy(CudaBuilder &cb, Node &n, const std::string &name);

} // namespace kiln::cuda

#endif // KILN_CODEGEN_CUDA_CUDALOWERCONTEXT_H
