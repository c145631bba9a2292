// passes/Autodiff.cpp - the reverse-mode driver and the `autodiff` pass.
//
// The driver walks the body backward from the loss over the nodes that lie on
// a path between a `wrt` value and the loss, lets each op's gradient rule
// build its operands' gradients with ordinary ops, and adds up the gradients
// of values used more than once. Only floating-point values carry gradients.
#include "passes/Autodiff.h"

#include "ir/Error.h"
#include "ir/Grad.h"
#include "ir/ValueNames.h"
#include "passes/Pass.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

/// The value's name as the text dump prints it (built only for messages).
std::string valueRef(const Graph &g, Value v) { return ValueNames(g)(v); }

using ValueSet = std::unordered_set<Value, ValueHash>;
using ValueMap = std::unordered_map<Value, Value, ValueHash>;

/// GradContext of one node: reads result gradients from and adds operand
/// gradients to the driver's map.
class NodeGradContext final : public GradContext {
public:
  NodeGradContext(Graph &g, Node &n, const ValueSet &active, ValueMap &grads)
      : g_(g), n_(n), active_(active), grads_(grads) {}

  Graph &graph() override { return g_; }
  Node &node() override { return n_; }
  Value outGrad(size_t result) override {
    auto it = grads_.find(n_.result(result));
    return it == grads_.end() ? Value{} : it->second;
  }
  bool needsGrad(size_t operand) override { return active_.count(n_.operand(operand)) != 0; }
  void addGrad(size_t operand, Value g) override {
    if (!g || !needsGrad(operand))
      return;
    Value x = n_.operand(operand);
    KILN_INTERNAL_CHECK(g.type() == x.type())
        << "autodiff: the gradient rule of '" << n_.mnemonic() << "' (" << valueRef(g_, n_.result())
        << ") gave " << typeString(g.type()) << " for operand " << operand << " of type "
        << typeString(x.type());
    auto [it, fresh] = grads_.try_emplace(x, g);
    if (!fresh)
      it->second = g_.build(OpKind::Add, {it->second, g});
  }

private:
  Graph &g_;
  Node &n_;
  const ValueSet &active_;
  ValueMap &grads_;
};

/// Restores the graph's insertion point when the driver returns or throws.
struct InsertionGuard {
  Graph &g;
  Node *saved;
  explicit InsertionGuard(Graph &graph) : g(graph), saved(graph.insertionPoint()) {}
  ~InsertionGuard() { g.setInsertionPoint(saved); }
};

} // namespace

std::vector<Value> grad(Graph &g, Value loss, std::span<const Value> wrt) {
  KILN_USER_CHECK(loss) << "autodiff: no loss value";
  KILN_USER_CHECK(isFloat(loss.dtype()) && loss.shape().empty())
      << "autodiff: the loss " << valueRef(g, loss) << " must be a floating-point scalar, got "
      << typeString(loss.type());
  for (Value w : wrt) {
    KILN_USER_CHECK(w) << "autodiff: null value in the list to differentiate with respect to";
    KILN_USER_CHECK(isFloat(w.dtype()))
        << "autodiff: cannot differentiate with respect to " << valueRef(g, w) << ": "
        << typeString(w.type()) << " is not a floating-point value";
  }

  // Forward: float values that depend on a wrt value.
  ValueSet active(wrt.begin(), wrt.end());
  const std::vector<Node *> &body = g.nodes();
  for (Node *n : body) {
    bool dependent = false;
    for (Value v : n->operands())
      dependent |= active.count(v) != 0;
    if (!dependent)
      continue;
    for (size_t i = 0; i < n->numResults(); ++i)
      if (isFloat(n->resultType(i).dtype))
        active.insert(n->result(i));
  }

  // Backward: of those, the ones the loss depends on.
  std::unordered_set<const Node *> needed;
  if (active.count(loss))
    needed.insert(loss.node);
  int64_t lossPos = g.positionOf(loss.node);
  for (int64_t i = lossPos; i >= 0; --i) {
    Node *n = body[i];
    if (!needed.count(n))
      continue;
    for (Value v : n->operands())
      if (active.count(v))
        needed.insert(v.node);
  }

  InsertionGuard guard(g);
  g.setInsertionPoint(nullptr);
  ValueMap grads;
  if (active.count(loss))
    grads.emplace(loss, g.constant(1.0, loss.type()));

  for (int64_t i = lossPos; i >= 0; --i) {
    Node *n = body[i];
    if (!needed.count(n))
      continue;
    bool hasGrad = false;
    for (size_t r = 0; r < n->numResults(); ++r)
      hasGrad |= grads.count(n->result(r)) != 0;
    if (!hasGrad)
      continue;
    const OpHooks &hooks = n->info().hooks;
    if (!hooks.grad) {
      KILN_USER_CHECK(n->info().has(kNoGradient))
          << (n->location().empty() ? "" : n->location() + ": ") << "autodiff: op '"
          << n->mnemonic() << "' (" << valueRef(g, n->result()) << ") has no gradient rule";
      continue;
    }
    NodeGradContext ctx(g, *n, active, grads);
    hooks.grad(ctx);
  }

  std::vector<Value> out;
  out.reserve(wrt.size());
  for (Value w : wrt) {
    auto it = grads.find(w);
    out.push_back(it != grads.end() ? it->second : g.constant(0.0, w.type()));
  }
  return out;
}

namespace {

bool nameTaken(const Graph &g, const std::string &name) {
  if (g.findSignatureNode(name))
    return true;
  for (const Node *n : g.nodes())
    if (n->name() == name)
      return true;
  return false;
}

Value findNamed(const Graph &g, const std::string &name) {
  if (Node *n = g.findSignatureNode(name))
    return n->result();
  for (Node *n : g.nodes())
    if (n->name() == name && n->numResults() == 1)
      return n->result();
  return {};
}

} // namespace

bool autodiffPass(Graph &g, PassContext &ctx) {
  KILN_USER_CHECK(!g.outputs().empty()) << "autodiff: graph @" << g.name() << " has no outputs";
  Value loss;
  if (!ctx.loss.empty()) {
    for (Value v : g.outputs())
      if (v.node->name() == ctx.loss)
        loss = v;
    KILN_USER_CHECK(loss) << "autodiff: graph @" << g.name() << " has no output named '"
                          << ctx.loss << "'";
  } else {
    for (Value v : g.outputs())
      if (!loss && v.node->name() == "loss")
        loss = v;
    if (!loss)
      loss = g.outputs().front();
  }

  std::vector<Value> wrt;
  std::vector<std::string> names;
  if (ctx.wrt.empty()) {
    for (Node *p : g.params()) {
      wrt.push_back(p->result());
      names.push_back(p->name());
    }
  } else {
    for (const std::string &name : ctx.wrt) {
      Value v = findNamed(g, name);
      KILN_USER_CHECK(v) << "autodiff: graph @" << g.name() << " has no value named '" << name
                         << "' to differentiate with respect to";
      wrt.push_back(v);
      names.push_back(name);
    }
  }
  if (wrt.empty())
    return false;

  const int64_t forwardSize = static_cast<int64_t>(g.nodes().size());
  std::vector<Value> grads = grad(g, loss, wrt);
  for (size_t i = 0; i < grads.size(); ++i) {
    Value d = grads[i];
    // A gradient that is not a new unnamed node (a forward value, or one shared
    // with another parameter) gets an identity reshape to carry its own name.
    bool ownable = g.positionOf(d.node) >= forwardSize && d.node->name().empty() &&
                   d.node->numResults() == 1;
    if (!ownable) {
      AttrMap a;
      a.set("shape", d.shape());
      d = g.build(OpKind::Reshape, {d}, std::move(a));
    }
    std::string name = "d_" + names[i];
    for (int k = 2; nameTaken(g, name); ++k)
      name = "d_" + names[i] + "_" + std::to_string(k);
    d.node->setName(name);
    g.addOutput(d);
  }
  ctx.bump("autodiff.gradients", static_cast<int64_t>(grads.size()));
  return true;
}

} // namespace kiln
