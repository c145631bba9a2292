// ir/Printer.cpp - the IR text format writer.
//
// Layout of the output (ir/Parser.cpp reads exactly this):
//   graph @NAME(%in: TYPE, ...) params(%p: TYPE, ...) state(%s: TYPE, ...) {
//     %r = op(%a, %b) {attr = value, ...} : TYPE
//     %r0, %r1 = fused(%a) {name = "g"} : TYPE, TYPE {
//       ^(%arg0: TYPE)
//       ...
//       yield %v, %w : TYPE, TYPE
//     }
//     assign(%p, %r)
//     return %r : TYPE
//   }
// params(...) and state(...) are left out when empty. Attributes print in
// declaration order, defaults omitted unless the spec says printDefault.
#include "ir/Printer.h"

#include "ir/ValueNames.h"

#include <sstream>

namespace kiln {

namespace {

bool isDefault(const AttrSpec &spec, const Attr &value) {
  if (spec.defaultText.empty() || spec.printDefault)
    return false;
  return attrString(value) == attrString(parseAttrValue(spec.defaultText, spec.kind, spec.name));
}

class TextWriter {
public:
  explicit TextWriter(std::ostream &os) : os_(os) {}

  void graph(const Graph &g) {
    ValueNames names(g);
    os_ << "graph @" << quoteName(g.name()) << "(";
    signature(g.inputs(), names);
    os_ << ")";
    if (!g.params().empty()) {
      os_ << " params(";
      signature(g.params(), names);
      os_ << ")";
    }
    if (!g.states().empty()) {
      os_ << " state(";
      signature(g.states(), names);
      os_ << ")";
    }
    os_ << " {\n";
    body(g, names, 1);
    indent(1);
    os_ << "return";
    results(g.outputs(), names);
    os_ << "\n}\n";
  }

private:
  void indent(int depth) {
    for (int i = 0; i < depth; ++i)
      os_ << "  ";
  }

  void signature(const std::vector<Node *> &nodes, const ValueNames &names) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      os_ << (i ? ", " : "") << names(Value{nodes[i], 0}) << ": ";
      os_ << (nodes[i]->numResults() ? typeString(nodes[i]->resultType()) : "?");
    }
  }

  void types(std::span<const TensorType> ts) {
    for (size_t i = 0; i < ts.size(); ++i)
      os_ << (i ? ", " : "") << typeString(ts[i]);
  }

  /// " %a, %b : T1, T2" (nothing for an empty list), after `return` or `yield`.
  void results(const std::vector<Value> &vals, const ValueNames &names) {
    if (vals.empty())
      return;
    std::vector<TensorType> ts;
    for (size_t i = 0; i < vals.size(); ++i) {
      os_ << (i ? ", " : " ") << (vals[i] ? names(vals[i]) : "%<null>");
      ts.push_back(vals[i] ? vals[i].type() : TensorType{});
    }
    os_ << " : ";
    types(ts);
  }

  void attrs(const Node &n) {
    const AttrMap &attrs = n.attrs();
    std::vector<std::string> parts;
    std::span<const AttrSpec> specs = n.info().hooks.attrs;
    for (const AttrSpec &spec : specs) {
      if (!attrs.has(spec.name) || isDefault(spec, attrs.get(spec.name)))
        continue;
      parts.push_back(std::string(spec.name) + " = " + attrString(attrs.get(spec.name)));
    }
    // Undeclared attributes (an unverified graph) still print, so nothing is hidden.
    for (const auto &[name, value] : attrs.entries())
      if (!n.info().findAttr(name))
        parts.push_back(name + " = " + attrString(value));
    if (parts.empty())
      return;
    os_ << " {";
    for (size_t i = 0; i < parts.size(); ++i)
      os_ << (i ? ", " : "") << parts[i];
    os_ << "}";
  }

  void node(const Node &n, const ValueNames &names, int depth) {
    indent(depth);
    Node *self = const_cast<Node *>(&n);
    for (size_t i = 0; i < n.numResults(); ++i)
      os_ << (i ? ", " : "") << names(Value{self, static_cast<uint32_t>(i)});
    if (n.numResults())
      os_ << " = ";
    os_ << n.mnemonic() << "(";
    for (size_t i = 0; i < n.numOperands(); ++i) {
      Value v = n.operand(i);
      os_ << (i ? ", " : "") << (v ? names(v) : "%<null>");
    }
    os_ << ")";
    attrs(n);
    if (n.numResults()) {
      os_ << " : ";
      types(n.resultTypes());
    }
    if (const Graph *body = n.body())
      region(*body, depth);
    os_ << "\n";
  }

  void region(const Graph &body, int depth) {
    ValueNames names(body);
    os_ << " {\n";
    indent(depth + 1);
    os_ << "^(";
    signature(body.inputs(), names);
    os_ << ")\n";
    this->body(body, names, depth + 1);
    indent(depth + 1);
    os_ << "yield";
    results(body.outputs(), names);
    os_ << "\n";
    indent(depth);
    os_ << "}";
  }

  void body(const Graph &g, const ValueNames &names, int depth) {
    for (const Node *n : g.nodes())
      node(*n, names, depth);
  }

  std::ostream &os_;
};

} // namespace

void print(const Graph &g, std::ostream &os) { TextWriter(os).graph(g); }

std::string toText(const Graph &g) {
  std::ostringstream os;
  print(g, os);
  return os.str();
}

} // namespace kiln
