// passes/FuseSoftmax.cpp - the fuse-softmax pass: softmax-class ops sharing their logits.
//
// A train step computes softmax_cross_entropy(logits, labels) forward and
// softmax_cross_entropy_grad(logits, labels, dloss) backward; an eval step
// softmax(logits) and the loss. Each row's max and sum of exponentials are the
// same for all of them, so they form one "softmax_xent" region that a backend
// computes in one pass over the rows.
#include "passes/Fusion.h"
#include "passes/Pass.h"

namespace kiln {

namespace {

bool isSoftmaxClass(const Node *n) {
  switch (n->kind()) {
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::SoftmaxCrossEntropy:
  case OpKind::SoftmaxCrossEntropyGrad: return true;
  default: return false;
  }
}

/// The softmax axis of a softmax-class node (the loss ops work on the last axis).
int64_t axisOf(const Node *n) {
  int64_t rank = static_cast<int64_t>(n->operand(0).type().rank());
  if (n->kind() == OpKind::Softmax || n->kind() == OpKind::LogSoftmax) {
    int64_t a = n->attrs().getInt("axis");
    return a < 0 ? a + rank : a;
  }
  return rank - 1;
}

bool isLossOp(const Node *n) {
  return n->kind() == OpKind::SoftmaxCrossEntropy || n->kind() == OpKind::SoftmaxCrossEntropyGrad;
}

RegionMatch matchSoftmax(const UseIndex &idx, Node *first) {
  if (!isSoftmaxClass(first))
    return {};
  Value logits = first->operand(0);
  RegionMatch m{{first}, "softmax_xent"};
  for (Node *u : idx.users(logits)) {
    if (u == first || !isSoftmaxClass(u) || u->operand(0) != logits || axisOf(u) != axisOf(first) ||
        idx.position(u) < idx.position(first))
      continue;
    if (isLossOp(u) && isLossOp(first) && u->operand(1) != first->operand(1))
      continue; // different labels
    m.members.push_back(u);
  }
  return m;
}

} // namespace

bool fuseSoftmaxPass(Graph &g, PassContext &ctx) { return fuseEachAnchor(g, ctx, matchSoftmax); }

} // namespace kiln
