// ir/ops/Elementwise.cpp - the elementwise op blocks: unary math, cast, binary
// arithmetic, comparisons, select and dropout.
//
// Each op is a scalar formula (ir/Formula.h); the interpreter and both emitters
// evaluate formulas, so nothing here has an eval. Binary ops broadcast
// numpy-style, or by their `broadcast` attr (the lower-rank operand's dim k
// maps to result dim broadcast[k]). Gradient rules are ordinary ops again, so
// they differentiate further; broadcast operands get their gradient summed
// back with sumToShape.
#include "ir/Error.h"
#include "ir/Formula.h"
#include "ir/Grad.h"
#include "ir/Graph.h"
#include "ir/OpInfo.h"
#include "ir/ops/OpUtil.h"

namespace kiln {
namespace {

// ---- shared pieces ---------------------------------------------------------

constexpr AttrSpec kBinaryAttrs[] = {{"broadcast", AttrKind::Ints, "[]"}};

/// Unary ops on floats (and, with `ints`, on integers); result = operand type.
template <bool ints> std::vector<TensorType> inferUnary(const InferContext &c) {
  DType t = c.operands[0].dtype;
  KILN_USER_CHECK(isFloat(t) || (ints && isInteger(t)))
      << c.op << ": expects a " << (ints ? "numeric" : "float") << " operand, got " << typeString(c.operands[0]);
  return {c.operands[0]};
}

/// Binary ops: equal dtypes, broadcast shapes. `numeric` excludes bool.
template <bool numeric> std::vector<TensorType> inferBinary(const InferContext &c) {
  const TensorType &a = c.operands[0], &b = c.operands[1];
  KILN_USER_CHECK(a.dtype == b.dtype)
      << c.op << ": operand dtypes differ, " << typeString(a) << " and " << typeString(b);
  KILN_USER_CHECK(!numeric || a.dtype != DType::Bool) << c.op << ": expects numeric operands, got bool";
  Shape s = binaryBroadcastShape(a.shape, b.shape, c.attrs.getInts("broadcast"), c.op);
  return {TensorType{a.dtype, s}};
}

template <ScalarOp op> int32_t formulaUnary(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  return b.unary(op, x[0]);
}
template <ScalarOp op> int32_t formulaBinary(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  return b.binary(op, x[0], x[1]);
}

Value scalar(Graph &g, double v, DType t) { return g.constant(v, TensorType{t, {}}); }
Value unary(Graph &g, OpKind k, Value a) { return g.build(k, {a}); }

/// A binary op whose operands may need the original node's `broadcast` dims.
Value binary(Graph &g, OpKind k, Value a, Value b, std::span<const int64_t> dims = {}) {
  AttrMap m;
  if (!dims.empty() && a.shape().size() != b.shape().size())
    m.set("broadcast", std::vector<int64_t>(dims.begin(), dims.end()));
  return g.build(k, {a, b}, std::move(m));
}

Value compare(Graph &g, Value a, Value b, const char *pred, std::span<const int64_t> dims = {}) {
  AttrMap m;
  m.set("pred", std::string(pred));
  if (!dims.empty() && a.shape().size() != b.shape().size())
    m.set("broadcast", std::vector<int64_t>(dims.begin(), dims.end()));
  return g.build(OpKind::Cmp, {a, b}, std::move(m));
}

Value select(Graph &g, Value c, Value a, Value b) { return g.build(OpKind::Select, {c, a, b}); }

/// Everything a unary gradient rule needs; `ok` is false when nothing flows.
struct UnaryGrad {
  GradContext &ctx;
  Graph &g;
  Value x, y, dy;
  DType t;
  bool ok;
  explicit UnaryGrad(GradContext &c)
      : ctx(c), g(c.graph()), x(c.node().operand(0)), y(c.node().result(0)), dy(c.outGrad(0)),
        t(c.node().resultType(0).dtype),
        ok(dy && isFloat(t) && isFloat(x.dtype()) && c.needsGrad(0)) {}
  Value k(double v) const { return scalar(g, v, t); }
};

/// Gives operand i of a binary node its gradient `full` (of the result's
/// shape), summed down to the operand's shape.
void addBinaryGrad(GradContext &ctx, size_t i, Value full) {
  Node &n = ctx.node();
  const Shape &os = n.operand(i).shape();
  std::span<const int64_t> dims =
      operandBroadcastDims(os, n.resultType(0).shape, n.attrs().getInts("broadcast"));
  ctx.addGrad(i, sumToShape(ctx.graph(), full, os, dims));
}

bool binaryGradFlows(GradContext &ctx) {
  return ctx.outGrad(0) && isFloat(ctx.node().resultType(0).dtype);
}

// ============================================================================
// neg
// ============================================================================

void gradNeg(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (u.ok) ctx.addGrad(0, unary(u.g, OpKind::Neg, u.dy));
}

// ============================================================================
// exp: d/dx = exp(x) = y
// ============================================================================

void gradExp(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (u.ok) ctx.addGrad(0, binary(u.g, OpKind::Mul, u.dy, u.y));
}

// ============================================================================
// log: d/dx = 1/x
// ============================================================================

void gradLog(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (u.ok) ctx.addGrad(0, binary(u.g, OpKind::Div, u.dy, u.x));
}

// ============================================================================
// sqrt: d/dx = 0.5 / y
// ============================================================================

void gradSqrt(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (u.ok) ctx.addGrad(0, binary(u.g, OpKind::Div, binary(u.g, OpKind::Mul, u.dy, u.k(0.5)), u.y));
}

// ============================================================================
// rsqrt: y = 1/sqrt(x), d/dx = -0.5 * y^3
// ============================================================================

int32_t formulaRsqrt(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  return b.binary(ScalarOp::Div, b.constant(1.0, b.typeOf(x[0])), b.unary(ScalarOp::Sqrt, x[0]));
}

void gradRsqrt(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  Value y3 = binary(u.g, OpKind::Mul, u.y, binary(u.g, OpKind::Mul, u.y, u.y));
  ctx.addGrad(0, binary(u.g, OpKind::Mul, u.dy, binary(u.g, OpKind::Mul, y3, u.k(-0.5))));
}

// ============================================================================
// abs: d/dx = -1 for x < 0, else 1 (the subgradient 1 is used at 0)
// ============================================================================

void gradAbs(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  Value neg = compare(u.g, u.x, u.k(0.0), "lt");
  ctx.addGrad(0, select(u.g, neg, unary(u.g, OpKind::Neg, u.dy), u.dy));
}

// ============================================================================
// relu: max(x, 0); d/dx = x > 0 (0 at 0)
// ============================================================================

int32_t formulaRelu(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  return b.binary(ScalarOp::Max, x[0], b.constant(0.0, b.typeOf(x[0])));
}

void gradRelu(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  ctx.addGrad(0, select(u.g, compare(u.g, u.x, u.k(0.0), "gt"), u.dy, u.k(0.0)));
}

// ============================================================================
// sigmoid: 1 / (1 + exp(-x)); d/dx = y (1 - y)
// ============================================================================

int32_t formulaSigmoid(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  DType t = b.typeOf(x[0]);
  int32_t one = b.constant(1.0, t);
  int32_t e = b.unary(ScalarOp::Exp, b.unary(ScalarOp::Neg, x[0]));
  return b.binary(ScalarOp::Div, one, b.binary(ScalarOp::Add, one, e));
}

void gradSigmoid(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  Value d = binary(u.g, OpKind::Mul, u.y, binary(u.g, OpKind::Sub, u.k(1.0), u.y));
  ctx.addGrad(0, binary(u.g, OpKind::Mul, u.dy, d));
}

// ============================================================================
// tanh: d/dx = 1 - y^2
// ============================================================================

void gradTanh(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  Value d = binary(u.g, OpKind::Sub, u.k(1.0), binary(u.g, OpKind::Mul, u.y, u.y));
  ctx.addGrad(0, binary(u.g, OpKind::Mul, u.dy, d));
}

// ============================================================================
// cast {dtype}: any dtype to any; gradient only from float to float
// ============================================================================

constexpr AttrSpec kCastAttrs[] = {{"dtype", AttrKind::String, ""}};

std::vector<TensorType> inferCast(const InferContext &c) {
  const std::string &name = c.attrs.getString("dtype");
  std::optional<DType> t = parseDType(name);
  KILN_USER_CHECK(t) << c.op << ": unknown dtype \"" << name << "\"";
  return {TensorType{*t, c.operands[0].shape}};
}

int32_t formulaCast(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &attrs) {
  return b.cast(x[0], *parseDType(attrs.getString("dtype")));
}

void gradCast(GradContext &ctx) {
  UnaryGrad u(ctx);
  if (!u.ok) return;
  AttrMap m;
  m.set("dtype", std::string(dtypeName(u.x.dtype())));
  ctx.addGrad(0, u.g.build(OpKind::Cast, {u.dy}, std::move(m)));
}

// ============================================================================
// add, sub
// ============================================================================

void gradAdd(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  for (size_t i = 0; i < 2; ++i)
    if (ctx.needsGrad(i)) addBinaryGrad(ctx, i, ctx.outGrad(0));
}

void gradSub(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  if (ctx.needsGrad(0)) addBinaryGrad(ctx, 0, ctx.outGrad(0));
  if (ctx.needsGrad(1)) addBinaryGrad(ctx, 1, unary(ctx.graph(), OpKind::Neg, ctx.outGrad(0)));
}

// ============================================================================
// mul: da = dy b, db = dy a
// ============================================================================

void gradMul(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  Node &n = ctx.node();
  const auto &dims = n.attrs().getInts("broadcast");
  Value dy = ctx.outGrad(0);
  if (ctx.needsGrad(0)) addBinaryGrad(ctx, 0, binary(ctx.graph(), OpKind::Mul, dy, n.operand(1), dims));
  if (ctx.needsGrad(1)) addBinaryGrad(ctx, 1, binary(ctx.graph(), OpKind::Mul, dy, n.operand(0), dims));
}

// ============================================================================
// div: y = a / b; da = dy / b, db = -(dy / b) y
// ============================================================================

void gradDiv(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  Node &n = ctx.node();
  Graph &g = ctx.graph();
  Value da = binary(g, OpKind::Div, ctx.outGrad(0), n.operand(1), n.attrs().getInts("broadcast"));
  if (ctx.needsGrad(0)) addBinaryGrad(ctx, 0, da);
  if (ctx.needsGrad(1)) addBinaryGrad(ctx, 1, unary(g, OpKind::Neg, binary(g, OpKind::Mul, da, n.result(0))));
}

// ============================================================================
// maximum, minimum: the gradient goes to the winner; ties go to operand 0
// ============================================================================

template <bool isMax> void gradMinMax(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  Node &n = ctx.node();
  Graph &g = ctx.graph();
  Value dy = ctx.outGrad(0);
  Value zero = scalar(g, 0.0, dy.dtype());
  Value first = compare(g, n.operand(0), n.operand(1), isMax ? "ge" : "le", n.attrs().getInts("broadcast"));
  if (ctx.needsGrad(0)) addBinaryGrad(ctx, 0, select(g, first, dy, zero));
  if (ctx.needsGrad(1)) addBinaryGrad(ctx, 1, select(g, first, zero, dy));
}

// ============================================================================
// cmp {pred}: comparison to bool; no gradient
// ============================================================================

constexpr AttrSpec kCmpAttrs[] = {{"pred", AttrKind::String, ""}, {"broadcast", AttrKind::Ints, "[]"}};

std::vector<TensorType> inferCmp(const InferContext &c) {
  const std::string &p = c.attrs.getString("pred");
  KILN_USER_CHECK(p == "lt" || p == "le" || p == "gt" || p == "ge" || p == "eq" || p == "ne")
      << c.op << ": unknown predicate \"" << p << "\" (expected lt, le, gt, ge, eq or ne)";
  std::vector<TensorType> r = inferBinary<false>(c);
  r[0].dtype = DType::Bool;
  return r;
}

int32_t formulaCmp(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &attrs) {
  const std::string &p = attrs.getString("pred");
  if (p == "lt") return b.binary(ScalarOp::Lt, x[0], x[1]);
  if (p == "le") return b.binary(ScalarOp::Le, x[0], x[1]);
  if (p == "gt") return b.binary(ScalarOp::Lt, x[1], x[0]);
  if (p == "ge") return b.binary(ScalarOp::Le, x[1], x[0]);
  int32_t eq = b.binary(ScalarOp::Eq, x[0], x[1]);
  if (p == "eq") return eq;
  return b.select(eq, b.constant(0.0, DType::Bool), b.constant(1.0, DType::Bool));
}

// ============================================================================
// select(cond, a, b): cond ? a : b, numpy broadcasting of all three
// ============================================================================

std::vector<TensorType> inferSelect(const InferContext &c) {
  const TensorType &cond = c.operands[0], &a = c.operands[1], &b = c.operands[2];
  KILN_USER_CHECK(cond.dtype == DType::Bool) << c.op << ": condition must be bool, got " << typeString(cond);
  KILN_USER_CHECK(a.dtype == b.dtype)
      << c.op << ": value dtypes differ, " << typeString(a) << " and " << typeString(b);
  Shape s = broadcastShape(broadcastShape(cond.shape, a.shape, c.op), b.shape, c.op);
  return {TensorType{a.dtype, s}};
}

int32_t formulaSelect(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &) {
  return b.select(x[0], x[1], x[2]);
}

void gradSelect(GradContext &ctx) {
  if (!binaryGradFlows(ctx)) return;
  Node &n = ctx.node();
  Graph &g = ctx.graph();
  Value dy = ctx.outGrad(0), zero = scalar(g, 0.0, dy.dtype());
  if (ctx.needsGrad(1))
    ctx.addGrad(1, sumToShape(g, select(g, n.operand(0), dy, zero), n.operand(1).shape()));
  if (ctx.needsGrad(2))
    ctx.addGrad(2, sumToShape(g, select(g, n.operand(0), zero, dy), n.operand(2).shape()));
}

// ============================================================================
// dropout(x, key) {rate, seed}: u >= rate ? x / (1 - rate) : 0,
// u = kilnRandomUniform(seed, key, linear index)
// ============================================================================

constexpr AttrSpec kDropoutAttrs[] = {{"rate", AttrKind::Float, ""}, {"seed", AttrKind::Int, "0"}};

std::vector<TensorType> inferDropout(const InferContext &c) {
  const TensorType &x = c.operands[0], &key = c.operands[1];
  KILN_USER_CHECK(isFloat(x.dtype)) << c.op << ": expects a float operand, got " << typeString(x);
  KILN_USER_CHECK(key.dtype == DType::I64 && key.rank() == 0)
      << c.op << ": key must be i64[], got " << typeString(key);
  double rate = c.attrs.getFloat("rate");
  KILN_USER_CHECK(rate >= 0.0 && rate < 1.0) << c.op << ": rate " << rate << " outside [0,1)";
  return {x};
}

int32_t formulaDropout(FormulaBuilder &b, std::span<const int32_t> x, const AttrMap &attrs) {
  double rate = attrs.getFloat("rate");
  DType t = b.typeOf(x[0]);
  int32_t u = b.random(attrs.getInt("seed"), x[1], b.index());
  int32_t drop = b.binary(ScalarOp::Lt, u, b.constant(rate, DType::F32));
  int32_t kept = b.binary(ScalarOp::Div, x[0], b.constant(1.0 - rate, t));
  return b.select(drop, b.constant(0.0, t), kept);
}

void gradDropout(GradContext &ctx) {
  Node &n = ctx.node();
  if (!ctx.outGrad(0) || !ctx.needsGrad(0)) return;
  ctx.addGrad(0, ctx.graph().build(OpKind::Dropout, {ctx.outGrad(0), n.operand(1)}, n.attrs()));
}

} // namespace

// ============================================================================
// hooks, in ops.def order
// ============================================================================

const OpHooks NegHooks{.summary = "-x", .attrs = {}, .infer = inferUnary<true>,
                       .formula = formulaUnary<ScalarOp::Neg>, .grad = gradNeg};
const OpHooks ExpHooks{.summary = "e^x", .attrs = {}, .infer = inferUnary<false>,
                       .formula = formulaUnary<ScalarOp::Exp>, .grad = gradExp};
const OpHooks LogHooks{.summary = "natural logarithm", .attrs = {}, .infer = inferUnary<false>,
                       .formula = formulaUnary<ScalarOp::Log>, .grad = gradLog};
const OpHooks SqrtHooks{.summary = "square root", .attrs = {}, .infer = inferUnary<false>,
                        .formula = formulaUnary<ScalarOp::Sqrt>, .grad = gradSqrt};
const OpHooks RsqrtHooks{.summary = "1 / sqrt(x)", .attrs = {}, .infer = inferUnary<false>, .formula = formulaRsqrt,
                         .grad = gradRsqrt};
const OpHooks AbsHooks{.summary = "|x|", .attrs = {}, .infer = inferUnary<true>,
                       .formula = formulaUnary<ScalarOp::Abs>, .grad = gradAbs};
const OpHooks ReluHooks{.summary = "max(x, 0)", .attrs = {}, .infer = inferUnary<false>, .formula = formulaRelu,
                        .grad = gradRelu};
const OpHooks SigmoidHooks{.summary = "1 / (1 + e^-x)", .attrs = {}, .infer = inferUnary<false>, .formula = formulaSigmoid,
                           .grad = gradSigmoid};
const OpHooks TanhHooks{.summary = "hyperbolic tangent", .attrs = {}, .infer = inferUnary<false>,
                        .formula = formulaUnary<ScalarOp::Tanh>, .grad = gradTanh};
const OpHooks CastHooks{.summary = "converts to another dtype (float to int truncates toward zero)",
                        .attrs = kCastAttrs, .infer = inferCast, .formula = formulaCast, .grad = gradCast};
const OpHooks AddHooks{.summary = "a + b, broadcasting", .attrs = kBinaryAttrs,
                       .traits = kCommutative | kBroadcasting, .infer = inferBinary<true>,
                       .formula = formulaBinary<ScalarOp::Add>, .grad = gradAdd};
const OpHooks SubHooks{.summary = "a - b, broadcasting", .attrs = kBinaryAttrs, .traits = kBroadcasting,
                       .infer = inferBinary<true>, .formula = formulaBinary<ScalarOp::Sub>, .grad = gradSub};
const OpHooks MulHooks{.summary = "a * b, broadcasting", .attrs = kBinaryAttrs,
                       .traits = kCommutative | kBroadcasting, .infer = inferBinary<true>,
                       .formula = formulaBinary<ScalarOp::Mul>, .grad = gradMul};
const OpHooks DivHooks{.summary = "a / b, broadcasting (integers truncate; x / 0 = 0)", .attrs = kBinaryAttrs,
                       .traits = kBroadcasting, .infer = inferBinary<true>,
                       .formula = formulaBinary<ScalarOp::Div>, .grad = gradDiv};
const OpHooks MaximumHooks{.summary = "elementwise max(a, b), broadcasting", .attrs = kBinaryAttrs,
                           .traits = kCommutative | kBroadcasting, .infer = inferBinary<true>,
                           .formula = formulaBinary<ScalarOp::Max>, .grad = gradMinMax<true>};
const OpHooks MinimumHooks{.summary = "elementwise min(a, b), broadcasting", .attrs = kBinaryAttrs,
                           .traits = kCommutative | kBroadcasting, .infer = inferBinary<true>,
                           .formula = formulaBinary<ScalarOp::Min>, .grad = gradMinMax<false>};
const OpHooks CmpHooks{.summary = "comparison (lt le gt ge eq ne) to bool, broadcasting", .attrs = kCmpAttrs,
                       .traits = kNoGradient | kBroadcasting, .infer = inferCmp, .formula = formulaCmp};
const OpHooks SelectHooks{.summary = "cond ? a : b, numpy broadcasting of all three", .attrs = {}, .traits = kBroadcasting,
                          .infer = inferSelect,
                          .formula = formulaSelect, .grad = gradSelect};
const OpHooks DropoutHooks{.summary = "keeps x / (1 - rate) with probability 1 - rate, else 0",
                           .attrs = kDropoutAttrs, .infer = inferDropout, .formula = formulaDropout,
                           .grad = gradDropout};

} // namespace kiln
