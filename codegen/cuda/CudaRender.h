// codegen/cuda/CudaRender.h - kernel IR as CUDA C++: expressions, statements, generic kernels.
//
// The renderer implements only the kernel IR's primitives (which in turn are
// the ScalarOp primitives of ir/Formula.h), so no elementwise op has code of
// its own here. Expressions are DAGs (lowering memoizes shared values); each
// statement's expressions are rendered with the subexpressions they share
// bound to `const` temporaries, so the text stays linear in the DAG's size.
// Semantics follow the kernel IR (and the LLVM emitter): integer x / 0 = 0,
// max(a, b) = a > b || isnan(a) ? a : b, float -> int casts go through i64,
// kilnRandomUniform bit for bit.
//
// A generic kernel maps the top-level Parallel loop, and the loops perfectly
// nested inside it, onto one flat thread index; everything below runs per
// thread as written. Vector (lanes > 1) kernel IR is not supported: the CUDA
// lowering never asks for it.
#ifndef KILN_CODEGEN_CUDA_CUDARENDER_H
#define KILN_CODEGEN_CUDA_CUDARENDER_H

#include "codegen/KernelIR.h"
#include "codegen/cuda/CudaSource.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::cuda {

/// The CUDA C++ spelling of a dtype ("float", "long long", "bool", ...).
const char *cudaType(DType t);
/// An exact literal of `v` as dtype t (hex floats; infinities via bit casts).
std::string cudaLiteral(double v, DType t);

/// Renders the expressions and statements of one kernel.
class KirRenderer {
public:
  /// `noAlias`: no two parameters share memory, so pointers may be __restrict__.
  explicit KirRenderer(const kir::Kernel &k, bool noAlias = true);

  /// The C++ name of buffer `b` (parameters p<b>, locals l<b>) and of a variable.
  std::string bufferName(int b) const;
  static std::string varName(const kir::Var &v);
  std::string varName(const kir::Expr &v) const;
  /// "float *__restrict__ p0, const float *__restrict__ p1, ..." in call order.
  std::string paramList() const;
  /// The parameters' names ("p0", ...) and types ("const float *", ...), in call order.
  std::vector<std::string> paramNames() const;
  std::vector<std::string> paramTypes() const;

  /// Renders `e`; temporaries for shared subexpressions are appended to `out`
  /// at `indent` first. Returns the expression's text.
  std::string expr(const kir::Expr &e, int indent, std::string &out);
  /// Renders a statement (and everything below it) into `out`.
  void stmt(const kir::Stmt &s, int indent, std::string &out);

private:
  struct Scope;
  std::string node(const kir::Expr &e, Scope &sc, int indent, std::string &out);
  std::string binaryText(const kir::Binary &b, const std::string &x, const std::string &y) const;
  std::string unaryText(const kir::Unary &u, const std::string &x) const;
  const kir::Kernel &k_;
  bool noAlias_;
  int temp_ = 0;
};

/// Threads per block of generic kernels.
inline constexpr int kGenericBlock = 256;

/// A kernel's coordinates are 32-bit ints when all of them stay below this
/// bound (twice as much room again for the loop arithmetic on them); the index
/// arithmetic over them is 32-bit where kir::narrowIndexArithmetic proves it fits.
inline bool narrowCoordinates(int64_t largest) { return largest < (int64_t{1} << 30); }

/// The opening of `symbol`'s body, a device function of the block index
/// ("__device__ ... void symbol_body(params..., const long long block) {"),
/// and the __global__ `symbol` (`threads` a block) that calls it with
/// blockIdx.x. A kernel in this form can be a member of a launch group
/// (CudaGroup.cpp), which calls the body for a range of its blocks.
std::string bodyOpening(const KirRenderer &r, const std::string &symbol);
std::string bodyEntry(const KirRenderer &r, const std::string &symbol, int threads);
/// A kernel of that form: `source` (opening, body, entry) of `kind`, `blocks`
/// blocks of `threads`, declaring `staticShared` bytes of shared memory.
CudaKernel blockBodyKernel(std::string kind, std::string source, int64_t blocks, int threads, int64_t staticShared);
/// The opening of every kernel kiln emits, up to and including its first
/// statement: kiln_pdl_enter() (the prelude), before anything reads memory, so
/// that it may be launched as a programmatic dependent of the kernel before it.
std::string kernelOpening(const std::string &symbol, const std::string &params, int threads);

/// A kernel IR kernel as one CUDA kernel named `symbol` (see the file
/// comment): a device function `symbol_body(params..., block)` holding the
/// work of one block, and the __global__ `symbol` that calls it with
/// blockIdx.x (a launch group calls the body for a range of its blocks).
CudaKernel renderGenericKernel(const kir::Kernel &k, const std::string &symbol, bool noAlias);

} // namespace kiln::cuda

#endif // KILN_CODEGEN_CUDA_CUDARENDER_H
