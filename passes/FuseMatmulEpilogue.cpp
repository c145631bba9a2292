// passes/FuseMatmulEpilogue.cpp - the fuse-matmul pass: matmul + bias add [+ activation].
//
// A dense layer's matmul takes its per-column bias and its relu, sigmoid or
// tanh into the epilogue, and a dropout layer that only the last of them
// feeds. Results other nodes read (the activation that backward needs) become
// region results; nothing is recomputed.
#include "passes/Fusion.h"
#include "passes/Pass.h"

namespace kiln {

namespace {

RegionMatch matchMatmul(const UseIndex &idx, Node *mm) {
  if (mm->kind() != OpKind::Matmul)
    return {};
  Node *bias = findBiasAdd(idx, mm->result(), 1);
  if (!bias)
    return {};
  RegionMatch m{{mm, bias}, "matmul_bias"};
  for (OpKind act : {OpKind::Relu, OpKind::Sigmoid, OpKind::Tanh})
    if (Node *a = findUser(idx, bias->result(), act)) {
      m.members.push_back(a);
      m.name = "matmul_bias_act";
      break;
    }
  if (Node *drop = findOnlyDropout(idx, m.members.back()->result()))
    m.members.push_back(drop);
  return m;
}

} // namespace

bool fuseMatmulPass(Graph &g, PassContext &ctx) {
  int64_t masks = canonicalizeReluMasks(g);
  if (masks)
    ctx.bump("fuse.relu-mask", masks);
  return fuseEachAnchor(g, ctx, matchMatmul) || masks != 0;
}

} // namespace kiln
