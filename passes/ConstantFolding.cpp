// passes/ConstantFolding.cpp - the `constant-fold` pass: ops of constant splats
// become constant splats.
//
// Constants are splats, so an elementwise op of constants is its scalar
// formula evaluated once (evalFormula rounds like the interpreter), a layout
// op of a constant is the same splat in the new shape, and reduce_max /
// reduce_mean / reduce_sum reduce a splat in closed form. Folding must be
// exact: reduce_sum folds only when every partial sum k*v is representable, a
// result that is not finite is left alone, and formulas that read the element
// index or random numbers (dropout) never fold.
#include "passes/Pass.h"
#include "passes/Rewrite.h"

#include "ir/Formula.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace kiln {

namespace {

/// `v` as an element of dtype `t` holds it (f32 rounding, integer truncation).
double toDType(double v, DType t) {
  if (isInteger(t) && !(std::fabs(v) < 9.2e18))
    return v; // out of range of every integer type: callers see no exact value
  switch (t) {
  case DType::F32: return static_cast<double>(static_cast<float>(v));
  case DType::F64: return v;
  case DType::I32: return static_cast<double>(static_cast<int32_t>(v));
  case DType::I64: return static_cast<double>(static_cast<int64_t>(v));
  case DType::U8: return static_cast<double>(static_cast<uint8_t>(v));
  case DType::Bool: return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

/// True when k*v is exact in dtype `t` for every k <= n (so a sum of n copies
/// of v, in any order, is exactly n*v).
bool exactMultiple(double v, int64_t n, DType t) {
  if (v == 0)
    return true;
  if (t == DType::I32 || t == DType::I64) {
    double limit = t == DType::I32 ? 2147483647.0 : 9007199254740991.0;
    return std::fabs(v) * static_cast<double>(n) <= limit;
  }
  if (!isFloat(t))
    return false;
  int exp = 0;
  double fr = std::frexp(std::fabs(v), &exp);
  auto mant = static_cast<uint64_t>(std::ldexp(fr, 53));
  while ((mant & 1) == 0)
    mant >>= 1;
  const uint64_t limit = uint64_t{1} << (t == DType::F32 ? 24 : 53);
  return mant <= limit / static_cast<uint64_t>(n) && std::isfinite(toDType(v * n, t));
}

/// The folded splat value of elementwise node `n`, or false.
bool foldElementwise(const Node &n, std::span<const double> args, double *out) {
  const OpHooks &hooks = n.info().hooks;
  if (!hooks.formula || n.numResults() != 1)
    return false;
  Formula f;
  FormulaBuilder b(f);
  std::vector<int32_t> argNodes;
  for (size_t i = 0; i < n.numOperands(); ++i)
    argNodes.push_back(b.arg(static_cast<int64_t>(i), n.operand(i).dtype()));
  int32_t root = hooks.formula(b, argNodes, n.attrs());
  for (const ScalarNode &s : f.nodes)
    if (s.op == ScalarOp::Index || s.op == ScalarOp::Random)
      return false;
  *out = toDType(evalFormula(f, root, args, 0), n.resultType().dtype);
  return true;
}

/// The folded splat value of reduction `n` of a splat `v`, or false.
bool foldReduction(const Node &n, double v, double *out) {
  int64_t count = n.operand(0).type().numel() / std::max<int64_t>(1, n.resultType().numel());
  if (count <= 0)
    return false;
  DType t = n.resultType().dtype;
  switch (n.kind()) {
  case OpKind::ReduceMax: *out = v; return true;
  case OpKind::ReduceSum:
    if (!exactMultiple(v, count, t))
      return false;
    *out = v * static_cast<double>(count);
    return true;
  case OpKind::ReduceMean:
    // sum = count*v exactly, and count*v / count = v.
    if (!isFloat(t) || !exactMultiple(v, count, t))
      return false;
    *out = v;
    return true;
  default: return false;
  }
}

/// Folds `n` given its operands' splat values as written (`raw`) and as
/// elements of their dtypes (`args`). Values passed through unchanged keep
/// their written form, so a folded broadcast of 0.1 still prints 0.1.
bool fold(const Node &n, std::span<const double> raw, std::span<const double> args, double *out) {
  switch (n.info().opClass) {
  case OpClass::Elementwise: return foldElementwise(n, args, out);
  case OpClass::Layout: *out = raw[0]; return true;
  case OpClass::Reduction:
    if (!foldReduction(n, args[0], out))
      return false;
    if (*out == args[0])
      *out = raw[0];
    return true;
  default: return false;
  }
}

} // namespace

bool constantFoldPass(Graph &g, PassContext &ctx) {
  Node *savedInsertion = g.insertionPoint();
  int64_t folded = 0;
  for (Node *n : std::vector<Node *>(g.nodes())) {
    if (n->numResults() != 1 || n->numOperands() == 0 || n->info().has(kSideEffect))
      continue;
    std::vector<double> raw, args;
    for (Value v : n->operands()) {
      double c = 0;
      if (!isConstant(v, &c))
        break;
      raw.push_back(c);
      args.push_back(toDType(c, v.dtype()));
    }
    double value = 0;
    if (args.size() != n->numOperands() || !fold(*n, raw, args, &value))
      continue;
    const TensorType &t = n->resultType();
    if (!std::isfinite(toDType(value, t.dtype)))
      continue;
    g.setInsertionPoint(n);
    Value c = g.constant(value, t);
    replaceValue(g, n->result(), c);
    eraseIfDead(g, n);
    ++folded;
  }
  g.setInsertionPoint(savedInsertion);
  if (folded)
    ctx.bump("constant-fold.folded", folded);
  return folded > 0;
}

} // namespace kiln
