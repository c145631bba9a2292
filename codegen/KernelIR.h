// codegen/KernelIR.h - the loop-level kernel IR: loops, loads, stores, vectors.
//
// Every kernel kiln runs on a CPU is first written in this small IR, with all
// shapes compile-time constants: lowering (codegen/Lower*.cpp) builds it from
// graph nodes, the LLVM emitter (codegen/llvm/) turns it into LLVM IR, and its
// printed text is the kernel's cache key and its `--dump` listing. Nodes are
// immutable and shared (Halide style): rewrites build new nodes, and a Mutator
// returns the very same node when nothing below it changed.
//
// Buffers are flat arrays of one dtype addressed by element index; a kernel's
// parameters are its non-local buffers, in order; Alloc'ed scratch buffers
// are local.
// A kernel may hold one top-level Parallel loop; the runtime splits its range
// over the thread pool.
#ifndef KILN_CODEGEN_KERNELIR_H
#define KILN_CODEGEN_KERNELIR_H

#include "ir/Formula.h"
#include "ir/Types.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::kir {

/// Scalar or vector type of an expression.
struct Type {
  DType dtype = DType::I64;
  int lanes = 1;
  bool operator==(const Type &) const = default;
  bool isVector() const { return lanes > 1; }
};

/// Discriminator of expression nodes, from KernelIR.def.
enum class ExprKind : uint8_t {
#define KILN_KIR_EXPR(Name) Name,
#include "codegen/KernelIR.def"
};
/// Discriminator of statement nodes, from KernelIR.def.
enum class StmtKind : uint8_t {
#define KILN_KIR_STMT(Name) Name,
#include "codegen/KernelIR.def"
};

/// Base of expression nodes.
struct ExprNode {
  ExprKind kind;
  Type type;
  ExprNode(ExprKind k, Type t) : kind(k), type(t) {}
  virtual ~ExprNode() = default;
};
/// Base of statement nodes.
struct StmtNode {
  StmtKind kind;
  explicit StmtNode(StmtKind k) : kind(k) {}
  virtual ~StmtNode() = default;
};
using Expr = std::shared_ptr<const ExprNode>;
using Stmt = std::shared_ptr<const StmtNode>;

/// Binary operators. Comparisons yield bool; And/Or take bools; Div on
/// integers truncates (x / 0 = 0, as the formulas define); Mod is for indices.
enum class BinOp : uint8_t { Add, Sub, Mul, Div, Mod, Max, Min, Lt, Le, Eq, And, Or };
/// Unary operators (a subset of ScalarOp).
enum class UnOp : uint8_t { Neg, Exp, Log, Sqrt, Tanh, Abs };
/// Horizontal reductions of a vector.
enum class ReduceOp : uint8_t { Add, Max };
/// How a For loop runs.
enum class ForKind : uint8_t {
  Serial,   ///< an ordinary loop (LLVM may vectorize it)
  Parallel, ///< top level only: the runtime splits the range over threads
  Unrolled, ///< the emitter unrolls it fully (constant bounds)
  Scalar,   ///< a serial loop the CPU code generator neither vectorizes nor
            ///< unrolls: strided reads that would otherwise become gathers
};

const char *binOpName(BinOp op);
const char *unOpName(UnOp op);
const char *forKindName(ForKind k);

#define KILN_KIR_NODE(Name, Base, Kind)                                                            \
  static constexpr Kind kKind = Kind::Name;

struct IntImm final : ExprNode {
  KILN_KIR_NODE(IntImm, ExprNode, ExprKind)
  int64_t value;
  IntImm(DType t, int64_t v) : ExprNode(ExprKind::IntImm, {t, 1}), value(v) {}
};
struct FloatImm final : ExprNode {
  KILN_KIR_NODE(FloatImm, ExprNode, ExprKind)
  double value;
  FloatImm(DType t, double v) : ExprNode(ExprKind::FloatImm, {t, 1}), value(v) {}
};
/// A variable; identity is the node itself, `name` is unique within a kernel.
struct Var final : ExprNode {
  KILN_KIR_NODE(Var, ExprNode, ExprKind)
  std::string name;
  Var(Type t, std::string n) : ExprNode(ExprKind::Var, t), name(std::move(n)) {}
};
struct Load final : ExprNode {
  KILN_KIR_NODE(Load, ExprNode, ExprKind)
  int buffer;
  Expr index; ///< i64 element index of the first lane
  Load(Type t, int b, Expr i) : ExprNode(ExprKind::Load, t), buffer(b), index(std::move(i)) {}
};
struct Unary final : ExprNode {
  KILN_KIR_NODE(Unary, ExprNode, ExprKind)
  UnOp op;
  Expr a;
  Unary(UnOp o, Expr x) : ExprNode(ExprKind::Unary, x->type), op(o), a(std::move(x)) {}
};
struct Binary final : ExprNode {
  KILN_KIR_NODE(Binary, ExprNode, ExprKind)
  BinOp op;
  Expr a, b;
  Binary(Type t, BinOp o, Expr x, Expr y)
      : ExprNode(ExprKind::Binary, t), op(o), a(std::move(x)), b(std::move(y)) {}
};
struct Select final : ExprNode {
  KILN_KIR_NODE(Select, ExprNode, ExprKind)
  Expr c, a, b;
  Select(Expr cc, Expr x, Expr y)
      : ExprNode(ExprKind::Select, x->type), c(std::move(cc)), a(std::move(x)), b(std::move(y)) {}
};
struct Cast final : ExprNode {
  KILN_KIR_NODE(Cast, ExprNode, ExprKind)
  Expr a;
  Cast(Type t, Expr x) : ExprNode(ExprKind::Cast, t), a(std::move(x)) {}
};
struct Splat final : ExprNode {
  KILN_KIR_NODE(Splat, ExprNode, ExprKind)
  Expr a;
  Splat(Expr x, int lanes) : ExprNode(ExprKind::Splat, {x->type.dtype, lanes}), a(std::move(x)) {}
};
/// kilnRandomUniform(seed, key, index) as f32; key and index are i64.
struct Random final : ExprNode {
  KILN_KIR_NODE(Random, ExprNode, ExprKind)
  int64_t seed;
  Expr key, index;
  Random(int64_t s, Expr k, Expr i)
      : ExprNode(ExprKind::Random, {DType::F32, 1}), seed(s), key(std::move(k)), index(std::move(i)) {}
};
struct HReduce final : ExprNode {
  KILN_KIR_NODE(HReduce, ExprNode, ExprKind)
  ReduceOp op;
  Expr a;
  HReduce(ReduceOp o, Expr x) : ExprNode(ExprKind::HReduce, {x->type.dtype, 1}), op(o), a(std::move(x)) {}
};

struct Block final : StmtNode {
  KILN_KIR_NODE(Block, StmtNode, StmtKind)
  std::vector<Stmt> stmts;
  explicit Block(std::vector<Stmt> s) : StmtNode(StmtKind::Block), stmts(std::move(s)) {}
};
/// for var in [begin, begin + extent) { body }
struct For final : StmtNode {
  KILN_KIR_NODE(For, StmtNode, StmtKind)
  Expr var; ///< a Var of type i64
  Expr begin, extent;
  ForKind forKind;
  Stmt body;
  For(Expr v, Expr b, Expr e, ForKind k, Stmt s)
      : StmtNode(StmtKind::For), var(std::move(v)), begin(std::move(b)), extent(std::move(e)), forKind(k),
        body(std::move(s)) {}
};
struct Store final : StmtNode {
  KILN_KIR_NODE(Store, StmtNode, StmtKind)
  int buffer;
  Expr index, value;
  Store(int b, Expr i, Expr v) : StmtNode(StmtKind::Store), buffer(b), index(std::move(i)), value(std::move(v)) {}
};
struct IfThen final : StmtNode {
  KILN_KIR_NODE(IfThen, StmtNode, StmtKind)
  Expr cond;
  Stmt then, otherwise; ///< otherwise may be null
  IfThen(Expr c, Stmt t, Stmt o)
      : StmtNode(StmtKind::IfThen), cond(std::move(c)), then(std::move(t)), otherwise(std::move(o)) {}
};
struct LetStmt final : StmtNode {
  KILN_KIR_NODE(LetStmt, StmtNode, StmtKind)
  Expr var, value;
  Stmt body;
  LetStmt(Expr v, Expr x, Stmt b) : StmtNode(StmtKind::LetStmt), var(std::move(v)), value(std::move(x)), body(std::move(b)) {}
};
/// Scratch buffer `buffer` (declared in the kernel, `local`) lives during body.
struct Alloc final : StmtNode {
  KILN_KIR_NODE(Alloc, StmtNode, StmtKind)
  int buffer;
  Stmt body;
  Alloc(int b, Stmt s) : StmtNode(StmtKind::Alloc), buffer(b), body(std::move(s)) {}
};
#undef KILN_KIR_NODE

/// The node as T, or null when it is of another kind.
template <typename T> const T *as(const Expr &e) {
  return e && e->kind == T::kKind ? static_cast<const T *>(e.get()) : nullptr;
}
template <typename T> const T *as(const Stmt &s) {
  return s && s->kind == T::kKind ? static_cast<const T *>(s.get()) : nullptr;
}

// ---- Builders: fold constants and identities of index arithmetic ----------
Expr intImm(int64_t v, DType t = DType::I64);
Expr floatImm(double v, DType t);
/// A constant of any scalar dtype (bool and integers too).
Expr constant(double v, DType t);
Expr var(std::string name, Type t = {});
Expr load(int buffer, DType t, Expr index, int lanes = 1);
Expr unary(UnOp op, Expr a);
/// Binary op; a scalar operand is splat to the other's lanes.
Expr binary(BinOp op, Expr a, Expr b);
Expr select(Expr c, Expr a, Expr b);
Expr cast(Expr a, DType t);
Expr splat(Expr a, int lanes);
Expr random(int64_t seed, Expr key, Expr index);
Expr hreduce(ReduceOp op, Expr a);
Expr add(Expr a, Expr b);
Expr sub(Expr a, Expr b);
Expr mul(Expr a, Expr b);
Expr div(Expr a, Expr b);
Expr mod(Expr a, Expr b);
Expr max(Expr a, Expr b);
Expr min(Expr a, Expr b);

Stmt block(std::vector<Stmt> s);
Stmt forLoop(Expr var, Expr begin, Expr extent, ForKind k, Stmt body);
Stmt forLoop(Expr var, int64_t extent, ForKind k, Stmt body);
Stmt store(int buffer, Expr index, Expr value);
Stmt ifThen(Expr c, Stmt then, Stmt otherwise = nullptr);
Stmt letStmt(Expr var, Expr value, Stmt body);
/// `let var = value` around body for each pair, the first binding outermost.
Stmt letStmts(const std::vector<std::pair<Expr, Expr>> &lets, Stmt body);
Stmt alloc(int buffer, Stmt body);

/// The constant value of an IntImm, or nullopt-like false.
bool isConstInt(const Expr &e, int64_t *value = nullptr);

// ---- Kernels ------------------------------------------------------------------

/// A buffer of a kernel: a parameter (global memory) or a local scratch array.
struct BufferDecl {
  std::string name;
  DType dtype = DType::F32;
  int64_t size = 0; ///< elements
  bool local = false;
  bool readOnly = false; ///< parameters the kernel never writes
};

/// One compiled unit: `void name(void **buffers, int64_t begin, int64_t end)`.
struct Kernel {
  std::string name;
  std::vector<BufferDecl> buffers; ///< parameters (in call order) and locals, mixed
  int numParams = 0;
  Stmt body;
  /// Extent of the top-level Parallel loop (1 when there is none); the runtime
  /// calls the kernel on sub-ranges [begin, end) of [0, parallelExtent).
  int64_t parallelExtent = 1;
  /// Rough work of one parallel iteration (flops or elements), for deciding
  /// whether threads pay off.
  double workPerIteration = 1;

  /// Adds a parameter buffer (the next call argument); returns its buffer id.
  int addParam(std::string name, DType t, int64_t size, bool readOnly);
  /// Adds a local buffer (use it inside an Alloc); returns its id.
  int addLocal(std::string name, DType t, int64_t size);
};

/// Deterministic text of a kernel (its dump and its cache key).
std::string printKernel(const Kernel &k);
std::string printExpr(const Expr &e);
std::string printStmt(const Stmt &s, int indent = 0);

// ---- Visitor and Mutator (generated from KernelIR.def) --------------------------

/// Walks a tree; the default of every visit method visits the children.
class Visitor {
public:
  virtual ~Visitor() = default;
  void visit(const Expr &e);
  void visit(const Stmt &s);
#define KILN_KIR_EXPR(Name) virtual void visit##Name(const Name &n);
#define KILN_KIR_STMT(Name) virtual void visit##Name(const Name &n);
#include "codegen/KernelIR.def"
};

/// Rebuilds a tree; the default of every method mutates the children and
/// returns `self` when none changed.
class Mutator {
public:
  virtual ~Mutator() = default;
  Expr mutate(const Expr &e);
  Stmt mutate(const Stmt &s);
#define KILN_KIR_EXPR(Name) virtual Expr mutate##Name(const Name &n, const Expr &self);
#define KILN_KIR_STMT(Name) virtual Stmt mutate##Name(const Name &n, const Stmt &self);
#include "codegen/KernelIR.def"
};

/// Replaces every use of variable `v` by `by`.
Stmt substitute(const Stmt &s, const Expr &v, const Expr &by);
Expr substitute(const Expr &e, const Expr &v, const Expr &by);

/// An integer expression as `constant + sum of coefficient * variable`.
struct LinearForm {
  int64_t constant = 0;
  std::map<const ExprNode *, int64_t> coefficients; ///< variable -> coefficient, none 0
  bool operator==(const LinearForm &) const = default;
};

/// `e` as a linear form when it is one: built of integer immediates and
/// variables with +, -, and * by a constant side (casts that cannot wrap
/// looked through); nullopt otherwise, or when a coefficient overflows 64 bits.
std::optional<LinearForm> linearForm(const Expr &e);

/// An i64 index variable, the i32 variable that stands in for it, and the
/// range [lo, hi] of its values where the expressions are evaluated.
struct IndexVar {
  Expr wide, narrow;
  int64_t lo = 0, hi = 0;
};

/// `e` (or every expression of `s`) with its index arithmetic in 32 bits:
/// each largest subexpression built only of immediates, the variables of
/// `vars`, integer operators, comparisons, logic and selects over them is
/// rebuilt on i32 values (cast back to i64 where an i64 is used), when interval
/// arithmetic from the variables' ranges shows that none of its values, the
/// intermediate ones included, leaves the 32-bit range. Loads, casts, random
/// numbers and other variables stay as they are. In `s`, a loop with constant
/// bounds that fit counts with an i32 variable, and a let of a narrowable
/// value binds one; both join `vars` for their bodies. 32-bit division and
/// remainder by a constant cost a GPU a few instructions, 64-bit ones dozens.
Expr narrowIndexArithmetic(const Expr &e, const std::vector<IndexVar> &vars);
Stmt narrowIndexArithmetic(const Stmt &s, const std::vector<IndexVar> &vars);

} // namespace kiln::kir

#endif // KILN_CODEGEN_KERNELIR_H
