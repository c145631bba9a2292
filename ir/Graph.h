// ir/Graph.h - the kiln IR: Graph, Node and Value.
//
// A Graph owns its nodes. Users hold cheap handles (Node*, Value); rewrites
// replace all uses. Node order in the body is program order, always a
// topological order (the builder appends; passes that insert keep it or call
// Graph::sortTopologically). The signature lists inputs (fed each step),
// parameters and optimizer state (persist between steps); `assign` nodes write
// new values of parameters and state; outputs are the returned values.
// This folder includes nothing else from kiln.
#ifndef KILN_IR_GRAPH_H
#define KILN_IR_GRAPH_H

#include "ir/Attr.h"
#include "ir/OpInfo.h"
#include "ir/Types.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln {

class Graph;
class Node;

/// A handle to result `index` of `node`. Cheap to copy; null when default-constructed.
struct Value {
  Node *node = nullptr;
  uint32_t index = 0;

  const TensorType &type() const;
  DType dtype() const { return type().dtype; }
  const Shape &shape() const { return type().shape; }
  explicit operator bool() const { return node != nullptr; }
  bool operator==(const Value &o) const = default;
};

struct ValueHash {
  size_t operator()(const Value &v) const {
    return std::hash<const void *>()(v.node) * 31 + v.index;
  }
};

/// One operation. Created only through Graph.
class Node {
public:
  OpKind kind() const { return kind_; }
  const OpInfo &info() const { return opInfo(kind_); }
  std::string_view mnemonic() const { return info().mnemonic; }

  std::span<const Value> operands() const { return operands_; }
  Value operand(size_t i) const { return operands_.at(i); }
  size_t numOperands() const { return operands_.size(); }
  /// Replaces operand i; result types are not re-inferred (see Graph::reinfer).
  void setOperand(size_t i, Value v) { operands_.at(i) = v; }

  size_t numResults() const { return results_.size(); }
  Value result(size_t i = 0) { return Value{this, static_cast<uint32_t>(i)}; }
  const TensorType &resultType(size_t i = 0) const { return results_.at(i); }
  std::span<const TensorType> resultTypes() const { return results_; }
  void setResultTypes(std::vector<TensorType> t) { results_ = std::move(t); }

  AttrMap &attrs() { return attrs_; }
  const AttrMap &attrs() const { return attrs_; }

  /// Name of the value for printing (`%w1`, `%loss`); empty = numbered.
  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  /// Where the node came from: "net.kir:12:7" or a DSL caller's "model.cpp:40"; may be empty.
  const std::string &location() const { return loc_; }
  void setLocation(std::string l) { loc_ = std::move(l); }

  /// The body of a `fused` region (inputs = operands, outputs = results); null otherwise.
  Graph *body() const { return body_.get(); }
  void setBody(std::unique_ptr<Graph> g);

  /// Unique within its graph, never reused; stable across erasures.
  uint32_t id() const { return id_; }
  Graph *graph() const { return graph_; }

  ~Node();

private:
  friend class Graph;
  Node(Graph *g, uint32_t id, OpKind k) : graph_(g), id_(id), kind_(k) {}

  Graph *graph_;
  uint32_t id_;
  OpKind kind_;
  std::vector<Value> operands_;
  std::vector<TensorType> results_;
  AttrMap attrs_;
  std::string name_;
  std::string loc_;
  std::unique_ptr<Graph> body_;
};

/// A computation graph: signature (inputs, params, state), body, outputs.
class Graph {
public:
  explicit Graph(std::string name = "main");
  ~Graph();
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  // ---- Signature ----------------------------------------------------------
  /// A value fed at every run (images, labels, learning rate).
  Value addInput(std::string name, TensorType t);
  /// A trainable parameter; persists between runs.
  Value addParam(std::string name, TensorType t);
  /// Optimizer or other persistent state (not trained); persists between runs.
  Value addState(std::string name, TensorType t);
  const std::vector<Node *> &inputs() const { return inputs_; }
  const std::vector<Node *> &params() const { return params_; }
  const std::vector<Node *> &states() const { return states_; }
  /// The input, parameter or state node called `name`, or null.
  Node *findSignatureNode(std::string_view name) const;

  // ---- Building -----------------------------------------------------------
  /// Creates a node at the insertion point: fills default attributes, checks
  /// operand count and infers result types. Throws UserError whose message
  /// starts with `loc` (if any) and the op's mnemonic.
  Node *create(OpKind kind, std::vector<Value> operands, AttrMap attrs = {}, std::string loc = {});
  /// create() for single-result ops, returning the result.
  Value build(OpKind kind, std::vector<Value> operands, AttrMap attrs = {}, std::string loc = {});
  /// Creates a node with the given result types without inference (parser, regions);
  /// the verifier checks them.
  Node *createUnchecked(OpKind kind, std::vector<Value> operands, AttrMap attrs,
                        std::vector<TensorType> resultTypes, std::string loc = {});
  /// A constant splat: every element equals `value`.
  Value constant(double value, TensorType t);

  /// New nodes go before `n` (null: at the end, the default).
  void setInsertionPoint(Node *n) { insertBefore_ = n; }
  Node *insertionPoint() const { return insertBefore_; }

  /// Re-runs type inference of `n` (after operand changes); throws UserError on failure.
  void reinfer(Node *n);

  // ---- Body and outputs ---------------------------------------------------
  /// Body nodes in program order (signature nodes excluded).
  const std::vector<Node *> &nodes() const { return order_; }
  const std::vector<Value> &outputs() const { return outputs_; }
  void setOutputs(std::vector<Value> v) { outputs_ = std::move(v); }
  void addOutput(Value v) { outputs_.push_back(v); }

  // ---- Rewriting ----------------------------------------------------------
  /// Nodes that use `v` as an operand, in program order (a node once per use).
  std::vector<Node *> users(Value v) const;
  /// Number of uses of `v`, outputs included.
  size_t useCount(Value v) const;
  /// Replaces every use of `from` (operands and outputs) by `to`.
  void replaceAllUsesWith(Value from, Value to);
  /// Removes a body node; InternalError if any of its results is still used.
  void erase(Node *n);
  /// Moves `n` just before `before` in program order (null: to the end).
  void moveBefore(Node *n, Node *before);
  /// Reorders the body topologically (Boost.Graph); UserError on a cycle.
  void sortTopologically();

  /// Deep copy. `map`, when given, receives old value -> new value.
  std::unique_ptr<Graph> clone(std::unordered_map<Value, Value, ValueHash> *map = nullptr) const;

  /// Position of `n` in program order (-1 for signature nodes or foreign nodes).
  int64_t positionOf(const Node *n) const;

private:
  Node *newNode(OpKind kind);
  void insert(Node *n);

  std::string name_;
  uint32_t nextId_ = 0;
  std::vector<std::unique_ptr<Node>> storage_;
  std::vector<Node *> inputs_, params_, states_;
  std::vector<Node *> order_;
  std::vector<Value> outputs_;
  Node *insertBefore_ = nullptr;
};

/// Verifies every invariant of `g` (operand counts, attributes, types equal to
/// inferred types, defs before uses, assign targets, region bodies); throws
/// UserError naming the node, its location and what is wrong.
void verify(const Graph &g);

} // namespace kiln

#endif // KILN_IR_GRAPH_H
