// ir/ops/Source.cpp - the source op blocks: input, parameter, state, constant.
//
// input, parameter and state are signature nodes: their types are given when
// they are created, so they have no inference; the interpreter and the
// backends read their values from the caller. constant is a splat of one
// value with the dtype and shape of its attributes.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/OpInfo.h"

namespace kiln {
namespace {

// ============================================================================
// constant
// ============================================================================

constexpr AttrSpec kConstantAttrs[] = {
    {"value", AttrKind::Float, "", true},
    {"dtype", AttrKind::String, "\"f32\"", true},
    {"shape", AttrKind::Ints, "[]", true},
};

std::vector<TensorType> inferConstant(const InferContext &c) {
  const std::string &name = c.attrs.getString("dtype");
  std::optional<DType> t = parseDType(name);
  KILN_USER_CHECK(t) << c.op << ": unknown dtype \"" << name << "\"";
  const Shape &shape = c.attrs.getInts("shape");
  for (int64_t d : shape)
    KILN_USER_CHECK(d >= 0) << c.op << ": negative dimension in shape " << shapeString(shape);
  return {TensorType{*t, shape}};
}

void evalConstant(const Node &node, std::span<const HostTensor *const>, std::span<HostTensor> out) {
  double v = node.attrs().getFloat("value");
  for (int64_t i = 0; i < out[0].numel(); ++i)
    out[0].set(i, v);
}

} // namespace

// ============================================================================
// input, parameter, state
// ============================================================================

const OpHooks InputHooks{
    .summary = "a value fed at every run (images, labels, learning rate)", .attrs = {},
    .traits = kNoTraits,
};

const OpHooks ParameterHooks{
    .summary = "a trainable parameter, persisting between runs", .attrs = {},
    .traits = kNoTraits,
};

const OpHooks StateHooks{
    .summary = "optimizer or other persistent state, not trained", .attrs = {},
    .traits = kNoTraits,
};

const OpHooks ConstantHooks{
    .summary = "a tensor of the given dtype and shape with every element equal to value",
    .attrs = kConstantAttrs,
    .traits = kNoGradient,
    .infer = inferConstant,
    .eval = evalConstant,
};

} // namespace kiln
