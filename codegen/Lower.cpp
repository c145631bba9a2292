// codegen/Lower.cpp - graph walk of lowering: buffers, single ops, fused regions.
//
// Top level: every value a kernel produces gets a buffer; constants (and
// elementwise/layout ops of constants only) stay inline; reshape and flatten
// of a buffer are views of it. A `fused` region becomes as few kernels as its
// body allows: its elementwise and layout members are inlined into their
// consumers, a heavy member followed by an elementwise chain stores through
// that chain (epilogue), and outputs of equal shape share one loop nest.
// The CPU and CUDA lowerings share this walk (lower::walkGraph); each gives
// its own patterns for heavy ops (lower::Walk).
#include "codegen/LowerContext.h"

#include "ir/Error.h"

#include <set>
#include <unordered_set>
#include <sstream>

namespace kiln {

int Program::findBuffer(const std::string &name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].role != BufferRole::Temp && buffers[i].role != BufferRole::Workspace && buffers[i].name == name)
      return static_cast<int>(i);
  return -1;
}

int Program::storageOf(int b) const {
  while (buffers.at(b).aliasOf >= 0)
    b = buffers[b].aliasOf;
  return b;
}

std::string printProgram(const Program &p) {
  static const char *const roles[] = {"input", "param", "state", "temp", "workspace"};
  std::ostringstream os;
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const ProgramBuffer &b = p.buffers[i];
    os << "buffer %" << i << " " << roles[static_cast<int>(b.role)] << " \"" << b.name << "\" : " << typeString(b.type);
    if (b.aliasOf >= 0)
      os << " view of %" << b.aliasOf;
    os << "\n";
  }
  for (const Launch &l : p.launches) {
    os << "launch @" << p.kernels[l.kernel].name << "(";
    for (size_t i = 0; i < l.args.size(); ++i)
      os << (i ? ", " : "") << "%" << l.args[i];
    os << ")\n";
  }
  for (auto [t, v] : p.assigns)
    os << "assign %" << t << " <- %" << v << "\n";
  os << "return";
  for (int o : p.outputs)
    os << " %" << o;
  os << "\n";
  return os.str();
}

namespace lower {

std::string valueName(Value v) {
  Node &n = *v.node;
  std::string base = n.name();
  if (base.empty())
    base.append(n.mnemonic()).append(std::to_string(n.id()));
  if (v.index)
    base.append(".").append(std::to_string(v.index));
  return base;
}

namespace {

/// A kernel copying value `src` into program buffer `dst`.
void copyKernel(ProgramBuilder &pb, const Walk &w, Value src, int dst, const std::string &name) {
  KernelBuilder kb(pb, name);
  const Shape &s = src.shape();
  kb.kernel.body = kb.loopNest(s, [&](const Index &idx) {
    return kir::store(kb.param(dst, true), linearIndex(idx, s), kb.valueAt(src, idx));
  });
  pb.finish(kb);
  w.added();
}

/// Lowers one heavy (non-inline) node with the pattern of its class.
void lowerHeavy(ProgramBuilder &pb, Node &n, const std::string &name) {
  switch (n.info().opClass) {
  case OpClass::Reduction: return lowerReduction(pb, n, name);
  case OpClass::Matmul: return lowerMatmul(pb, n, name);
  case OpClass::Conv: return lowerConv(pb, n, name);
  case OpClass::Pool: return lowerPool(pb, n, name);
  case OpClass::Opaque: return lowerSoftmax(pb, n, name);
  default: KILN_USER_ERROR() << "cpu backend: cannot lower " << n.mnemonic();
  }
}

void lowerRegion(ProgramBuilder &pb, const Walk &w, Node &region) {
  Graph &body = *region.body();
  std::string rname = region.attrs().has("name") ? region.attrs().getString("name") : "fused";
  rname += std::to_string(region.id());
  for (size_t i = 0; i < body.inputs().size(); ++i)
    pb.bindings[body.inputs()[i]->result()] = {Binding::Forward, -1, region.operand(i)};
  if (w.whereRead && w.whereRead(region)) {
    for (size_t j = 0; j < region.numResults(); ++j)
      pb.bindings[region.result(j)] = {Binding::Forward, -1, body.outputs()[j]};
    return;
  }
  // Region results live in buffers; body outputs write straight into them.
  std::vector<std::pair<Value, int>> copies;
  for (size_t j = 0; j < region.numResults(); ++j) {
    auto own = pb.inPlace.find(region.result(j)); // an update in place
    int b = own != pb.inPlace.end() ? own->second : pb.materialize(region.result(j), valueName(region.result(j)));
    if (own != pb.inPlace.end())
      pb.bindBuffer(region.result(j), b);
    Value bo = pb.resolve(body.outputs()[j]);
    bool defined = bo.node->graph() == &body && pb.bindings.find(bo) == pb.bindings.end() &&
                   bo.node->kind() != OpKind::Constant;
    if (defined)
      pb.bindBuffer(bo, b);
    else
      copies.push_back({bo, b});
  }
  pb.inlinable = [&pb](Value v) { return pb.bufferOf(v) < 0 && isInlineKind(*v.node); };
  if (w.regionPattern && w.regionPattern(region, rname)) {
    w.added();
    return;
  }
  materializeHeavyOperands(pb, body, rname);
  std::set<Node *> viaEpilogue;
  int part = 0;
  auto partName = [&] {
    std::string s = rname;
    if (part++)
      s.append("_").append(std::to_string(part - 1));
    return s;
  };
  std::vector<Value> pending; // materialized inline values awaiting one loop nest
  auto flush = [&] {
    if (pending.empty())
      return;
    lowerElementwise(pb, pending, partName());
    w.added();
    pending.clear();
  };
  for (Node *n : body.nodes()) {
    if (viaEpilogue.count(n))
      continue;
    if (isInlineKind(*n)) {
      if (n->kind() == OpKind::Constant || pb.bufferOf(n->result()) < 0)
        continue;
      if (!pending.empty() && pending[0].shape() != n->resultType().shape)
        flush();
      pending.push_back(n->result());
      continue;
    }
    flush();
    KILN_USER_CHECK(n->info().opClass != OpClass::Region && n->info().opClass != OpClass::Effect)
        << w.backend << " backend: " << n->mnemonic() << " inside a fused region is not supported";
    Value out = storeThroughEpilogue(pb, body, *n, rname, viaEpilogue);
    auto several = pb.epilogues.find(n->result(0));
    bool one = several == pb.epilogues.end() || several->second.more.empty();
    Node *absorbed = w.absorb && one ? w.absorb(body, *n, out, rname, viaEpilogue) : nullptr;
    w.heavy(*n, partName());
    w.added();
    pb.epilogues.erase(n->result(0));
    if (absorbed)
      pb.epilogues.erase(absorbed->result());
  }
  flush();
  for (auto [src, dst] : copies)
    copyKernel(pb, w, src, dst, partName());
  pb.inlinable = [](Value) { return false; };
}

} // namespace

Value storeThroughEpilogue(ProgramBuilder &pb, const Graph &body, Node &h, const std::string &rname,
                           std::set<Node *> &viaEpilogue) {
  std::set<Node *> chain;
  std::vector<Value> exits = epilogueExits(pb, body, h, chain);
  if (!exits.empty()) {
    EpilogueInfo &e = pb.epilogues[h.result(0)];
    e = {exits[0], pb.bufferOf(exits[0]), {}, {}};
    for (size_t k = 1; k < exits.size(); ++k)
      e.more.push_back({exits[k], pb.bufferOf(exits[k])});
    viaEpilogue.insert(chain.begin(), chain.end());
    return exits[0];
  }
  for (size_t j = 0; j < h.numResults(); ++j)
    if (pb.bufferOf(h.result(j)) < 0)
      pb.materialize(h.result(j), rname + "_" + valueName(h.result(j)));
  return {};
}

void materializeHeavyOperands(ProgramBuilder &pb, const Graph &body, const std::string &rname) {
  for (Node *n : body.nodes()) {
    OpClass c = n->info().opClass;
    if (c != OpClass::Matmul && c != OpClass::Conv && c != OpClass::Pool)
      continue;
    for (size_t i = 0; i < n->numOperands(); ++i) {
      if (i == 0 && readsOncePerWindow(*n))
        continue;
      Value r = pb.resolve(n->operand(i));
      if (r.node->graph() == &body && r.node->info().opClass == OpClass::Elementwise && pb.bufferOf(r) < 0)
        pb.materialize(r, rname + "_" + valueName(r));
    }
  }
}

/// The elementwise nodes of `body` reached from v through elementwise nodes only.
std::set<Node *> elementwiseDependents(const Graph &body, Value v) {
  std::set<Node *> out;
  for (Node *n : body.nodes()) {
    if (n->info().opClass != OpClass::Elementwise)
      continue;
    for (Value o : n->operands())
      if (o == v || out.count(o.node)) {
        out.insert(n);
        break;
      }
  }
  return out;
}

/// When heavy node h feeds only a same-shape elementwise chain whose exits
/// (values used outside the chain) all have buffers, returns them in body
/// order: h then stores through the chain (an epilogue) and needs no buffer of
/// its own.
std::vector<Value> epilogueExits(const ProgramBuilder &pb, const Graph &body, Node &h, std::set<Node *> &chain) {
  if (h.numResults() != 1)
    return {};
  Value hv = h.result(0);
  for (Value o : body.outputs())
    if (o == hv)
      return {};
  for (Node *u : body.users(hv))
    if (u->info().opClass != OpClass::Elementwise)
      return {};
  chain = elementwiseDependents(body, hv);
  if (chain.empty())
    return {};
  std::vector<Value> exits;
  for (Node *d : body.nodes()) { // body order, so that the stores' order is fixed
    if (!chain.count(d))
      continue;
    if (d->resultType().shape != hv.shape())
      return {};
    for (Value o : d->operands())
      if ((o == hv || chain.count(o.node)) && o.shape() != hv.shape())
        return {};
    bool leaves = false;
    for (Value o : body.outputs())
      leaves |= o.node == d;
    for (Node *u : body.users(d->result()))
      leaves |= !chain.count(u);
    if (!leaves)
      continue;
    if (pb.bufferOf(d->result()) < 0)
      return {};
    exits.push_back(d->result());
  }
  return exits;
}

InPlaceUpdates::InPlaceUpdates(const Graph &g) : outputs_(g.outputs().begin(), g.outputs().end()) {
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node *n = g.nodes()[i];
    if (n->kind() == OpKind::Assign) {
      assignOf_[n->operand(1)] = n->operand(0);
      continue;
    }
    for (Value o : n->operands()) {
      // A view of a buffer is read where its readers run.
      while (o.node->kind() == OpKind::Reshape || o.node->kind() == OpKind::Flatten) {
        lastRead_[o.node] = i;
        o = o.node->operand(0);
      }
      lastRead_[o.node] = i;
    }
  }
}

// n must be elementwise (a region of elementwise ops only, reading t at the
// index it writes r: no layout op or broadcast between), so that its kernel
// does every load of an element before that element's stores. A
// "grad_update" region qualifies too when its gradient op does not read t:
// its elementwise ops are the gradient kernel's epilogue, which loads an
// element's operands before it stores the element (KernelBuilder::storeResult).
void InPlaceUpdates::plan(ProgramBuilder &pb, Node &n, size_t pos) const {
  Graph *body = n.body();
  const Node *anchor = nullptr; // a grad_update's gradient op
  if (n.kind() == OpKind::Fused) {
    bool gradUpdate = n.attrs().has("name") && n.attrs().getString("name") == "grad_update";
    for (Node *m : body->nodes()) {
      if (m->info().opClass == OpClass::Elementwise || m->kind() == OpKind::Constant)
        continue;
      if (!gradUpdate || anchor)
        return;
      anchor = m;
    }
  } else if (n.info().opClass != OpClass::Elementwise || n.numResults() != 1) {
    return;
  }
  for (size_t j = 0; j < n.numResults(); ++j) {
    Value r = n.result(j);
    auto a = assignOf_.find(r);
    if (a == assignOf_.end() || outputs_.count(r) || outputs_.count(a->second))
      continue;
    Value t = a->second;
    auto last = lastRead_.find(t.node);
    int buffer = pb.bufferOf(t);
    if (buffer < 0 || t.type() != r.type() || last == lastRead_.end() || last->second != pos)
      continue;
    // A single op reads an operand of its result's type at the result's index.
    bool sameIndex = true;
    for (size_t i = 0; body && i < n.numOperands(); ++i)
      if (n.operand(i) == t)
        for (Node *u : body->users(body->inputs()[i]->result()))
          sameIndex &= u != anchor && u->resultType().shape == t.shape();
    if (sameIndex)
      pb.inPlace[r] = buffer;
  }
}

void walkGraph(ProgramBuilder &pb, const Graph &g, const Walk &w) {
  Program &prog = pb.prog;
  for (Node *n : g.inputs())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::Input));
  for (Node *n : g.params())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::Param));
  for (Node *n : g.states())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::State));
  // At top level only constant expressions lack buffers, and those inline.
  pb.inlinable = [](Value) { return true; };
  std::vector<std::pair<int, Value>> assigns;
  InPlaceUpdates inPlace(g);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node *n = g.nodes()[i];
    inPlace.plan(pb, *n, i);
    std::string name = valueName(n->numResults() ? n->result() : Value{n, 0});
    if (n->kind() == OpKind::Assign) {
      int t = pb.bufferOf(n->operand(0));
      KILN_USER_CHECK(t >= 0 && prog.buffers[t].role != BufferRole::Temp && prog.buffers[t].role != BufferRole::Input)
          << w.backend << " backend: assign target is not a parameter or state";
      assigns.push_back({t, n->operand(1)});
      continue;
    }
    if (n->kind() == OpKind::Fused) {
      auto saved = pb.inlinable;
      lowerRegion(pb, w, *n);
      pb.inlinable = saved;
      continue;
    }
    if (n->kind() == OpKind::Constant)
      continue;
    if (isInlineKind(*n)) {
      bool constantOnly = true;
      for (Value o : n->operands())
        constantOnly &= pb.bufferOf(o) < 0;
      if (constantOnly)
        continue;
      int src = pb.bufferOf(n->operand(0));
      if ((n->kind() == OpKind::Reshape || n->kind() == OpKind::Flatten) && src >= 0) {
        pb.bindBuffer(n->result(), pb.addBuffer(name, n->resultType(), BufferRole::Temp, src));
        continue;
      }
      if (auto own = pb.inPlace.find(n->result()); own != pb.inPlace.end())
        pb.bindBuffer(n->result(), own->second);
      else
        pb.materialize(n->result(), name);
      lowerElementwise(pb, {n->result()}, name);
      w.added();
      continue;
    }
    for (size_t j = 0; j < n->numResults(); ++j)
      pb.materialize(n->result(j), valueName(n->result(j)));
    auto saved = pb.inlinable;
    w.heavy(*n, name);
    w.added();
    pb.inlinable = saved;
  }
  // Outputs and assigned values need buffers of their own, distinct from the
  // signature buffers that assign overwrites.
  auto ownBuffer = [&](Value v, const std::string &name) {
    int b = pb.bufferOf(v);
    if (b >= 0 && prog.buffers[prog.storageOf(b)].role == BufferRole::Temp)
      return b;
    int dst = pb.addBuffer(name, v.type(), BufferRole::Temp);
    copyKernel(pb, w, v, dst, name);
    return dst;
  };
  for (size_t i = 0; i < g.outputs().size(); ++i)
    prog.outputs.push_back(ownBuffer(g.outputs()[i], std::string("output").append(std::to_string(i))));
  for (auto [t, v] : assigns)
    if (pb.bufferOf(v) != t) // else updated in place
      prog.assigns.push_back({t, ownBuffer(v, std::string("assign_").append(prog.buffers[t].name))});
}

} // namespace lower

Program lowerGraph(const Graph &g, const LowerOptions &opt) {
  using namespace lower;
  Program prog;
  ProgramBuilder pb(prog, opt);
  Walk w;
  w.backend = "cpu";
  w.heavy = [&pb](Node &n, const std::string &name) { lowerHeavy(pb, n, name); };
  w.regionPattern = [&pb](Node &region, const std::string &rname) {
    return region.attrs().has("name") && region.attrs().getString("name") == "pool_grad_wgrad" &&
           lowerPoolGradWeightGrads(pb, *region.body(), rname);
  };
  walkGraph(pb, g, w);
  return prog;
}

} // namespace kiln
