// ir/OpInfo.h - the op registry's C++ face: OpKind, OpClass, traits and hooks.
//
// ops.def names every op once; each op's block in ir/ops/<Family>.cpp defines
// its OpHooks: attributes, shape/dtype inference, reference evaluation, the
// scalar formula of elementwise ops and the gradient rule. Printer, parser,
// verifier, interpreter, autodiff, fusion and both emitters read this table
// and nothing else to learn about an op.
#ifndef KILN_IR_OPINFO_H
#define KILN_IR_OPINFO_H

#include "ir/Attr.h"
#include "ir/Types.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace kiln {

class Node;
class Graph;
class HostTensor;
class FormulaBuilder;
class GradContext;
struct Value;

/// Every op kind, generated from ops.def.
enum class OpKind : uint16_t {
#define KILN_OP(Kind, Mnemonic, Class, NumOperands, NumResults) Kind,
#include "ir/ops.def"
};
/// Number of op kinds.
inline constexpr size_t kNumOpKinds = 0
#define KILN_OP(Kind, Mnemonic, Class, NumOperands, NumResults) +1
#include "ir/ops.def"
    ;

/// What the fuser and the backends may do with an op.
enum class OpClass : uint8_t {
  Source,      ///< graph inputs, parameters, optimizer state, constants
  Elementwise, ///< a scalar formula applied per element, with broadcasting
  Layout,      ///< moves or reinterprets elements (reshape, transpose, broadcast)
  Reduction,   ///< reduces axes
  Matmul,      ///< matrix product, a kernel class of its own
  Conv,        ///< convolution and its two gradients
  Pool,        ///< pooling and its gradients
  Opaque,      ///< anything else with a reference implementation
  Effect,      ///< side effects (assign); never removed by dead-code elimination
  Region,      ///< a fused group holding a body graph
};
std::string_view opClassName(OpClass c);

/// Op traits, as a bit set: properties passes query instead of testing kinds.
enum Trait : uint32_t {
  kNoTraits = 0,
  kCommutative = 1u << 0,   ///< operands 0 and 1 may be swapped
  kSideEffect = 1u << 1,    ///< must not be removed or merged
  kNoGradient = 1u << 2,    ///< gradient is zero by definition (integer results, comparisons)
  kBroadcasting = 1u << 3,  ///< elementwise op whose operands broadcast numpy-style or by `broadcast`
};

/// What shape/dtype inference sees of a node being built or verified.
struct InferContext {
  std::string_view op;                  ///< mnemonic, for messages
  std::span<const TensorType> operands; ///< operand types
  const AttrMap &attrs;                 ///< attributes, defaults filled in
};

/// Computes result types; throws UserError ("conv2d: input has 3 channels, weight
/// expects 1") when operands or attributes are invalid. The message starts with
/// the op mnemonic; callers prepend the location.
using InferFn = std::vector<TensorType> (*)(const InferContext &);

/// Reference evaluation (the interpreter): reads `in`, writes the already
/// allocated `out` tensors. Obviously correct loops, f32 and f64 alike.
using EvalFn = void (*)(const Node &node, std::span<const HostTensor *const> in,
                        std::span<HostTensor> out);

/// Scalar formula of an elementwise op: returns the result given the scalar
/// operands `args` (already converted to the formula's operand dtypes).
using FormulaFn = int32_t (*)(FormulaBuilder &b, std::span<const int32_t> args, const AttrMap &attrs);

/// Gradient rule: builds, with ordinary ops, the gradients of the node's
/// operands from the gradients of its results (see GradContext).
using GradFn = void (*)(GradContext &ctx);

/// The hooks one op's block defines.
struct OpHooks {
  std::string_view summary;       ///< one line, printed by `kiln ops`
  std::span<const AttrSpec> attrs;///< declared attributes, in print order
  uint32_t traits = kNoTraits;    ///< Trait bits
  InferFn infer = nullptr;        ///< required for every op but sources
  EvalFn eval = nullptr;          ///< required unless `formula` is set
  FormulaFn formula = nullptr;    ///< elementwise ops only
  GradFn grad = nullptr;          ///< null: not differentiable (autodiff reports it)
};

/// Everything the registry knows about one op kind.
struct OpInfo {
  OpKind kind;
  std::string_view mnemonic;
  OpClass opClass;
  int numOperands; ///< -1: variadic
  int numResults;  ///< -1: variable
  const OpHooks &hooks;

  bool has(Trait t) const { return (hooks.traits & t) != 0; }
  /// The spec of attribute `name`, or null.
  const AttrSpec *findAttr(std::string_view name) const;
};

/// The registry entry of `kind`.
const OpInfo &opInfo(OpKind kind);
/// Looks an op up by mnemonic; nullopt if there is none.
std::optional<OpKind> opKindFromMnemonic(std::string_view mnemonic);
/// All entries, in ops.def order.
std::span<const OpInfo> allOps();

/// Fills `attrs` with the defaults of every declared attribute not yet set and
/// checks that each set attribute is declared and of its kind. Throws UserError
/// naming the op and the attribute.
void completeAttrs(const OpInfo &info, AttrMap &attrs);

#define KILN_OP(Kind, Mnemonic, Class, NumOperands, NumResults) extern const OpHooks Kind##Hooks;
#include "ir/ops.def"

} // namespace kiln

#endif // KILN_IR_OPINFO_H
