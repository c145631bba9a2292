// codegen/LowerGemm.h - packed, register-blocked GEMM kernels (BLIS structure).
//
// C[M,N] = op(A)[M,K] x op(B)[K,N] is computed as: for each block of columns
// (NC) and of depth (KC), pack B into NR-wide panels; for each block of rows
// (MC), pack A into MR-tall panels; an MR x NR micro-kernel keeps its C tile
// in vector registers across the KC loop. Packing reads operands through
// KernelBuilder::valueAt, so transposes, fused producers and the implicit
// im2col of convolutions (codegen/LowerConv.cpp) come for free; results are
// stored through storeResult, so fused epilogues apply on the hot tile.
#ifndef KILN_CODEGEN_LOWERGEMM_H
#define KILN_CODEGEN_LOWERGEMM_H

#include "codegen/LowerContext.h"

namespace kiln::lower {

/// A GEMM problem described by accessors: element (i, p) of A, (p, j) of B,
/// and the store of C(i, j). `batch` > 1 repeats the product for each batch
/// index (given to the accessors as `bi`), in parallel.
struct GemmSpec {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  DType dtype = DType::F32;
  std::function<Expr(const Expr &bi, const Expr &i, const Expr &p)> a;
  std::function<Expr(const Expr &bi, const Expr &p, const Expr &j)> b;
  std::function<Stmt(const Expr &bi, const Expr &i, const Expr &j, Expr value)> c;
  /// Run at the start of every parallel iteration (fills the local lookup
  /// tables the accessors read, so packing does no index division per element).
  std::vector<Stmt> setup;
  /// Local buffers that `setup` writes (allocated around the iteration).
  std::vector<int> locals;
  /// When set, one parallel iteration computes the whole product of one batch
  /// index (its blocks in turn), then runs finish(bi) (e.g. a col2im).
  std::function<Stmt(const Expr &bi)> finish;
  /// > 1 (batch 1, no finish): K is cut into this many equal parts computed
  /// in parallel, and c receives the part index as its first argument (each
  /// part stores a partial product; lowerSplitK adds them).
  int64_t kParts = 1;
  /// B(p, j) reads memory contiguous along p, not along j (a transposed
  /// operand): its panels are packed source row by source row, since reading
  /// them along j gathers from NR rows at once, whose lines (a power-of-two
  /// stride apart) compete for a few L1 sets.
  bool bAlongK = false;
  /// > 0: C's columns come in runs of this length (the input rows of a
  /// convolution over extended columns), of which the first runUsed (0: all)
  /// are results; the last run may be short. Blocks then hold whole runs, and
  /// the epilogue stores column run * runLength + q, q < runUsed, through
  /// cRun, which can address each run contiguously (c is not called).
  int64_t runLength = 0;
  int64_t runUsed = 0;
  std::function<Stmt(const Expr &bi, const Expr &i, const Expr &run, const Expr &q, Expr value)> cRun;
};

/// Builds the blocked GEMM kernel body for `spec` into kb (sets parallelism).
Stmt buildGemm(KernelBuilder &kb, const GemmSpec &spec, int vectorBytes);

/// Builds a GEMM's spec for a kernel (accessors and lookup tables belong to it).
using GemmSpecFn = std::function<GemmSpec(KernelBuilder &)>;
/// Stores C(i, j) = v in a kernel (through the result's epilogue).
using GemmStoreFn = std::function<Stmt(KernelBuilder &, const Expr &i, const Expr &j, Expr v)>;

/// The GEMM of `spec` with K split over the threads, when its output has too
/// few blocks to keep them busy and its K is long (filter gradients: a small
/// dw, K = N*OH*OW): kernel `name` computes the parts of K in parallel into a
/// scratch buffer [parts, M, N], kernel `name`_sum adds the parts and stores
/// each C(i, j) through `store`. Returns false, emitting nothing, when a
/// split does not pay; spec(kb) must then still describe the same product.
bool lowerSplitK(ProgramBuilder &pb, const std::string &name, const GemmSpecFn &spec, const GemmStoreFn &store);

/// Kernel `name`_sum: C(i, j) = the sum over p of scratch[p, i, j] (`parts`
/// partial products of an M x N result, added in part order), stored through
/// `store`.
void lowerPartsSum(ProgramBuilder &pb, const std::string &name, int scratch, int64_t parts, int64_t m, int64_t n,
                   DType t, const GemmStoreFn &store);

/// Lowers a matmul node with the blocked kernel; false when it does not apply
/// (the caller then uses simple loops).
bool lowerGemm(ProgramBuilder &pb, Node &n, const std::string &name);

} // namespace kiln::lower

#endif // KILN_CODEGEN_LOWERGEMM_H
