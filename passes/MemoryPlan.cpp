// passes/MemoryPlan.cpp - liveness, in-place decisions, offset assignment, and the plan-memory pass.
//
// Values that share a buffer (in place, views) form one buffer group whose
// live interval is the union of theirs. Groups are placed largest first at the
// lowest offset that overlaps no already placed group live at the same time
// (greedy by size), which is simple and within a few percent of optimal on
// layer-by-layer graphs.
#include "passes/MemoryPlan.h"

#include "ir/Error.h"
#include "ir/ValueNames.h"
#include "passes/Pass.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace kiln {

const BufferSlot &MemoryPlan::at(Value v) const {
  auto it = slots.find(v);
  KILN_INTERNAL_CHECK(it != slots.end()) << "memory plan: value of " << (v.node ? v.node->mnemonic() : "null")
                                         << " is not planned";
  return it->second;
}

namespace {

size_t alignUp(size_t n) { return (n + MemoryPlan::kAlignment - 1) / MemoryPlan::kAlignment * MemoryPlan::kAlignment; }

bool isView(const Node *n) { return n->kind() == OpKind::Reshape || n->kind() == OpKind::Flatten; }

/// May result `k` of `n` be written over operand `i` while `n` runs?
bool canWriteOver(const Node *n, size_t i, size_t k) {
  const TensorType &in = n->operand(i).type(), &out = n->resultType(k);
  if (in.shape != out.shape || in.byteSize() != out.byteSize())
    return false;
  if (n->info().opClass == OpClass::Elementwise)
    return true;
  if (n->kind() != OpKind::Fused)
    return false;
  // A grad_update's elementwise ops are its gradient kernel's epilogue, which
  // loads an element's operands before it stores the element; an operand its
  // gradient op reads is excluded below (not an elementwise user).
  const std::string &name = n->attrs().getString("name");
  if (name != "elementwise" && name != "optimizer_update" && name != "grad_update")
    return false;
  const Graph &body = *n->body();
  Value arg = body.inputs().at(i)->result();
  Value produced = body.outputs().at(k);
  if (produced == arg)
    return true;
  int64_t producerPos = body.positionOf(produced.node);
  if (producerPos < 0 || produced.node->info().opClass != OpClass::Elementwise)
    return false;
  for (Node *u : body.users(arg))
    if (u->info().opClass != OpClass::Elementwise || u->resultType().shape != in.shape ||
        body.positionOf(u) > producerPos)
      return false;
  return true;
}

struct Planner {
  const Graph &g;
  MemoryPlan plan;
  std::unordered_map<Value, size_t, ValueHash> groupOf; // arena value -> group
  std::vector<size_t> parent;                            // union-find over groups
  std::vector<int64_t> gDef, gLast;
  std::vector<size_t> gSize;
  int64_t end;

  explicit Planner(const Graph &graph) : g(graph), end(static_cast<int64_t>(graph.nodes().size())) {}

  size_t find(size_t x) {
    while (parent[x] != x)
      x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(size_t keep, size_t other) {
    keep = find(keep), other = find(other);
    if (keep == other)
      return;
    parent[other] = keep;
    gDef[keep] = std::min(gDef[keep], gDef[other]);
    gLast[keep] = std::max(gLast[keep], gLast[other]);
    gSize[keep] = std::max(gSize[keep], gSize[other]);
  }

  void liveness() {
    for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
      for (Node *s : *list) {
        BufferSlot &slot = plan.slots[s->result()];
        slot.place = BufferSlot::Place::Signature;
        slot.signature = s;
        slot.size = s->resultType().byteSize();
      }
    const auto &nodes = g.nodes();
    for (size_t p = 0; p < nodes.size(); ++p)
      for (size_t k = 0; k < nodes[p]->numResults(); ++k) {
        BufferSlot &slot = plan.slots[nodes[p]->result(k)];
        slot.size = nodes[p]->resultType(k).byteSize();
        slot.def = slot.lastUse = static_cast<int64_t>(p);
        plan.unplannedBytes += slot.size;
      }
    for (size_t p = 0; p < nodes.size(); ++p)
      for (const Value &v : nodes[p]->operands()) {
        BufferSlot &slot = plan.slots.at(v);
        slot.lastUse = std::max(slot.lastUse, static_cast<int64_t>(p));
      }
    for (const Value &v : g.outputs())
      plan.slots.at(v).lastUse = end;
  }

  /// assign(target, v): write v straight into target's buffer when legal.
  void persistentInPlace() {
    const auto &nodes = g.nodes();
    const auto &outs = g.outputs();
    for (Node *a : nodes) {
      if (a->kind() != OpKind::Assign)
        continue;
      Value target = a->operand(0), v = a->operand(1);
      Node *n = v.node;
      int64_t pos = g.positionOf(n);
      BufferSlot &slot = plan.slots.at(v);
      if (pos < 0 || slot.place != BufferSlot::Place::Arena || slot.inPlaceOf ||
          std::find(outs.begin(), outs.end(), target) != outs.end())
        continue;
      bool legal = true;
      for (Node *u : g.users(target)) {
        if (u->kind() == OpKind::Assign && u->operand(0) == target && u->operand(1) != target)
          continue;
        int64_t up = g.positionOf(u);
        if (up < pos)
          continue;
        if (u != n) {
          legal = false;
          break;
        }
        for (size_t i = 0; i < n->numOperands() && legal; ++i)
          if (n->operand(i) == target)
            legal = canWriteOver(n, i, v.index);
      }
      if (!legal)
        continue;
      slot.place = BufferSlot::Place::Signature;
      slot.signature = target.node;
      slot.inPlaceOf = target;
      ++plan.inPlace;
    }
  }

  void arenaGroups() {
    const auto &nodes = g.nodes();
    for (Node *n : nodes)
      for (size_t k = 0; k < n->numResults(); ++k) {
        Value r = n->result(k);
        BufferSlot &slot = plan.slots.at(r);
        if (slot.place != BufferSlot::Place::Arena)
          continue;
        size_t id = parent.size();
        parent.push_back(id);
        gDef.push_back(slot.def);
        gLast.push_back(slot.lastUse);
        gSize.push_back(alignUp(slot.size));
        groupOf[r] = id;
        Value donor = pickDonor(n, k);
        if (!donor)
          continue;
        slot.inPlaceOf = donor;
        unite(groupOf.at(donor), id);
        ++plan.inPlace;
      }
  }

  /// An arena operand of `n` whose buffer result k may take, or a null Value.
  Value pickDonor(Node *n, size_t k) {
    const BufferSlot &rs = plan.slots.at(n->result(k));
    int64_t pos = rs.def;
    for (size_t i = 0; i < n->numOperands(); ++i) {
      Value a = n->operand(i);
      auto it = groupOf.find(a);
      if (it == groupOf.end() || plan.slots.at(a).size != rs.size)
        continue;
      size_t grp = find(it->second);
      if (isView(n))
        return a; // read-only alias: no liveness condition
      if (gLast[grp] != pos || donatedAt(grp, n, k))
        continue;
      bool ok = true;
      for (size_t j = 0; j < n->numOperands() && ok; ++j) {
        auto jt = groupOf.find(n->operand(j));
        if (jt != groupOf.end() && find(jt->second) == grp)
          ok = canWriteOver(n, j, k);
      }
      if (ok)
        return a;
    }
    return {};
  }

  /// True when an earlier result of `n` already took group `grp`.
  bool donatedAt(size_t grp, Node *n, size_t k) {
    for (size_t j = 0; j < k; ++j) {
      auto it = groupOf.find(n->result(j));
      if (it != groupOf.end() && find(it->second) == grp)
        return true;
    }
    return false;
  }

  void placeGroups() {
    std::vector<size_t> roots;
    for (size_t i = 0; i < parent.size(); ++i)
      if (find(i) == i)
        roots.push_back(i);
    std::stable_sort(roots.begin(), roots.end(), [&](size_t a, size_t b) {
      return gSize[a] != gSize[b] ? gSize[a] > gSize[b] : gDef[a] < gDef[b];
    });
    std::vector<int64_t> offset(parent.size(), -1);
    std::vector<size_t> placed;
    for (size_t r : roots) {
      std::vector<std::pair<int64_t, int64_t>> busy; // [begin, end) of live overlapping groups
      for (size_t o : placed)
        if (gDef[o] <= gLast[r] && gDef[r] <= gLast[o])
          busy.emplace_back(offset[o], offset[o] + static_cast<int64_t>(gSize[o]));
      std::sort(busy.begin(), busy.end());
      int64_t at = 0;
      for (const auto &[b, e] : busy) {
        if (b - at >= static_cast<int64_t>(gSize[r]))
          break;
        at = std::max(at, e);
      }
      offset[r] = at;
      placed.push_back(r);
      plan.arenaBytes = std::max(plan.arenaBytes, static_cast<size_t>(at) + gSize[r]);
    }
    for (auto &[v, grp] : groupOf)
      plan.slots.at(v).offset = offset[find(grp)];
    // Peak: aligned bytes of the groups live at each program point.
    std::vector<int64_t> delta(static_cast<size_t>(end) + 2, 0);
    for (size_t r : roots) {
      delta[static_cast<size_t>(gDef[r])] += static_cast<int64_t>(gSize[r]);
      delta[static_cast<size_t>(gLast[r]) + 1] -= static_cast<int64_t>(gSize[r]);
    }
    int64_t live = 0;
    for (int64_t d : delta) {
      live += d;
      plan.peakLiveBytes = std::max(plan.peakLiveBytes, static_cast<size_t>(live));
    }
  }
};

} // namespace

MemoryPlan planMemory(const Graph &g) {
  Planner p(g);
  p.liveness();
  p.persistentInPlace();
  p.arenaGroups();
  p.placeGroups();
  return std::move(p.plan);
}

void printMemoryPlan(const Graph &g, const MemoryPlan &plan, std::ostream &os) {
  ValueNames names(g);
  os << "memory plan of @" << g.name() << ": arena " << plan.arenaBytes << " bytes, peak live "
     << plan.peakLiveBytes << " bytes, unplanned " << plan.unplannedBytes << " bytes, " << plan.inPlace
     << " in place\n";
  for (Node *n : g.nodes())
    for (size_t k = 0; k < n->numResults(); ++k) {
      Value v = n->result(k);
      const BufferSlot &s = plan.at(v);
      os << "  " << names(v) << " : " << typeString(v.type()) << " ";
      if (s.place == BufferSlot::Place::Signature)
        os << "in " << names(s.signature->result());
      else
        os << "arena[" << s.offset << ", " << s.offset + static_cast<int64_t>(s.size) << ")";
      os << " live [" << s.def << ", " << s.lastUse << "]";
      if (s.inPlaceOf)
        os << " reuses " << names(s.inPlaceOf);
      os << "\n";
    }
}

bool planMemoryPass(Graph &g, PassContext &ctx) {
  MemoryPlan plan = planMemory(g);
  ctx.stats["plan-memory.arena-bytes"] = static_cast<int64_t>(plan.arenaBytes);
  ctx.stats["plan-memory.peak-live-bytes"] = static_cast<int64_t>(plan.peakLiveBytes);
  ctx.stats["plan-memory.unplanned-bytes"] = static_cast<int64_t>(plan.unplannedBytes);
  ctx.stats["plan-memory.in-place"] = plan.inPlace;
  if (ctx.log)
    printMemoryPlan(g, plan, *ctx.log);
  return false;
}

} // namespace kiln
