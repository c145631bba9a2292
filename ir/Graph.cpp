// ir/Graph.cpp - construction, rewriting and copying of graphs.
#include "ir/Graph.h"

#include "ir/Error.h"
#include "ir/GraphAlgo.h"

#include <algorithm>

namespace kiln {

const TensorType &Value::type() const {
  KILN_INTERNAL_CHECK(node) << "type of a null value";
  return node->resultType(index);
}

Node::~Node() = default;

void Node::setBody(std::unique_ptr<Graph> g) { body_ = std::move(g); }

Graph::Graph(std::string name) : name_(std::move(name)) {}
Graph::~Graph() = default;

// ---- Signature --------------------------------------------------------------

Node *Graph::newNode(OpKind kind) {
  storage_.push_back(std::unique_ptr<Node>(new Node(this, nextId_++, kind)));
  return storage_.back().get();
}

namespace {
Value addSignature(Graph &g, Node *n, std::vector<Node *> &list, std::string name, TensorType t) {
  KILN_USER_CHECK(!name.empty()) << "graph @" << g.name() << ": signature values need a name";
  KILN_USER_CHECK(!g.findSignatureNode(name))
      << "graph @" << g.name() << ": '%" << name << "' is declared twice";
  n->setName(std::move(name));
  n->setResultTypes({std::move(t)});
  list.push_back(n);
  return n->result(0);
}
} // namespace

Value Graph::addInput(std::string name, TensorType t) {
  return addSignature(*this, newNode(OpKind::Input), inputs_, std::move(name), std::move(t));
}
Value Graph::addParam(std::string name, TensorType t) {
  return addSignature(*this, newNode(OpKind::Parameter), params_, std::move(name), std::move(t));
}
Value Graph::addState(std::string name, TensorType t) {
  return addSignature(*this, newNode(OpKind::State), states_, std::move(name), std::move(t));
}

Node *Graph::findSignatureNode(std::string_view name) const {
  for (const auto *list : {&inputs_, &params_, &states_})
    for (Node *n : *list)
      if (n->name() == name)
        return n;
  return nullptr;
}

// ---- Building ---------------------------------------------------------------

void Graph::insert(Node *n) {
  if (!insertBefore_) {
    order_.push_back(n);
    return;
  }
  auto it = std::find(order_.begin(), order_.end(), insertBefore_);
  KILN_INTERNAL_CHECK(it != order_.end()) << "insertion point is not in graph @" << name_;
  order_.insert(it, n);
}

namespace {
std::vector<TensorType> inferTypes(const OpInfo &info, const std::vector<Value> &operands, AttrMap &attrs,
                                   const std::string &loc) {
  std::string prefix = loc.empty() ? "" : loc + ": ";
  try {
    KILN_USER_CHECK(info.numOperands < 0 || static_cast<size_t>(info.numOperands) == operands.size())
        << info.mnemonic << ": expected " << info.numOperands << " operands, got " << operands.size();
    std::vector<TensorType> types;
    for (size_t i = 0; i < operands.size(); ++i) {
      KILN_USER_CHECK(operands[i]) << info.mnemonic << ": operand " << i << " is null";
      types.push_back(operands[i].type());
    }
    completeAttrs(info, attrs);
    KILN_USER_CHECK(info.hooks.infer) << info.mnemonic << ": result types cannot be inferred";
    return info.hooks.infer(InferContext{info.mnemonic, types, attrs});
  } catch (const UserError &e) {
    if (prefix.empty())
      throw;
    throw UserError(prefix + e.what());
  }
}
} // namespace

Node *Graph::create(OpKind kind, std::vector<Value> operands, AttrMap attrs, std::string loc) {
  const OpInfo &info = opInfo(kind);
  std::vector<TensorType> types = inferTypes(info, operands, attrs, loc);
  return createUnchecked(kind, std::move(operands), std::move(attrs), std::move(types), std::move(loc));
}

Value Graph::build(OpKind kind, std::vector<Value> operands, AttrMap attrs, std::string loc) {
  Node *n = create(kind, std::move(operands), std::move(attrs), std::move(loc));
  KILN_INTERNAL_CHECK(n->numResults() == 1) << n->mnemonic() << " does not have exactly one result";
  return n->result(0);
}

Node *Graph::createUnchecked(OpKind kind, std::vector<Value> operands, AttrMap attrs,
                             std::vector<TensorType> resultTypes, std::string loc) {
  Node *n = newNode(kind);
  n->operands_ = std::move(operands);
  n->attrs_ = std::move(attrs);
  n->results_ = std::move(resultTypes);
  n->loc_ = std::move(loc);
  insert(n);
  return n;
}

Value Graph::constant(double value, TensorType t) {
  AttrMap a;
  a.set("value", value);
  a.set("dtype", std::string(dtypeName(t.dtype)));
  a.set("shape", t.shape);
  return build(OpKind::Constant, {}, std::move(a));
}

void Graph::reinfer(Node *n) {
  if (!n->info().hooks.infer)
    return;
  n->results_ = inferTypes(n->info(), n->operands_, n->attrs_, n->loc_);
}

// ---- Rewriting --------------------------------------------------------------

std::vector<Node *> Graph::users(Value v) const {
  std::vector<Node *> out;
  for (Node *n : order_)
    for (const Value &o : n->operands_)
      if (o == v)
        out.push_back(n);
  return out;
}

size_t Graph::useCount(Value v) const {
  size_t count = users(v).size();
  for (const Value &o : outputs_)
    count += (o == v);
  return count;
}

void Graph::replaceAllUsesWith(Value from, Value to) {
  KILN_INTERNAL_CHECK(from && to) << "replaceAllUsesWith with a null value";
  KILN_INTERNAL_CHECK(from.type() == to.type())
      << "replaceAllUsesWith: type " << typeString(from.type()) << " vs " << typeString(to.type());
  for (Node *n : order_)
    for (Value &o : n->operands_)
      if (o == from)
        o = to;
  for (Value &o : outputs_)
    if (o == from)
      o = to;
}

void Graph::erase(Node *n) {
  for (size_t i = 0; i < n->numResults(); ++i)
    KILN_INTERNAL_CHECK(useCount(n->result(i)) == 0)
        << "erasing " << n->mnemonic() << " whose result " << i << " is still used";
  auto it = std::find(order_.begin(), order_.end(), n);
  KILN_INTERNAL_CHECK(it != order_.end()) << "erasing a node that is not in the body of @" << name_;
  order_.erase(it);
  if (insertBefore_ == n)
    insertBefore_ = nullptr;
  auto st = std::find_if(storage_.begin(), storage_.end(), [&](const auto &p) { return p.get() == n; });
  storage_.erase(st);
}

void Graph::moveBefore(Node *n, Node *before) {
  auto it = std::find(order_.begin(), order_.end(), n);
  KILN_INTERNAL_CHECK(it != order_.end()) << "moving a node that is not in the body";
  order_.erase(it);
  if (!before) {
    order_.push_back(n);
    return;
  }
  auto pos = std::find(order_.begin(), order_.end(), before);
  KILN_INTERNAL_CHECK(pos != order_.end()) << "moving before a node that is not in the body";
  order_.insert(pos, n);
}

void Graph::sortTopologically() { order_ = topologicalOrder(*this); }

int64_t Graph::positionOf(const Node *n) const {
  auto it = std::find(order_.begin(), order_.end(), n);
  return it == order_.end() ? -1 : it - order_.begin();
}

std::unique_ptr<Graph> Graph::clone(std::unordered_map<Value, Value, ValueHash> *mapOut) const {
  auto g = std::make_unique<Graph>(name_);
  std::unordered_map<Value, Value, ValueHash> local;
  auto &map = mapOut ? *mapOut : local;
  for (Node *n : inputs_)
    map[n->result(0)] = g->addInput(n->name(), n->resultType(0));
  for (Node *n : params_)
    map[n->result(0)] = g->addParam(n->name(), n->resultType(0));
  for (Node *n : states_)
    map[n->result(0)] = g->addState(n->name(), n->resultType(0));
  for (Node *n : order_) {
    std::vector<Value> ops;
    for (const Value &o : n->operands_) {
      auto it = map.find(o);
      KILN_INTERNAL_CHECK(it != map.end()) << "clone: operand of " << n->mnemonic() << " defined later";
      ops.push_back(it->second);
    }
    Node *c = g->createUnchecked(n->kind_, std::move(ops), n->attrs_, n->results_, n->loc_);
    c->name_ = n->name_;
    if (n->body_)
      c->body_ = n->body_->clone();
    for (size_t i = 0; i < n->numResults(); ++i)
      map[n->result(i)] = c->result(i);
  }
  for (const Value &o : outputs_)
    g->outputs_.push_back(map.at(o));
  return g;
}

} // namespace kiln
