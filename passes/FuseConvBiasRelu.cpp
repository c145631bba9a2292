// passes/FuseConvBiasRelu.cpp - the fuse-conv pass: conv2d + bias add [+ relu [+ max_pool2d]].
//
// The conv's epilogue takes the per-channel bias, the relu and the 2-D max
// pooling that follow it, so in inference the pre-pool activation is never
// written. A member result that other nodes still read (in training: the relu
// output that max_pool2d_grad and the relu-gradient mask need) becomes a result
// of the region; nothing is recomputed. Relu-gradient masks are first moved
// from the pre-activation to the relu output (canonicalizeReluMasks), so the
// pre-activation does not have to be kept for backward. A dropout layer that
// only reads the last of them joins too where the backend wants it
// (FusionCaps::convDropout): its mask is applied as the value is stored.
#include "passes/Fusion.h"
#include "passes/Pass.h"

namespace kiln {

namespace {

/// conv2d, bias [, relu [, max_pool2d when `pool`]] [, the dropout layer after
/// them when `dropout`].
RegionMatch matchConv(const UseIndex &idx, Node *conv, bool pool, bool dropout) {
  if (conv->kind() != OpKind::Conv2d)
    return {};
  Node *bias = findBiasAdd(idx, conv->result(), 1);
  if (!bias)
    return {};
  RegionMatch m{{conv, bias}, "conv_bias"};
  if (Node *relu = findUser(idx, bias->result(), OpKind::Relu)) {
    m.members.push_back(relu);
    m.name = "conv_bias_relu";
    if (Node *p = pool ? findUser(idx, relu->result(), OpKind::MaxPool2d) : nullptr) {
      m.members.push_back(p);
      m.name = "conv_bias_relu_pool";
    }
  }
  if (Node *drop = dropout ? findOnlyDropout(idx, m.members.back()->result()) : nullptr)
    m.members.push_back(drop);
  return m;
}

} // namespace

bool fuseConvPass(Graph &g, PassContext &ctx) {
  int64_t masks = canonicalizeReluMasks(g);
  if (masks)
    ctx.bump("fuse.relu-mask", masks);
  // Without a pooled kernel, the pool stays outside; the rest still fuses.
  FusionCaps caps = fusionCaps(ctx.backend);
  return fuseEachAnchor(g, ctx,
                        [&caps](const UseIndex &idx, Node *n) {
                          return matchConv(idx, n, caps.convBiasReluPool, caps.convDropout);
                        }) ||
         masks != 0;
}

} // namespace kiln
