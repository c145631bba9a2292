// codegen/LowerContext.h - what lowering patterns share: values, kernels, loops.
//
// Internal to codegen/. A lowering pattern (one per op class, Lower*.cpp)
// reads operands only through KernelBuilder::valueAt, which loads from a
// buffer, inlines a constant, or composes the scalar formulas and index maps
// of elementwise and layout producers fused into the same kernel. It writes
// results only through KernelBuilder::storeResult, which applies a fused
// elementwise epilogue when one is registered. So every pattern handles
// single ops and fused regions alike.
#ifndef KILN_CODEGEN_LOWERCONTEXT_H
#define KILN_CODEGEN_LOWERCONTEXT_H

#include "codegen/KernelIR.h"
#include "codegen/Lower.h"
#include "ir/Graph.h"

#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace kiln::lower {

using kir::Expr;
using kir::Stmt;
/// An element position: one i64 expression per dim.
using Index = std::vector<Expr>;

class KernelBuilder;

/// How a graph value is available to kernels.
struct Binding {
  enum Kind : uint8_t { None, Buffer, Forward } kind = None;
  int buffer = -1; ///< Buffer: program buffer id
  Value forward;   ///< Forward: the value this one equals (region arguments)
};

/// A value whose stores are rewritten: the producer's result at index idx is
/// `acc`, and `output` = f(acc, ...) is stored instead (fused epilogue).
struct EpilogueInfo {
  Value output;
  int outputBuffer = -1;
  /// When set, the output's element idx goes here instead of outputBuffer
  /// (a kernel-local buffer of a fused consumer).
  std::function<Stmt(const Index &idx, Expr value)> sink;
  /// Further values of the chain stored at the same index, each in its
  /// buffer (an optimizer update's new state beside the new parameter).
  std::vector<std::pair<Value, int>> more;
};

/// Builds a Program; owns the value bindings shared by all kernels.
class ProgramBuilder {
public:
  ProgramBuilder(Program &p, const LowerOptions &o) : prog(p), opt(o) {}
  Program &prog;
  const LowerOptions &opt;
  std::unordered_map<Value, Binding, ValueHash> bindings;
  /// Values stored through an epilogue instead of their own buffer.
  std::unordered_map<Value, EpilogueInfo, ValueHash> epilogues;
  /// Region results written straight into a parameter or state buffer (an
  /// update in place: see lowerGraph), by value.
  std::unordered_map<Value, int, ValueHash> inPlace;
  /// Whether valueAt may inline the producer of a value (fused regions).
  std::function<bool(Value)> inlinable = [](Value) { return false; };
  /// max_pool2d_grad nodes that no kernel computes: valueAt gives their
  /// elements where they are read (maxPoolGradAt; see Walk::whereRead).
  std::unordered_set<const Node *> poolGradsWhereRead;

  int addBuffer(std::string name, TensorType t, BufferRole role, int aliasOf = -1);
  void bindBuffer(Value v, int buffer) { bindings[v] = {Binding::Buffer, buffer, {}}; }
  /// Follows Forward bindings to the value that defines v.
  Value resolve(Value v) const;
  /// The program buffer of v, or -1 when it has none.
  int bufferOf(Value v) const;
  /// Creates a temp buffer for v and binds it.
  int materialize(Value v, std::string name);
  /// Adds a finished kernel and its launch.
  void finish(KernelBuilder &kb);
};

/// Builds one kernel.
class KernelBuilder {
public:
  KernelBuilder(ProgramBuilder &pb, std::string name);
  ProgramBuilder &pb;
  kir::Kernel kernel;
  std::vector<int> args; ///< program buffer of each kernel parameter, in call order

  /// A fresh i64 variable named prefix + number.
  Expr newVar(const std::string &prefix, kir::Type t = {});
  /// The kernel parameter for program buffer b (added on first use).
  int param(int programBuffer, bool write);
  /// The kernel parameter holding value v (which must have a buffer).
  int paramOf(Value v, bool write);
  /// A local scratch buffer.
  int local(const std::string &name, DType t, int64_t size) { return kernel.addLocal(name, t, size); }

  /// Makes valueAt compute v from its producer even though v has a buffer
  /// (for the values a kernel itself is storing).
  void forceInline(Value v) { forceInline_.insert(v); }
  /// Element idx of value v as a scalar expression.
  Expr valueAt(Value v, const Index &idx);
  /// Stores `acc` as element idx of v, or its epilogue output when v has one.
  Stmt storeResult(Value v, const Index &idx, Expr acc);
  /// What storeResult stores for `acc` at idx: the epilogue's value, or acc.
  Expr epilogueValue(Value v, const Index &idx, Expr acc);
  /// The value actually written when storing v (its epilogue output or v).
  Value storedValue(Value v) const;

  /// Loops over `shape` around body(idx); the outermost loop with extent > 1 is
  /// Parallel when `parallel` and the total work is worth threads.
  Stmt loopNest(const Shape &shape, const std::function<Stmt(const Index &)> &body, bool parallel = true,
                double workPerElement = 1.0);
  /// Marks the top-level loop `s` parallel when it is a For (sets parallelExtent).
  Stmt makeParallel(Stmt s, double workPerIteration);

private:
  /// The values of `exits` (an epilogue's, computed inline) at idx when v, at
  /// idx, is `acc`.
  std::vector<Expr> exitValues(Value v, const std::vector<Value> &exits, const Index &idx, Expr acc);
  /// storeResult of v whose epilogue `e` has several exits.
  Stmt storeExits(Value v, const EpilogueInfo &e, const Index &idx, Expr acc);
  Expr formulaValue(Node &n, size_t result, const Index &idx);
  Expr layoutValue(Node &n, const Index &idx);
  int varCounter_ = 0;
  struct MemoKey {
    const Node *node;
    uint32_t result;
    std::vector<const kir::ExprNode *> idx;
    auto operator<=>(const MemoKey &) const = default;
  };
  std::map<MemoKey, Expr> memo_;
  std::unordered_set<Value, ValueHash> forceInline_;
  std::vector<int> paramIds_; ///< kernel buffer id of each entry of args
  /// Active epilogue overrides: value -> (index it holds at, accumulator).
  std::unordered_map<Value, std::pair<Index, Expr>, ValueHash> overrides_;
};

/// Row-major linear index of idx in shape.
Expr linearIndex(const Index &idx, const Shape &shape);
/// Per-dim index of a linear index.
Index unravel(const Expr &linear, const Shape &shape);
/// Constant index expressions.
Index constIndex(const std::vector<int64_t> &v);
/// 0 <= e < n, as a bool expression.
Expr inRange(const Expr &e, int64_t n);
/// e clamped into [0, n - 1] (a safe address for a load that a select discards).
Expr clampIndex(const Expr &e, int64_t n);
/// Largest divisor of v not above limit (v itself when v <= limit).
int64_t tileOf(int64_t v, int64_t limit = 4096);

// ---- Patterns, one per op class (Lower<Class>.cpp) ----------------------------
/// Stores every value of `roots` (elementwise/layout/constant, equal shapes) in one loop nest.
void lowerElementwise(ProgramBuilder &pb, const std::vector<Value> &roots, const std::string &name);
void lowerReduction(ProgramBuilder &pb, Node &n, const std::string &name);
void lowerMatmul(ProgramBuilder &pb, Node &n, const std::string &name);
void lowerConv(ProgramBuilder &pb, Node &n, const std::string &name);
void lowerPool(ProgramBuilder &pb, Node &n, const std::string &name);
void lowerSoftmax(ProgramBuilder &pb, Node &n, const std::string &name);
/// The kernel lowerSoftmax finishes, built into kb (a backend's own kernel
/// for the op keeps it as its kernel IR reference).
void softmaxOpKernel(KernelBuilder &kb, Node &n);

/// True when `n` reads each element of its operand 0 once per window that
/// holds it (max_pool2d_grad: every lowering reads a window's dy where it
/// gives it to the window's maximum), so a fused elementwise producer of that
/// operand may stay inline instead of taking a temp of its own.
bool readsOncePerWindow(const Node &n);
/// True when max_pool2d_grad `n`'s windows tile its input (stride = kernel, no padding).
bool maxPoolGradTiles(Node &n);
/// Element idx of max_pool2d_grad `n` as an expression: dy of the one window
/// holding it where it is that window's first maximum (the select chain of
/// maxPoolGradImage), else 0. Reads the window's kernelH x kernelW values of
/// x, so it suits a reader that reads each element once. Requires
/// maxPoolGradTiles(n).
Expr maxPoolGradAt(KernelBuilder &kb, Node &n, const Index &idx);
/// The windows of max_pool2d_grad `n` over all channels of image `image`:
/// each window's first maximum takes dy, the rest 0, stored through
/// storeResult (a fused mask applies). Requires maxPoolGradTiles(n).
Stmt maxPoolGradImage(KernelBuilder &kb, Node &n, const Expr &image);
/// Lowers region "pool_grad_wgrad" (passes/Fusion.h) as one kernel keeping
/// each image's masked gradient in a local buffer; false, emitting nothing,
/// when its shapes do not suit (the region then lowers op by op).
bool lowerPoolGradWeightGrads(ProgramBuilder &pb, Graph &body, const std::string &name);

/// True when lowerElementwise can compute v inline (elementwise, layout, constant).
bool isInlineKind(const Node &n);

// ---- The graph walk the CPU and CUDA lowerings share (Lower.cpp) -------------
/// How kernels and buffers name value v: its node's name, else mnemonic and
/// id, with ".k" for result k > 0.
std::string valueName(Value v);

/// What a backend adds to the walk (walkGraph).
struct Walk {
  const char *backend = "cpu"; ///< named in errors
  /// Lowers heavy node n (not elementwise, layout or a region) as kernels
  /// named after `name`; its results have buffers or epilogues (pb.epilogues).
  std::function<void(Node &n, const std::string &name)> heavy;
  /// Called each time the walk has added kernels (the CUDA lowering renders them).
  std::function<void()> added = [] {};
  /// Lowers a fused region's whole body (named `rname`) as one pattern, once
  /// its inputs and results are bound; false, emitting nothing, when it does
  /// not apply (the body is then lowered op by op). Optional.
  std::function<bool(Node &region, const std::string &rname)> regionPattern;
  /// True when no kernel computes `region`: its results are bound to its
  /// body's outputs, and the kernels that read them compute their elements
  /// (the hook has put what valueAt cannot inline otherwise in
  /// ProgramBuilder::poolGradsWhereRead). Optional.
  std::function<bool(Node &region)> whereRead;
  /// Heavy node n of region `body` (named `rname`) is lowered next, storing
  /// through `out` (its epilogue's exit, else null): returns a consumer that
  /// n's kernels compute too, added to viaEpilogue with its own epilogue
  /// registered (erased after n), or null. Optional.
  std::function<Node *(const Graph &body, Node &n, Value out, const std::string &rname, std::set<Node *> &viaEpilogue)>
      absorb;
};

/// Lowers graph g into pb.prog: buffers for its inputs, params and states,
/// kernels for each node in order (a fused region's members inlined into
/// their consumers, a heavy member storing through the elementwise chain after
/// it, outputs of equal shape in one loop nest, updates in place), then buffers
/// of their own for the outputs and assigned values (copies where needed).
void walkGraph(ProgramBuilder &pb, const Graph &g, const Walk &w);

// ---- Region helpers shared by the CPU and CUDA lowerings (Lower.cpp) ---------
/// The elementwise nodes of `body` reached from v through elementwise nodes only.
std::set<Node *> elementwiseDependents(const Graph &body, Value v);
/// When heavy node h feeds only a same-shape elementwise chain whose exits
/// (values used outside the chain) all have buffers, returns them in body
/// order (h then stores through the chain as an epilogue) and the chain in
/// `chain`; else nothing.
std::vector<Value> epilogueExits(const ProgramBuilder &pb, const Graph &body, Node &h, std::set<Node *> &chain);
/// Heavy node h of region `body` stores through the elementwise chain after it
/// when it can (epilogueExits): registers the epilogue (its first exit as the
/// output, the others as EpilogueInfo::more), adds the chain to `viaEpilogue`
/// and returns the first exit. Otherwise gives h's results buffers named after
/// region `rname` and returns null. The caller erases the epilogue once h is
/// lowered.
Value storeThroughEpilogue(ProgramBuilder &pb, const Graph &body, Node &h, const std::string &rname,
                           std::set<Node *> &viaEpilogue);
/// Gives every elementwise value of region `body` that a matmul, conv or pool
/// reads a temp named after region `rname`, so it is computed once and not at
/// every read; a pool gradient's dy (readsOncePerWindow) stays inline.
void materializeHeavyOperands(ProgramBuilder &pb, const Graph &body, const std::string &rname);

/// Updates in place (both lowerings): an elementwise node whose result is
/// assigned to a parameter or state t, where t is an operand read at the
/// result's own index and by no later node, writes into t's buffer
/// (ProgramBuilder::inPlace) and its assign disappears.
class InPlaceUpdates {
public:
  explicit InPlaceUpdates(const Graph &g);
  /// Records in pb.inPlace the results of node n (at position pos of the
  /// graph's nodes) that can be written in place; call before lowering n.
  void plan(ProgramBuilder &pb, Node &n, size_t pos) const;

private:
  std::unordered_map<Value, Value, ValueHash> assignOf_; ///< value -> the target it is assigned to
  std::unordered_map<const Node *, size_t> lastRead_;    ///< node -> position of its last reader
  std::unordered_set<Value, ValueHash> outputs_;
};

} // namespace kiln::lower

#endif // KILN_CODEGEN_LOWERCONTEXT_H
