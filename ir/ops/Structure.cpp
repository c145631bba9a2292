// ir/ops/Structure.cpp - the effect and region op blocks: assign and fused.
//
// Neither has an eval hook: the interpreter writes assigned values into its
// environment after a run and runs a fused region's body graph itself.
// Neither has a gradient rule: autodiff runs before updates and fusion exist.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/OpInfo.h"

namespace kiln {
namespace {

// ============================================================================
// assign(target, value): target is a parameter or state of the signature (the
// verifier checks that); the new value becomes visible after the run.
// ============================================================================

std::vector<TensorType> inferAssign(const InferContext &ctx) {
  const TensorType &target = ctx.operands[0], &value = ctx.operands[1];
  KILN_USER_CHECK(target == value) << "assign: value " << typeString(value)
                                   << " does not match target " << typeString(target);
  return {};
}

// ============================================================================
// fused(operands...) {name}: a region; its body Graph has one input per operand
// (arg0, arg1, ...) and its outputs are the node's results. Result types are
// given at creation, so there is no inference.
// ============================================================================

constexpr AttrSpec kFusedAttrs[] = {
    {"name", AttrKind::String, ""},
};

} // namespace

const OpHooks AssignHooks{
    .summary = "writes value into a parameter or state; reads in the same run see the old value",
    .attrs = {},
    .traits = kSideEffect,
    .infer = inferAssign,
    .eval = nullptr,
    .grad = nullptr,
};

const OpHooks FusedHooks{
    .summary = "a fused group: a region whose body graph computes the node's results",
    .attrs = kFusedAttrs,
    .traits = kNoTraits,
    .infer = nullptr,
    .eval = nullptr,
    .grad = nullptr,
};

} // namespace kiln
