// passes/Fusion.cpp - fusion capabilities, the region builder the fusion passes share, and `fuse`.
//
// makeRegion is the only place that moves nodes into a region body; every
// fusion pass decides membership and calls it, so the conventions of
// passes/Fusion.h hold by construction.
#include "passes/Fusion.h"

#include "ir/Error.h"
#include "passes/Pass.h"
#include "passes/Rewrite.h"

#include <algorithm>
#include <cstdlib>

namespace kiln {

// ---- Capabilities -------------------------------------------------------------

bool FusionCaps::supports(std::string_view p) const {
  if (p == "conv_bias" || p == "conv_bias_relu")
    return convBiasRelu;
  if (p == "conv_bias_relu_pool")
    return convBiasReluPool;
  if (p == "matmul_bias" || p == "matmul_bias_act")
    return matmulBiasAct;
  if (p == "softmax_xent")
    return softmaxXent;
  if (p == "conv_input_grad_mask" || p == "matmul_grad_mask" || p == "pool_grad_mask")
    return gradMask;
  if (p == "bias_grad")
    return biasGrad;
  if (p == "pool_grad_wgrad")
    return poolGradWeightGrads;
  if (p == "optimizer_update")
    return optimizerUpdate;
  if (p == "grad_update")
    return gradUpdate;
  if (p == "elementwise")
    return elementwise;
  return false;
}

FusionCaps fusionCaps(std::string_view backend) {
  KILN_USER_CHECK(backend == "interp" || backend == "cpu" || backend == "cuda")
      << "fusion: unknown backend '" << backend << "' (known backends: interp, cpu, cuda)";
  // Every backend runs a region it has no kernel for op by op, so all three
  // accept every pattern; a backend narrows its row when a pattern's fused
  // form is slower there than the ops one by one.
  FusionCaps c;
  c.convBiasRelu = c.convBiasReluPool = c.matmulBiasAct = c.softmaxXent = true;
  c.gradMask = c.biasGrad = c.optimizerUpdate = c.elementwise = true;
  // Only the CPU has a kernel keeping a masked gradient per image in cache;
  // elsewhere it would only hide the mask from pool_grad_mask.
  c.poolGradWeightGrads = backend == "cpu";
  // On the CPU a dropout's random numbers cost more in a pooled conv's
  // epilogue or a pool gradient's scalar rows than in the dropout's own
  // vectorized loop, more than the pass over memory it saves (the report
  // CNN's step, measured: +0.3 ms each); on a GPU they are free and the
  // kernel they save is a launch.
  c.convDropout = c.poolGradDropout = backend != "cpu";
  // Both lowerings store a parameter's update through its gradient's
  // epilogue: the gradient never goes to memory, and the update takes no pass
  // over the parameter of its own (the report CNN's step on the CPU, measured:
  // 0.6 ms less, most of it the dense layer's 819,200 weights).
  // KILN_GRAD_UPDATE=0 makes every update a kernel of its own, to compare.
  const char *separate = std::getenv("KILN_GRAD_UPDATE");
  c.gradUpdate = !(separate && std::string_view(separate) == "0");
  return c;
}

// ---- Use index and convexity --------------------------------------------------

UseIndex::UseIndex(const Graph &g) : g_(g) {
  const auto &nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node *n = nodes[i];
    pos_[n] = static_cast<int64_t>(i);
    for (const Value &v : n->operands()) {
      auto &list = users_[v.node];
      if (list.empty() || list.back() != n)
        list.push_back(n);
    }
  }
  for (const Value &v : g.outputs())
    outputs_.insert(v);
}

const std::vector<Node *> &UseIndex::users(const Node *n) const {
  static const std::vector<Node *> kNone;
  auto it = users_.find(n);
  return it == users_.end() ? kNone : it->second;
}

std::vector<Node *> UseIndex::users(Value v) const {
  std::vector<Node *> out;
  for (Node *u : users(v.node))
    for (const Value &o : u->operands())
      if (o == v) {
        out.push_back(u);
        break;
      }
  return out;
}

size_t UseIndex::useCount(Value v) const {
  size_t count = 0;
  for (Node *u : users(v.node))
    for (const Value &o : u->operands())
      count += (o == v);
  for (const Value &o : g_.outputs())
    count += (o == v);
  return count;
}

bool UseIndex::isOutput(Value v) const { return outputs_.count(v) != 0; }

int64_t UseIndex::position(const Node *n) const {
  auto it = pos_.find(n);
  return it == pos_.end() ? -1 : it->second;
}

bool isConvex(const UseIndex &idx, const std::unordered_set<const Node *> &members) {
  int64_t maxPos = -1;
  for (const Node *m : members)
    maxPos = std::max(maxPos, idx.position(m));
  // Nodes after the last member cannot reach a member: program order is topological.
  std::vector<const Node *> work;
  std::unordered_set<const Node *> seen;
  for (const Node *m : members)
    for (Node *u : idx.users(m))
      if (!members.count(u) && idx.position(u) < maxPos && seen.insert(u).second)
        work.push_back(u);
  while (!work.empty()) {
    const Node *n = work.back();
    work.pop_back();
    for (Node *u : idx.users(n)) {
      if (members.count(u))
        return false;
      if (idx.position(u) < maxPos && seen.insert(u).second)
        work.push_back(u);
    }
  }
  return true;
}

// ---- Predicates -----------------------------------------------------------------

bool isFusibleElementwise(const Node *n) {
  if (n->numResults() != 1 || n->info().has(kSideEffect))
    return false;
  return n->info().opClass == OpClass::Elementwise || n->kind() == OpKind::Broadcast;
}

Node *findUser(const UseIndex &idx, Value v, OpKind kind) {
  for (Node *u : idx.users(v))
    if (u->kind() == kind && u->operand(0) == v)
      return u;
  return nullptr;
}

Node *findBiasAdd(const UseIndex &idx, Value v, size_t channelDim) {
  if (v.shape().size() <= channelDim)
    return nullptr;
  for (Node *u : idx.users(v)) {
    if (u->kind() != OpKind::Add || u->resultType() != v.type())
      continue;
    Value b = u->operand(0) == v ? u->operand(1) : u->operand(0);
    if (b != v && b.type().numel() == v.shape()[channelDim])
      return u;
  }
  return nullptr;
}

Node *findOnlyDropout(const UseIndex &idx, Value v) {
  std::vector<Node *> users = idx.users(v);
  if (idx.useCount(v) != 1 || users.size() != 1)
    return nullptr;
  Node *d = users.front();
  return d->kind() == OpKind::Dropout && d->operand(0) == v && d->resultType() == v.type() ? d : nullptr;
}

bool isZeroConstant(Value v) {
  double c = 1;
  return isConstant(v, &c) && c == 0.0;
}

bool isReluMask(const Node *n, Value *y) {
  if (n->kind() != OpKind::Cmp || n->attrs().getString("pred") != "gt" || !isZeroConstant(n->operand(1)))
    return false;
  if (y)
    *y = n->operand(0);
  return true;
}

namespace {

/// True when dropouts a and b (of any operands) drop the same elements: same
/// key operand, seed and rate.
bool sameDropoutMask(const Node *a, const Node *b) {
  return a->kind() == OpKind::Dropout && b->kind() == OpKind::Dropout && a->operand(1) == b->operand(1) &&
         a->attrs() == b->attrs() && a->resultType().shape == b->resultType().shape;
}

/// A dropout d of y before mask `cmp` such that every user of the mask is
/// select(cmp, dropout(g, key), 0) with d's mask; null if none.
Node *dropoutBehindMask(const Graph &g, const UseIndex &idx, Node *cmp, Value y) {
  for (Node *d : idx.users(y)) {
    if (d->kind() != OpKind::Dropout || d->operand(0) != y || g.positionOf(d) > g.positionOf(cmp))
      continue;
    const std::vector<Node *> &users = idx.users(cmp);
    bool all = !users.empty() && !idx.isOutput(cmp->result());
    for (Node *u : users)
      all &= u->kind() == OpKind::Select && u->operand(0) == cmp->result() && u->operand(1) != cmp->result() &&
             isZeroConstant(u->operand(2)) && sameDropoutMask(u->operand(1).node, d);
    if (all)
      return d;
  }
  return nullptr;
}

} // namespace

int64_t canonicalizeReluMasks(Graph &g) {
  int64_t count = 0;
  UseIndex idx(g);
  for (Node *n : g.nodes()) {
    Value z;
    if (!isReluMask(n, &z))
      continue;
    if (z.node->kind() != OpKind::Relu)
      for (Node *u : idx.users(z)) {
        if (u->kind() != OpKind::Relu || u->resultType() != z.type())
          continue;
        // The relu must come first, so the rewritten cmp still follows its operand.
        if (g.positionOf(u) > g.positionOf(n))
          continue;
        n->setOperand(0, u->result());
        z = u->result();
        ++count;
        break;
      }
    if (z.node->kind() != OpKind::Relu)
      continue;
    if (Node *d = dropoutBehindMask(g, idx, n, z)) {
      n->setOperand(0, d->result());
      ++count;
    }
  }
  return count;
}

// ---- Growing elementwise groups -------------------------------------------------

std::vector<Node *> growElementwiseGroup(const UseIndex &idx, Node *seed,
                                         const std::unordered_set<const Node *> &taken) {
  const Shape domain = seed->resultType().shape;
  std::unordered_set<const Node *> group{seed}, rejected;
  std::vector<Node *> members{seed}, work{seed};
  auto consider = [&](Node *c) {
    if (group.count(c) || rejected.count(c) || taken.count(c) || idx.position(c) < 0 ||
        !isFusibleElementwise(c) || c->resultType().shape != domain)
      return;
    group.insert(c);
    if (!isConvex(idx, group)) {
      group.erase(c);
      rejected.insert(c);
      return;
    }
    members.push_back(c);
    work.push_back(c);
  };
  while (!work.empty()) {
    Node *n = work.back();
    work.pop_back();
    for (const Value &v : n->operands())
      consider(v.node);
    for (Node *u : idx.users(n))
      consider(u);
  }
  std::sort(members.begin(), members.end(),
            [&](const Node *a, const Node *b) { return idx.position(a) < idx.position(b); });
  return members;
}

// ---- Building a region ----------------------------------------------------------

Node *makeRegion(Graph &g, std::span<Node *const> membersIn, std::string name) {
  KILN_INTERNAL_CHECK(!membersIn.empty()) << "makeRegion: no members for region '" << name << "'";
  std::vector<Node *> members(membersIn.begin(), membersIn.end());
  std::sort(members.begin(), members.end(),
            [&](const Node *a, const Node *b) { return g.positionOf(a) < g.positionOf(b); });
  std::unordered_set<const Node *> inGroup(members.begin(), members.end());
  for (Node *m : members)
    KILN_INTERNAL_CHECK(g.positionOf(m) >= 0 && m->kind() != OpKind::Fused && !m->info().has(kSideEffect))
        << "makeRegion: " << m->mnemonic() << " cannot join region '" << name << "'";

  auto body = std::make_unique<Graph>(name);
  std::unordered_map<Value, Value, ValueHash> map; // outer -> body
  std::vector<Value> operands;
  std::vector<Node *> constants;
  for (Node *m : members) {
    std::vector<Value> ops;
    for (const Value &v : m->operands()) {
      auto it = map.find(v);
      if (it == map.end()) {
        Value inner;
        if (v.node->kind() == OpKind::Constant) {
          Node *c = body->createUnchecked(OpKind::Constant, {}, v.node->attrs(), {v.node->resultType()},
                                          v.node->location());
          c->setName(v.node->name());
          inner = c->result();
          constants.push_back(v.node);
        } else {
          KILN_INTERNAL_CHECK(!inGroup.count(v.node))
              << "makeRegion: member " << m->mnemonic() << " uses a later member";
          inner = body->addInput("arg" + std::to_string(operands.size()), v.type());
          operands.push_back(v);
        }
        it = map.emplace(v, inner).first;
      }
      ops.push_back(it->second);
    }
    Node *c = body->createUnchecked(m->kind(), std::move(ops), m->attrs(),
                                    {m->resultTypes().begin(), m->resultTypes().end()}, m->location());
    c->setName(m->name());
    for (size_t i = 0; i < m->numResults(); ++i)
      map[m->result(i)] = c->result(i);
  }

  // Results: member results used outside the group, in member order.
  std::vector<Value> outer;
  std::vector<TensorType> types;
  const auto &outs = g.outputs();
  int64_t lastUserBefore = -1; // earliest outside user position, to know if order must change
  for (Node *m : members)
    for (size_t i = 0; i < m->numResults(); ++i) {
      Value v = m->result(i);
      bool outside = std::find(outs.begin(), outs.end(), v) != outs.end();
      for (Node *u : g.users(v))
        if (!inGroup.count(u)) {
          outside = true;
          int64_t p = g.positionOf(u);
          if (lastUserBefore < 0 || p < lastUserBefore)
            lastUserBefore = p;
        }
      if (!outside)
        continue;
      outer.push_back(v);
      types.push_back(v.type());
      body->addOutput(map.at(v));
    }
  KILN_INTERNAL_CHECK(!outer.empty()) << "makeRegion: region '" << name << "' has no used result";

  Node *saved = g.insertionPoint();
  Node *last = members.back();
  g.setInsertionPoint(last);
  AttrMap attrs;
  attrs.set("name", name);
  Node *region = g.createUnchecked(OpKind::Fused, operands, std::move(attrs), types, members.front()->location());
  region->setBody(std::move(body));
  g.setInsertionPoint(inGroup.count(saved) ? nullptr : saved);

  bool needSort = lastUserBefore >= 0 && lastUserBefore < g.positionOf(region);
  for (size_t k = 0; k < outer.size(); ++k)
    g.replaceAllUsesWith(outer[k], region->result(k));
  // Names: a single result takes its member's name; a named graph output of a
  // multi-result region keeps its name through an identity reshape.
  if (outer.size() == 1) {
    region->setName(outer[0].node->name());
  } else {
    Node *prev = region;
    for (size_t k = 0; k < outer.size(); ++k) {
      const std::string &n = outer[k].node->name();
      Value r = region->result(k);
      if (n.empty() || std::find(outs.begin(), outs.end(), r) == outs.end())
        continue;
      g.setInsertionPoint(nullptr);
      AttrMap a;
      a.set("shape", r.shape());
      Node *view = g.create(OpKind::Reshape, {r}, std::move(a), region->location());
      Node *next = g.nodes()[static_cast<size_t>(g.positionOf(prev)) + 1];
      if (next != view)
        g.moveBefore(view, next);
      prev = view;
      std::vector<Value> newOuts = g.outputs();
      for (Value &o : newOuts)
        if (o == r)
          o = view->result();
      g.setOutputs(std::move(newOuts));
      view->setName(n);
      g.setInsertionPoint(inGroup.count(saved) ? nullptr : saved);
    }
  }
  for (Node *m : members)
    m->setName("");
  for (auto it = members.rbegin(); it != members.rend(); ++it)
    g.erase(*it);
  for (Node *c : constants)
    if (g.positionOf(c) >= 0)
      eraseIfDead(g, c);
  if (needSort)
    g.sortTopologically();
  return region;
}

Node *tryMakeRegion(Graph &g, PassContext &ctx, std::span<Node *const> members, const std::string &name) {
  if (!fusionCaps(ctx.backend).supports(name))
    return nullptr;
  UseIndex idx(g);
  std::unordered_set<const Node *> set(members.begin(), members.end());
  if (!isConvex(idx, set))
    return nullptr;
  // A group nothing reads is dead code: leave it to dce.
  bool used = false;
  for (Node *m : members)
    for (size_t i = 0; i < m->numResults() && !used; ++i) {
      used = idx.isOutput(m->result(i));
      for (Node *u : idx.users(m->result(i)))
        used |= !set.count(u);
    }
  if (!used)
    return nullptr;
  Node *r = makeRegion(g, members, name);
  ctx.bump("fuse." + name);
  return r;
}

bool fuseEachAnchor(Graph &g, PassContext &ctx, const RegionMatcher &match) {
  std::unordered_set<uint32_t> tried;
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    UseIndex idx(g);
    for (Node *n : g.nodes()) {
      if (!tried.insert(n->id()).second)
        continue;
      RegionMatch m = match(idx, n);
      if (m.members.size() < 2 || !tryMakeRegion(g, ctx, m.members, m.name))
        continue;
      changed = again = true;
      break;
    }
  }
  return changed;
}

} // namespace kiln
