// passes/AlgebraicSimplify.cpp - the `simplify` pass: exact algebraic identities.
//
// Each pattern replaces a node by an equal value, exactly (bit for bit up to
// the sign of a zero): x*1, 1*x, x+0, 0+x, x-0, x/1, neg(neg x), relu(relu x),
// transpose chains (composed, or removed when the identity), reshape/flatten
// chains (one reshape) and reshapes, flattens, transposes and broadcasts that
// change nothing. The unit may be a constant seen through layout ops (autodiff
// seeds are broadcast constants). An identity that would also broadcast `x`
// does not apply.
#include "passes/Pass.h"
#include "passes/Rewrite.h"

#include "ir/Error.h"


namespace kiln {

namespace {

/// True when `v` is a constant splat, possibly reshaped, transposed or
/// broadcast (still a splat of the same value); the value goes to *value.
bool isSplat(Value v, double *value) {
  while (v.node->info().opClass == OpClass::Layout)
    v = v.node->operand(0);
  return isConstant(v, value);
}

/// `x` when the other operand of binary `n` (at index `constIdx`) is the splat
/// `unit` and x already has the result's type; null otherwise.
Value identityOperand(Node &n, size_t constIdx, double unit) {
  double c = 0;
  if (!isSplat(n.operand(constIdx), &c) || c != unit)
    return {};
  Value x = n.operand(1 - constIdx);
  if (x.type() != n.resultType())
    return {};
  return x;
}

Value mulByOne(Graph &, Node &n) {
  if (n.kind() != OpKind::Mul)
    return {};
  if (Value x = identityOperand(n, 1, 1.0))
    return x;
  return identityOperand(n, 0, 1.0);
}

Value addZero(Graph &, Node &n) {
  if (n.kind() == OpKind::Add) {
    if (Value x = identityOperand(n, 1, 0.0))
      return x;
    return identityOperand(n, 0, 0.0);
  }
  if (n.kind() == OpKind::Sub)
    return identityOperand(n, 1, 0.0);
  return {};
}

Value divByOne(Graph &, Node &n) {
  if (n.kind() != OpKind::Div)
    return {};
  return identityOperand(n, 1, 1.0);
}

/// op(op(x)) -> x for involutions, op(op(x)) -> op(x) for idempotent ops.
Value negNeg(Graph &, Node &n) {
  if (n.kind() != OpKind::Neg || n.operand(0).node->kind() != OpKind::Neg)
    return {};
  return n.operand(0).node->operand(0);
}

Value reluRelu(Graph &, Node &n) {
  if (n.kind() != OpKind::Relu || n.operand(0).node->kind() != OpKind::Relu)
    return {};
  return n.operand(0);
}

std::vector<int64_t> normalizedPerm(const Node &n) {
  std::vector<int64_t> p = n.attrs().getInts("perm");
  int64_t rank = static_cast<int64_t>(p.size());
  for (int64_t &a : p)
    if (a < 0)
      a += rank;
  return p;
}

bool isIdentityPerm(const std::vector<int64_t> &p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i))
      return false;
  return true;
}

/// transpose(transpose(x, p1), p2) = transpose(x, q) with q[i] = p1[p2[i]];
/// a transpose by the identity permutation is its operand.
Value transposeChain(Graph &g, Node &n) {
  if (n.kind() != OpKind::Transpose)
    return {};
  std::vector<int64_t> p2 = normalizedPerm(n);
  if (isIdentityPerm(p2))
    return n.operand(0);
  Node *inner = n.operand(0).node;
  if (inner->kind() != OpKind::Transpose)
    return {};
  std::vector<int64_t> p1 = normalizedPerm(*inner);
  std::vector<int64_t> q(p2.size());
  for (size_t i = 0; i < p2.size(); ++i)
    q[i] = p1[p2[i]];
  Value x = inner->operand(0);
  if (isIdentityPerm(q))
    return x;
  AttrMap a;
  a.set("perm", q);
  return g.build(OpKind::Transpose, {x}, std::move(a));
}

bool isReshapeLike(OpKind k) { return k == OpKind::Reshape || k == OpKind::Flatten; }

/// A reshape/flatten of a reshape/flatten is one reshape of the innermost
/// operand; a reshape, flatten or broadcast to the operand's own shape is the operand.
Value reshapeChain(Graph &g, Node &n) {
  if (!isReshapeLike(n.kind()) && n.kind() != OpKind::Broadcast)
    return {};
  if (n.operand(0).type() == n.resultType())
    return n.operand(0);
  if (!isReshapeLike(n.kind()) || !isReshapeLike(n.operand(0).node->kind()))
    return {};
  Value x = n.operand(0).node->operand(0);
  if (x.type() == n.resultType())
    return x;
  AttrMap a;
  a.set("shape", n.resultType().shape);
  return g.build(OpKind::Reshape, {x}, std::move(a));
}

constexpr RewritePattern kPatterns[] = {
    {"mul-one", mulByOne},          {"add-zero", addZero},   {"div-one", divByOne},
    {"neg-neg", negNeg},            {"relu-relu", reluRelu}, {"transpose", transposeChain},
    {"reshape", reshapeChain},
};

} // namespace

bool algebraicSimplifyPass(Graph &g, PassContext &ctx) {
  return applyPatternsGreedily(g, kPatterns, ctx, "simplify") > 0;
}

} // namespace kiln
