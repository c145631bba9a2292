// passes/Fusion.h - fusion capabilities per backend and the region-building helpers of the fusion passes.
//
// A fused group is an ordinary `fused` node (ir/ops.def, OpClass::Region) whose
// body graph computes its results; printer, Graphviz writer and interpreter
// show and run it like any node. The fusion passes (fuse-conv, fuse-matmul,
// fuse-softmax, fuse-backward, fuse-optimizer, fuse-elementwise and the
// umbrella `fuse`) only form regions; they never change what is computed.
//
// Region conventions (the backends rely on them):
//  * attr `name` is the pattern:
//      "conv_bias"            conv2d, add(bias), [dropout]
//      "conv_bias_relu"       conv2d, add(bias), relu, [dropout]
//      "conv_bias_relu_pool"  conv2d, add(bias), relu, max_pool2d, [dropout]
//      "matmul_bias"          matmul, add(bias), [dropout]
//      "matmul_bias_act"      matmul, add(bias), relu | sigmoid | tanh, [dropout]
//      "conv_input_grad_mask" conv2d_input_grad, [elementwise...], cmp, select  (relu-gradient mask)
//      "matmul_grad_mask"     matmul, [elementwise...], cmp, select
//      "pool_grad_mask"       [dropout | mul], max_pool2d_grad, [elementwise...], cmp, select
//      "pool_grad_wgrad"      a "pool_grad_mask" chain, then conv2d_filter_grad and at most one
//                             per-channel reduce_sum, the only readers of the masked gradient
//                             (a first layer's filter and bias gradients)
//      "softmax_xent"         two or more of softmax, log_softmax, softmax_cross_entropy,
//                             softmax_cross_entropy_grad reading the same logits (one row pass)
//      "bias_grad"            elementwise producers, then ONE reduce_sum last (input fusion)
//      "optimizer_update"     elementwise ops computing new parameter/state values (several outputs)
//      "grad_update"          matmul | conv2d_filter_grad | reduce_sum | reduce_mean computing a
//                             parameter's gradient (read by nothing else), then the elementwise ops
//                             of its "optimizer_update" (stored through a several-result epilogue)
//      "elementwise"          elementwise ops and broadcasts of one iteration shape
//    [dropout] is a trailing dropout layer that only the pattern's last result
//    feeds (stored through the kernel's epilogue); the dropout or mul before a
//    max_pool2d_grad is the gradient's only reader (read inline by the pool grad).
//    The conv patterns take the dropout, and pool_grad_mask its prologue, only
//    where FusionCaps says so (convDropout, poolGradDropout).
//  * The body holds ONE anchor op (conv/matmul/pool/softmax-class) first, followed
//    only by elementwise ops (and, for "*_pool", one max_pool2d, then at most a
//    dropout); "pool_grad_mask" may start with its gradient's dropout; "elementwise"
//    and "optimizer_update" bodies hold only elementwise ops and `broadcast`s whose
//    results all have the region's iteration shape. Exceptions: "softmax_xent" holds
//    only softmax-class ops; "bias_grad" puts its reduce_sum anchor last;
//    "pool_grad_wgrad" ends with the filter gradient and the reduce_sum;
//    "grad_update" is anchored by its gradient op (a reduction too), first where
//    the optimizer's ops follow the backward pass (as the DSL's optimizers append them).
//  * Splat `constant`s an op of the group reads are copied into the body (never
//    region operands). Body inputs are arg0, arg1, ... one per region operand.
//  * Results are exactly the member results used outside the group (by other
//    nodes or as graph outputs), in member program order; nothing is recomputed.
//    A single-result region carries the member's name; a named graph output of a
//    multi-result region is kept by a `reshape` to its own shape carrying the name.
//  * A backend that has no kernel for a pattern runs the body op by op, so fusion
//    never breaks a backend; FusionCaps says which patterns a backend has kernels
//    for, and the passes form only those.
#ifndef KILN_PASSES_FUSION_H
#define KILN_PASSES_FUSION_H

#include "ir/Graph.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln {

/// Which fusion patterns a backend has kernels for.
struct FusionCaps {
  bool convBiasRelu = false;      ///< "conv_bias", "conv_bias_relu"
  bool convBiasReluPool = false;  ///< "conv_bias_relu_pool"
  bool matmulBiasAct = false;     ///< "matmul_bias", "matmul_bias_act"
  bool softmaxXent = false;       ///< "softmax_xent"
  bool gradMask = false;          ///< "conv_input_grad_mask", "matmul_grad_mask", "pool_grad_mask"
  bool biasGrad = false;          ///< "bias_grad"
  bool poolGradWeightGrads = false; ///< "pool_grad_wgrad"
  bool convDropout = false;       ///< a trailing [dropout] joins the conv patterns
  bool poolGradDropout = false;   ///< "pool_grad_mask" may start with its gradient's dropout or mul
  bool optimizerUpdate = false;   ///< "optimizer_update"
  bool gradUpdate = false;        ///< "grad_update" (with optimizerUpdate; KILN_GRAD_UPDATE=0: off)
  bool elementwise = false;       ///< "elementwise"

  /// True when the backend supports regions named `pattern`.
  bool supports(std::string_view pattern) const;
};

/// The capabilities of backend "interp", "cpu" or "cuda" (UserError otherwise).
FusionCaps fusionCaps(std::string_view backend);

/// Who uses what in one graph, built once and valid until the graph changes.
class UseIndex {
public:
  explicit UseIndex(const Graph &g);
  /// Body nodes using any result of `n` (each once), in program order.
  const std::vector<Node *> &users(const Node *n) const;
  /// Body nodes using `v` (each once).
  std::vector<Node *> users(Value v) const;
  /// Number of uses of `v` by body nodes and graph outputs.
  size_t useCount(Value v) const;
  /// True when `v` is a graph output.
  bool isOutput(Value v) const;
  /// Program position of a body node, -1 for others.
  int64_t position(const Node *n) const;

private:
  const Graph &g_;
  std::unordered_map<const Node *, std::vector<Node *>> users_;
  std::unordered_map<const Node *, int64_t> pos_;
  std::unordered_set<Value, ValueHash> outputs_;
};

/// True when no path leaves `members` and comes back through a non-member, i.e.
/// the group can become one node without a cycle.
bool isConvex(const UseIndex &idx, const std::unordered_set<const Node *> &members);

/// Moves `members` (body nodes of `g`) into the body of a new `fused` node
/// named `name`, following the conventions above, and replaces every outside
/// use. Preconditions: members are distinct, none is a region or a side
/// effect, and the group is convex. Returns the new node.
Node *makeRegion(Graph &g, std::span<Node *const> members, std::string name);

/// True for a node an elementwise region may hold: an Elementwise-class op or a
/// `broadcast`, single result.
bool isFusibleElementwise(const Node *n);

/// The first body user of `v` of kind `kind` reading `v` as operand 0, or null.
Node *findUser(const UseIndex &idx, Value v, OpKind kind);

/// An add(v, b) or add(b, v) user of `v` whose result type is v's and whose b is
/// a per-channel bias: b has as many elements as dim `channelDim` of v. Null if none.
Node *findBiasAdd(const UseIndex &idx, Value v, size_t channelDim);

/// The dropout(v, key) that is `v`'s only use (not a graph output), or null.
Node *findOnlyDropout(const UseIndex &idx, Value v);

/// True when `v` is a splat constant equal to zero.
bool isZeroConstant(Value v);

/// True when `n` is cmp(y, 0, "gt") (the relu-gradient mask); *y receives y.
bool isReluMask(const Node *n, Value *y = nullptr);

/// Rewrites cmp(z, 0, "gt") into cmp(relu(z), 0, "gt") when relu(z) exists, so the
/// pre-activation z is not kept alive for backward (exact: relu(z) > 0 iff z > 0).
/// Then cmp(r, 0, "gt") becomes cmp(dropout(r, key), 0, "gt") when a dropout of r
/// exists and every select the mask drives picks between a value dropped by that
/// same mask (dropout(g, key), same seed and rate) and 0, so the activation
/// before a dropout layer is not kept either (exact: where the mask drops, both
/// choices are 0; where it keeps, dropout(r) = r / (1 - rate) has r's sign).
/// Returns the number of masks rewritten.
int64_t canonicalizeReluMasks(Graph &g);

/// Grows a group of fusible elementwise nodes of `seed`'s result shape from
/// `seed` over producers and users, skipping `taken` nodes and keeping the
/// group convex. Returns the members (seed included) in program order.
std::vector<Node *> growElementwiseGroup(const UseIndex &idx, Node *seed,
                                         const std::unordered_set<const Node *> &taken);

/// What a pattern proposes for one anchor node: the members and the pattern name
/// (no members: no match).
struct RegionMatch {
  std::vector<Node *> members;
  std::string name;
};
using RegionMatcher = std::function<RegionMatch(const UseIndex &idx, Node *anchor)>;

/// Offers every body node to `match` once (program order, rescanning after each
/// region) and forms the proposed regions through tryMakeRegion. Returns true if
/// any region was formed.
struct PassContext;
bool fuseEachAnchor(Graph &g, PassContext &ctx, const RegionMatcher &match);

/// Forms a region for `members` when the pattern is supported by ctx.backend and
/// the group is convex; bumps "fuse.<name>". Returns the region or null.
Node *tryMakeRegion(Graph &g, PassContext &ctx, std::span<Node *const> members, const std::string &name);

} // namespace kiln

#endif // KILN_PASSES_FUSION_H
