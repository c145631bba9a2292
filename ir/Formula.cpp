// ir/Formula.cpp - building, printing and reference evaluation of scalar formulas.
#include "ir/Formula.h"

#include "ir/Error.h"

#include <cmath>
#include <sstream>

namespace kiln {

namespace {
const char *scalarOpName(ScalarOp op) {
  switch (op) {
  case ScalarOp::Arg: return "arg";
  case ScalarOp::Const: return "const";
  case ScalarOp::Index: return "index";
  case ScalarOp::Add: return "add";
  case ScalarOp::Sub: return "sub";
  case ScalarOp::Mul: return "mul";
  case ScalarOp::Div: return "div";
  case ScalarOp::Max: return "max";
  case ScalarOp::Min: return "min";
  case ScalarOp::Neg: return "neg";
  case ScalarOp::Exp: return "exp";
  case ScalarOp::Log: return "log";
  case ScalarOp::Sqrt: return "sqrt";
  case ScalarOp::Tanh: return "tanh";
  case ScalarOp::Abs: return "abs";
  case ScalarOp::Lt: return "lt";
  case ScalarOp::Le: return "le";
  case ScalarOp::Eq: return "eq";
  case ScalarOp::Select: return "select";
  case ScalarOp::Cast: return "cast";
  case ScalarOp::Random: return "random";
  }
  return "?";
}

bool isBinary(ScalarOp op) {
  switch (op) {
  case ScalarOp::Add: case ScalarOp::Sub: case ScalarOp::Mul: case ScalarOp::Div:
  case ScalarOp::Max: case ScalarOp::Min: case ScalarOp::Lt: case ScalarOp::Le: case ScalarOp::Eq:
    return true;
  default: return false;
  }
}

bool isUnary(ScalarOp op) {
  switch (op) {
  case ScalarOp::Neg: case ScalarOp::Exp: case ScalarOp::Log: case ScalarOp::Sqrt:
  case ScalarOp::Tanh: case ScalarOp::Abs:
    return true;
  default: return false;
  }
}
} // namespace

std::string Formula::str() const {
  std::ostringstream os;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ScalarNode &n = nodes[i];
    os << "s" << i << ": " << dtypeName(n.type) << " = " << scalarOpName(n.op);
    if (n.op == ScalarOp::Arg)
      os << " " << n.imm;
    if (n.op == ScalarOp::Const)
      os << " " << n.value;
    if (n.op == ScalarOp::Random)
      os << " seed=" << n.imm;
    for (int32_t x : {n.a, n.b, n.c})
      if (x >= 0)
        os << " s" << x;
    os << "\n";
  }
  os << "roots:";
  for (int32_t r : roots)
    os << " s" << r;
  return os.str();
}

int32_t FormulaBuilder::push(ScalarNode n) {
  f_.nodes.push_back(n);
  return static_cast<int32_t>(f_.nodes.size() - 1);
}

int32_t FormulaBuilder::arg(int64_t operand, DType t) {
  for (size_t i = 0; i < f_.nodes.size(); ++i) // one Arg node per operand
    if (f_.nodes[i].op == ScalarOp::Arg && f_.nodes[i].imm == operand && f_.nodes[i].type == t)
      return static_cast<int32_t>(i);
  return push({ScalarOp::Arg, t, -1, -1, -1, operand, 0.0});
}

int32_t FormulaBuilder::constant(double v, DType t) {
  if (t == DType::F32)
    v = static_cast<float>(v);
  return push({ScalarOp::Const, t, -1, -1, -1, 0, v});
}

int32_t FormulaBuilder::index() { return push({ScalarOp::Index, DType::I64, -1, -1, -1, 0, 0.0}); }

int32_t FormulaBuilder::binary(ScalarOp op, int32_t a, int32_t b) {
  KILN_INTERNAL_CHECK(isBinary(op)) << "formula: " << scalarOpName(op) << " is not binary";
  KILN_INTERNAL_CHECK(typeOf(a) == typeOf(b))
      << "formula: " << scalarOpName(op) << " of " << dtypeName(typeOf(a)) << " and " << dtypeName(typeOf(b));
  bool cmp = op == ScalarOp::Lt || op == ScalarOp::Le || op == ScalarOp::Eq;
  return push({op, cmp ? DType::Bool : typeOf(a), a, b, -1, 0, 0.0});
}

int32_t FormulaBuilder::unary(ScalarOp op, int32_t a) {
  KILN_INTERNAL_CHECK(isUnary(op)) << "formula: " << scalarOpName(op) << " is not unary";
  return push({op, typeOf(a), a, -1, -1, 0, 0.0});
}

int32_t FormulaBuilder::select(int32_t cond, int32_t a, int32_t b) {
  KILN_INTERNAL_CHECK(typeOf(cond) == DType::Bool) << "formula: select condition is not bool";
  KILN_INTERNAL_CHECK(typeOf(a) == typeOf(b)) << "formula: select of different dtypes";
  return push({ScalarOp::Select, typeOf(a), cond, a, b, 0, 0.0});
}

int32_t FormulaBuilder::cast(int32_t a, DType t) {
  if (typeOf(a) == t)
    return a;
  return push({ScalarOp::Cast, t, a, -1, -1, 0, 0.0});
}

int32_t FormulaBuilder::random(int64_t seed, int32_t key, int32_t idx) {
  KILN_INTERNAL_CHECK(typeOf(key) == DType::I64 && typeOf(idx) == DType::I64) << "formula: random needs i64 key and index";
  return push({ScalarOp::Random, DType::F32, key, idx, -1, seed, 0.0});
}

namespace {
/// Rounds v to what dtype t can hold (float rounding, integer truncation, bool).
double representAs(double v, DType t) {
  switch (t) {
  case DType::F32: return static_cast<float>(v);
  case DType::F64: return v;
  case DType::I32: return static_cast<double>(static_cast<int32_t>(static_cast<int64_t>(v)));
  case DType::I64: return static_cast<double>(static_cast<int64_t>(v));
  case DType::U8: return static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(v)));
  case DType::Bool: return v != 0.0 ? 1.0 : 0.0;
  }
  return v;
}
} // namespace

double evalFormula(const Formula &f, int32_t root, std::span<const double> args, int64_t index) {
  thread_local std::vector<double> val;
  val.resize(f.nodes.size());
  for (int32_t i = 0; i <= root; ++i) {
    const ScalarNode &n = f.nodes[i];
    double a = n.a >= 0 ? val[n.a] : 0, b = n.b >= 0 ? val[n.b] : 0, c = n.c >= 0 ? val[n.c] : 0;
    bool isInt = isInteger(n.type);
    double r = 0;
    switch (n.op) {
    case ScalarOp::Arg: r = args[n.imm]; break;
    case ScalarOp::Const: r = n.value; break;
    case ScalarOp::Index: r = static_cast<double>(index); break;
    case ScalarOp::Add: r = a + b; break;
    case ScalarOp::Sub: r = a - b; break;
    case ScalarOp::Mul: r = a * b; break;
    case ScalarOp::Div:
      if (isInt)
        r = b == 0 ? 0 : static_cast<double>(static_cast<int64_t>(a) / static_cast<int64_t>(b));
      else
        r = a / b;
      break;
    case ScalarOp::Max: r = a > b || std::isnan(a) ? a : b; break;
    case ScalarOp::Min: r = a < b || std::isnan(a) ? a : b; break;
    case ScalarOp::Neg: r = -a; break;
    case ScalarOp::Exp: r = std::exp(a); break;
    case ScalarOp::Log: r = std::log(a); break;
    case ScalarOp::Sqrt: r = std::sqrt(a); break;
    case ScalarOp::Tanh: r = std::tanh(a); break;
    case ScalarOp::Abs: r = std::fabs(a); break;
    case ScalarOp::Lt: r = a < b; break;
    case ScalarOp::Le: r = a <= b; break;
    case ScalarOp::Eq: r = a == b; break;
    case ScalarOp::Select: r = a != 0 ? b : c; break;
    case ScalarOp::Cast: r = a; break;
    case ScalarOp::Random:
      r = kilnRandomUniform(static_cast<uint64_t>(n.imm), static_cast<uint64_t>(static_cast<int64_t>(a)),
                            static_cast<uint64_t>(static_cast<int64_t>(b)));
      break;
    }
    val[i] = representAs(r, n.type);
  }
  return val[root];
}

} // namespace kiln
