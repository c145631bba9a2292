// ir/Verifier.cpp - verify(): every structural and typing invariant of a Graph.
//
// Checks, per graph and recursively per fused region: signature nodes are
// well-formed and uniquely named; every body node has the registry's operand
// and result counts, complete attributes of the declared kinds, result types
// equal to inference, operands defined earlier (signature or body of the same
// graph); assign targets are parameters or state of this graph with the
// value's type; fused bodies match their node. Messages read
// "LOC: conv2d %3: result type f32[1,2] differs from inferred f32[1,3]",
// LOC being the node's location, or "@graph" when it has none.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/ValueNames.h"

#include <algorithm>
#include <unordered_set>

namespace kiln {

namespace {

constexpr int kMaxRegionDepth = 64;

std::string typesString(std::span<const TensorType> ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i)
    s += (i ? ", " : "") + typeString(ts[i]);
  return s.empty() ? "()" : s;
}

/// Strips a leading "mnemonic: " from an inference message (we name the op already).
std::string withoutOpPrefix(std::string msg, std::string_view op) {
  std::string prefix = std::string(op) + ": ";
  if (msg.compare(0, prefix.size(), prefix) == 0)
    msg.erase(0, prefix.size());
  return msg;
}

class Verifier {
public:
  Verifier(const Graph &g, int depth) : g_(g), names_(g), depth_(depth) {}

  void run() {
    KILN_USER_CHECK(depth_ <= kMaxRegionDepth)
        << "@" << g_.name() << ": regions nested deeper than " << kMaxRegionDepth;
    signature(g_.inputs(), OpKind::Input);
    signature(g_.params(), OpKind::Parameter);
    signature(g_.states(), OpKind::State);
    for (const Node *n : g_.nodes()) {
      node(*n);
      defined_.insert(n);
    }
    for (size_t i = 0; i < g_.outputs().size(); ++i)
      checkDefined(g_.outputs()[i], "@" + g_.name(), "output " + std::to_string(i));
  }

private:
  std::string where(const Node &n) const { return n.location().empty() ? "@" + g_.name() : n.location(); }

  [[noreturn]] void fail(const Node &n, const std::string &msg) const {
    KILN_USER_ERROR() << where(n) << ": " << names_.describe(&n) << ": " << msg;
    __builtin_unreachable();
  }

  void signature(const std::vector<Node *> &nodes, OpKind kind) {
    for (const Node *n : nodes) {
      KILN_USER_CHECK(n->kind() == kind && n->graph() == &g_)
          << where(*n) << ": signature value %" << n->name() << " is a " << n->mnemonic() << " of another graph";
      KILN_USER_CHECK(n->numOperands() == 0 && n->numResults() == 1)
          << where(*n) << ": signature value %" << n->name() << " must have no operands and one result";
      KILN_USER_CHECK(!n->name().empty()) << where(*n) << ": signature value without a name";
      KILN_USER_CHECK(signatureNames_.insert(n->name()).second)
          << where(*n) << ": signature value %" << n->name() << " declared twice";
      defined_.insert(n);
    }
  }

  void checkDefined(Value v, const std::string &loc, const std::string &what) const {
    KILN_USER_CHECK(v.node) << loc << ": " << what << " is null";
    KILN_USER_CHECK(defined_.count(v.node))
        << loc << ": " << what << " uses "
        << (v.node->graph() == &g_ ? names_(v) + " before its definition" : std::string("a value of another graph"));
    KILN_USER_CHECK(v.index < v.node->numResults())
        << loc << ": " << what << " uses result " << v.index << " of " << names_.describe(v.node) << ", which has "
        << v.node->numResults();
  }

  void node(const Node &n) {
    const OpInfo &info = n.info();
    if (n.graph() != &g_)
      fail(n, "node belongs to another graph");
    if (info.opClass == OpClass::Source && n.kind() != OpKind::Constant)
      fail(n, "'" + std::string(info.mnemonic) + "' may only appear in the graph signature");
    if (info.numOperands >= 0 && n.numOperands() != static_cast<size_t>(info.numOperands))
      fail(n, "expected " + std::to_string(info.numOperands) + " operands, got " + std::to_string(n.numOperands()));
    if (info.numResults >= 0 && n.numResults() != static_cast<size_t>(info.numResults))
      fail(n, "expected " + std::to_string(info.numResults) + " results, got " + std::to_string(n.numResults()));
    std::vector<TensorType> operandTypes;
    for (size_t i = 0; i < n.numOperands(); ++i) {
      checkDefined(n.operand(i), where(n), names_.describe(&n) + ": operand " + std::to_string(i));
      operandTypes.push_back(n.operand(i).type());
    }
    attributes(n);
    if (info.hooks.infer) {
      std::vector<TensorType> inferred;
      try {
        inferred = info.hooks.infer(InferContext{info.mnemonic, operandTypes, n.attrs()});
      } catch (const UserError &e) {
        fail(n, withoutOpPrefix(e.what(), info.mnemonic));
      }
      if (inferred.size() != n.numResults())
        fail(n, "has " + std::to_string(n.numResults()) + " results, inferred " + std::to_string(inferred.size()));
      for (size_t i = 0; i < inferred.size(); ++i)
        if (inferred[i] != n.resultType(i))
          fail(n, "result type " + typeString(n.resultType(i)) + " differs from inferred " + typeString(inferred[i]));
    }
    if (n.kind() == OpKind::Assign)
      assign(n);
    if (n.kind() == OpKind::Fused)
      region(n, operandTypes);
    else if (n.body())
      fail(n, "only fused nodes may have a region");
  }

  void attributes(const Node &n) {
    const OpInfo &info = n.info();
    AttrMap complete = n.attrs();
    try {
      for (const AttrSpec &spec : info.hooks.attrs)
        KILN_USER_CHECK(n.attrs().has(spec.name)) << "missing attribute '" << spec.name << "'";
      completeAttrs(info, complete);
    } catch (const UserError &e) {
      fail(n, withoutOpPrefix(e.what(), info.mnemonic));
    }
    if (!(complete == n.attrs()))
      fail(n, "attributes are not in declaration order or not normalized");
  }

  void assign(const Node &n) {
    Value target = n.operand(0);
    const auto &params = g_.params();
    const auto &states = g_.states();
    bool ok = std::find(params.begin(), params.end(), target.node) != params.end() ||
              std::find(states.begin(), states.end(), target.node) != states.end();
    if (!ok)
      fail(n, "target " + names_(target) + " is not a parameter or state of @" + g_.name());
    if (target.type() != n.operand(1).type())
      fail(n, "value type " + typeString(n.operand(1).type()) + " differs from target type " +
                  typeString(target.type()));
  }

  void region(const Node &n, const std::vector<TensorType> &operandTypes) {
    const Graph *body = n.body();
    if (!body)
      fail(n, "fused node without a region");
    if (!body->params().empty() || !body->states().empty())
      fail(n, "region may not declare parameters or state");
    std::vector<TensorType> argTypes, yieldTypes;
    for (const Node *a : body->inputs())
      argTypes.push_back(a->numResults() ? a->resultType() : TensorType{});
    if (argTypes != operandTypes)
      fail(n, "region arguments (" + typesString(argTypes) + ") differ from operands (" +
                  typesString(operandTypes) + ")");
    Verifier inner(*body, depth_ + 1);
    inner.run();
    for (const Value &v : body->outputs())
      yieldTypes.push_back(v.type());
    std::vector<TensorType> results(n.resultTypes().begin(), n.resultTypes().end());
    if (yieldTypes != results)
      fail(n, "region yields (" + typesString(yieldTypes) + ") but the node has results (" +
                  typesString(results) + ")");
  }

  const Graph &g_;
  ValueNames names_;
  int depth_;
  std::unordered_set<const Node *> defined_;
  std::unordered_set<std::string> signatureNames_;
};

} // namespace

void verify(const Graph &g) { Verifier(g, 0).run(); }

} // namespace kiln
