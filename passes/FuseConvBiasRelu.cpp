// passes/FuseConvBiasRelu.cpp - the fuse-conv pass: conv2d + bias add [+ relu [+ max_pool2d]].
//
// The conv's epilogue takes the per-channel bias, the relu and the 2-D max
// pooling that follow it, so in inference the pre-pool activation is never
// written. A member result that other nodes still read (in training: the relu
// output that max_pool2d_grad and the relu-gradient mask need) becomes a result
// of the region; nothing is recomputed. Relu-gradient masks are first moved
// from the pre-activation to the relu output (canonicalizeReluMasks), so the
// pre-activation does not have to be kept for backward.
#include "passes/Fusion.h"
#include "passes/Pass.h"

namespace kiln {

namespace {

RegionMatch matchConv(const UseIndex &idx, Node *conv) {
  if (conv->kind() != OpKind::Conv2d)
    return {};
  Node *bias = findBiasAdd(idx, conv->result(), 1);
  if (!bias)
    return {};
  RegionMatch m{{conv, bias}, "conv_bias"};
  Node *relu = findUser(idx, bias->result(), OpKind::Relu);
  if (!relu)
    return m;
  m.members.push_back(relu);
  m.name = "conv_bias_relu";
  Node *pool = findUser(idx, relu->result(), OpKind::MaxPool2d);
  if (!pool)
    return m;
  m.members.push_back(pool);
  m.name = "conv_bias_relu_pool";
  return m;
}

} // namespace

bool fuseConvPass(Graph &g, PassContext &ctx) {
  int64_t masks = canonicalizeReluMasks(g);
  if (masks)
    ctx.bump("fuse.relu-mask", masks);
  bool changed = masks != 0;
  // Without a pooled kernel, the pool stays outside; the rest still fuses.
  if (!fusionCaps(ctx.backend).convBiasReluPool)
    return fuseEachAnchor(g, ctx, [](const UseIndex &idx, Node *n) {
             RegionMatch m = matchConv(idx, n);
             if (m.name == "conv_bias_relu_pool") {
               m.members.pop_back();
               m.name = "conv_bias_relu";
             }
             return m;
           }) ||
           changed;
  return fuseEachAnchor(g, ctx, matchConv) || changed;
}

} // namespace kiln
