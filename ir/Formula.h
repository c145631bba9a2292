// ir/Formula.h - scalar formulas: the meaning of elementwise ops.
//
// An elementwise op is a formula over ~20 scalar primitives (ScalarOp). The
// interpreter, the LLVM emitter and the CUDA renderer implement only these
// primitives, so adding relu, sigmoid or gelu touches no backend. A fused
// elementwise group is one formula built by composing its members' formulas.
#ifndef KILN_IR_FORMULA_H
#define KILN_IR_FORMULA_H

#include "ir/Types.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln {

/// The scalar primitives. Operand slots a, b, c index earlier nodes.
enum class ScalarOp : uint8_t {
  Arg,    ///< operand `imm` of the kernel (loaded with broadcasting)
  Const,  ///< the constant `value`
  Index,  ///< linear (row-major) index of the output element, i64
  Add, Sub, Mul, Div, Max, Min, ///< binary arithmetic (a, b)
  Neg, Exp, Log, Sqrt, Tanh, Abs, ///< unary math (a)
  Lt, Le, Eq, ///< comparisons (a, b) -> bool
  Select, ///< a ? b : c
  Cast,   ///< converts a to this node's dtype
  Random, ///< uniform [0,1) f32 from counter-based hash of (seed=imm, key=a, index=b)
};

/// One node of a formula. `type` is the dtype of its result.
struct ScalarNode {
  ScalarOp op;
  DType type;
  int32_t a = -1, b = -1, c = -1;
  int64_t imm = 0;    ///< Arg: operand number; Random: seed
  double value = 0.0; ///< Const: the value
};

/// A DAG of scalar nodes; `roots` are the formula's results (one per output).
struct Formula {
  std::vector<ScalarNode> nodes;
  std::vector<int32_t> roots;
  /// Readable listing for dumps and test messages.
  std::string str() const;
};

/// Builds formulas; every method returns the new node's index. Operands must
/// have equal dtypes (Cast converts); comparisons yield bool.
class FormulaBuilder {
public:
  explicit FormulaBuilder(Formula &f) : f_(f) {}

  int32_t arg(int64_t operand, DType t);
  int32_t constant(double v, DType t);
  int32_t index();
  int32_t binary(ScalarOp op, int32_t a, int32_t b);
  int32_t unary(ScalarOp op, int32_t a);
  int32_t select(int32_t cond, int32_t a, int32_t b);
  int32_t cast(int32_t a, DType t);
  int32_t random(int64_t seed, int32_t key, int32_t index);
  DType typeOf(int32_t n) const { return f_.nodes.at(n).type; }
  Formula &formula() { return f_; }

private:
  int32_t push(ScalarNode n);
  Formula &f_;
};

/// The counter-based generator every backend reproduces bit for bit:
/// splitmix64 finalizer of (seed, key, index), top 24 bits scaled to [0,1).
inline uint64_t kilnMix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline float kilnRandomUniform(uint64_t seed, uint64_t key, uint64_t index) {
  uint64_t z = kilnMix64(seed * 0x9e3779b97f4a7c15ULL + key);
  z = kilnMix64(z + index * 0x9e3779b97f4a7c15ULL);
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

/// Evaluates formula node `root` given values of the Arg nodes and the output
/// index; f32 nodes are rounded to float after each primitive, so the result
/// equals a float32 evaluation. Used by the interpreter and constant folding.
double evalFormula(const Formula &f, int32_t root, std::span<const double> args, int64_t index);

} // namespace kiln

#endif // KILN_IR_FORMULA_H
