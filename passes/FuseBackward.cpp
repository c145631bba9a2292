// passes/FuseBackward.cpp - the fuse-backward pass: relu-gradient masks and bias-gradient reductions.
//
// Autodiff writes the gradient of relu(z) as select(cmp(y, 0, "gt"), g, 0);
// the mask is folded into the kernel that produces g: conv2d_input_grad,
// matmul or max_pool2d_grad, through single-use elementwise steps between them
// (the dropout gradient of a dropout layer); a max_pool2d_grad also takes the
// dropout gradient that produces its input where the backend wants it
// (FusionCaps::poolGradDropout). A bias gradient (a reduce_sum to
// rank 1) takes the elementwise ops that produce its operand as a prologue.
// A pooled layer's masked gradient that only feeds its bias and filter
// gradients (the first layer: no input gradient) joins them in one region, so
// a backend can keep it per image in cache instead of writing it out.
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

/// The dropout or mul producing max_pool2d_grad's gradient (operand 0) whose
/// only reader is the pool grad, or null: the pool grad reads each gradient
/// element once per window, so it can apply the step as it reads.
Node *poolGradPrologue(const UseIndex &idx, Node *anchor) {
  if (anchor->kind() != OpKind::MaxPool2dGrad)
    return nullptr;
  Value dy = anchor->operand(0);
  Node *p = dy.node;
  if (idx.position(p) < 0 || (p->kind() != OpKind::Dropout && p->kind() != OpKind::Mul) ||
      p->operand(0).type() != dy.type() || idx.useCount(dy) != 1)
    return nullptr;
  return p;
}

RegionMatch matchGradMask(const UseIndex &idx, Node *anchor, bool prologue) {
  std::string name = maskPatternOf(anchor->kind());
  if (name.empty())
    return {};
  RegionMatch m{{anchor}, name};
  if (Node *pre = prologue ? poolGradPrologue(idx, anchor) : nullptr)
    m.members.insert(m.members.begin(), pre);
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

/// The select ending a grad-mask match (its masked gradient), or null.
Node *maskedGradient(const RegionMatch &m) {
  for (Node *n : m.members)
    if (n->kind() == OpKind::Select && isReluMask(n->operand(0).node))
      return n;
  return nullptr;
}

/// True when reduce_sum `r` is a per-channel (dim 1) bias gradient of its NCHW operand.
bool isChannelSum(const Node *r) {
  if (r->kind() != OpKind::ReduceSum || r->attrs().getBool("keepdims") || r->operand(0).shape().size() != 4)
    return false;
  std::vector<int64_t> axes = r->attrs().getInts("axes");
  std::sort(axes.begin(), axes.end());
  return axes == std::vector<int64_t>{0, 2, 3} || axes == std::vector<int64_t>{-4, -2, -1};
}

/// "pool_grad_wgrad": a pool_grad_mask chain whose masked gradient is read
/// only by conv2d_filter_grad (as dy) and at most one per-channel reduce_sum.
RegionMatch matchPoolGradWeightGrads(const UseIndex &idx, Node *anchor, bool prologue) {
  if (anchor->kind() != OpKind::MaxPool2dGrad)
    return {};
  RegionMatch m = matchGradMask(idx, anchor, prologue);
  Node *sel = maskedGradient(m);
  if (!sel)
    return {};
  Value dz = sel->result();
  Node *filterGrad = nullptr, *biasGrad = nullptr;
  for (Node *u : idx.users(dz)) {
    if (u->kind() == OpKind::Conv2dFilterGrad && u->operand(1) == dz && u->operand(0) != dz && !filterGrad)
      filterGrad = u;
    else if (isChannelSum(u) && !biasGrad)
      biasGrad = u;
    else
      return {};
  }
  if (!filterGrad || idx.useCount(dz) != (biasGrad ? 2u : 1u))
    return {}; // a graph output, or read by anything else
  m.members.push_back(filterGrad);
  if (biasGrad)
    m.members.push_back(biasGrad);
  m.name = "pool_grad_wgrad";
  return m;
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
  const bool prologue = fusionCaps(ctx.backend).poolGradDropout;
  bool changed = fuseEachAnchor(g, ctx, [prologue](const UseIndex &idx, Node *n) {
    return matchPoolGradWeightGrads(idx, n, prologue);
  });
  changed |= fuseEachAnchor(g, ctx, [prologue](const UseIndex &idx, Node *n) { return matchGradMask(idx, n, prologue); });
  changed |= fuseEachAnchor(g, ctx, matchBiasGrad);
  return changed || masks != 0;
}

} // namespace kiln
