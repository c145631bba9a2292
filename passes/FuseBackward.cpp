// passes/FuseBackward.cpp - the fuse-backward pass: relu-gradient masks and bias-gradient reductions.
//
// Autodiff writes the gradient of relu(z) as select(cmp(y, 0, "gt"), g, 0);
// the mask is folded into the kernel that produces g: conv2d_input_grad,
// matmul or max_pool2d_grad, through single-use elementwise steps between them
// (the dropout gradient of a dropout layer). A bias gradient (a reduce_sum to
// rank 1) takes the elementwise ops that produce its operand as a prologue.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <algorithm>

namespace kiln {

namespace {

std::string maskPatternOf(OpKind k) {
  switch (k) {
  case OpKind::Conv2dInputGrad: return "conv_input_grad_mask";
  case OpKind::Matmul: return "matmul_grad_mask";
  case OpKind::MaxPool2dGrad: return "pool_grad_mask";
  default: return "";
  }
}

/// select(mask, v, 0) with mask = cmp(y, 0, "gt") reading `v`, or null.
Node *findMaskSelect(const UseIndex &idx, Value v) {
  for (Node *u : idx.users(v)) {
    if (u->kind() != OpKind::Select || u->operand(1) != v || !isZeroConstant(u->operand(2)) ||
        u->resultType() != v.type())
      continue;
    if (isReluMask(u->operand(0).node))
      return u;
  }
  return nullptr;
}

/// A single-use step between a gradient kernel and its mask: dropout(v, key) or mul.
Node *findPassThrough(const UseIndex &idx, Value v) {
  std::vector<Node *> users = idx.users(v);
  if (idx.useCount(v) != 1 || users.size() != 1)
    return nullptr; // a graph output, or read twice
  Node *u = users.front();
  if (u->resultType() != v.type() || u->operand(0) != v)
    return nullptr;
  return u->kind() == OpKind::Dropout || u->kind() == OpKind::Mul ? u : nullptr;
}

RegionMatch matchGradMask(const UseIndex &idx, Node *anchor) {
  std::string name = maskPatternOf(anchor->kind());
  if (name.empty())
    return {};
  RegionMatch m{{anchor}, name};
  Value v = anchor->result();
  for (int step = 0; step < 4; ++step) {
    if (Node *sel = findMaskSelect(idx, v)) {
      m.members.push_back(sel);
      Node *cmp = sel->operand(0).node;
      if (idx.position(cmp) >= 0 && idx.useCount(cmp->result()) == 1)
        m.members.push_back(cmp);
      return m;
    }
    Node *next = findPassThrough(idx, v);
    if (!next)
      break;
    m.members.push_back(next);
    v = next->result();
  }
  return {};
}

RegionMatch matchBiasGrad(const UseIndex &idx, Node *red) {
  if (red->kind() != OpKind::ReduceSum || red->resultType().rank() != 1)
    return {};
  Node *p = red->operand(0).node;
  if (idx.position(p) < 0 || !isFusibleElementwise(p))
    return {};
  // Producers only (the reduction stays last), each of the reduce operand's shape.
  const Shape domain = p->resultType().shape;
  std::unordered_set<const Node *> group{red, p}, rejected;
  if (!isConvex(idx, group))
    return {};
  std::vector<Node *> members{p}, work{p};
  while (!work.empty()) {
    Node *n = work.back();
    work.pop_back();
    for (const Value &v : n->operands()) {
      Node *c = v.node;
      if (group.count(c) || rejected.count(c) || idx.position(c) < 0 || !isFusibleElementwise(c) ||
          c->resultType().shape != domain)
        continue;
      group.insert(c);
      if (!isConvex(idx, group)) {
        group.erase(c);
        rejected.insert(c);
        continue;
      }
      members.push_back(c);
      work.push_back(c);
    }
  }
  members.push_back(red);
  return {members, "bias_grad"};
}

} // namespace

bool fuseBackwardPass(Graph &g, PassContext &ctx) {
  int64_t masks = canonicalizeReluMasks(g);
  if (masks)
    ctx.bump("fuse.relu-mask", masks);
  bool changed = fuseEachAnchor(g, ctx, matchGradMask);
  changed |= fuseEachAnchor(g, ctx, matchBiasGrad);
  return changed || masks != 0;
}

} // namespace kiln
