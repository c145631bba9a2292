// ir/ValueNames.h - the printed names of a graph's values (`%x`, `%loss`, `%3`).
//
// One naming rule shared by the printer, the verifier's messages, the
// Graphviz writer and the graph algorithms' messages, so a diagnostic names a
// value exactly as the text dump shows it. Signature values print with their
// own names (quoted when not identifiers); a body node keeps its name when it
// is an identifier unique in the graph and the node has one result; every
// other result gets the next number. Identifiers start with a letter or '_',
// numbers are all digits, so the two never clash.
#ifndef KILN_IR_VALUENAMES_H
#define KILN_IR_VALUENAMES_H

#include "ir/Graph.h"

#include <string>
#include <string_view>
#include <unordered_map>

namespace kiln {

/// True for `[A-Za-z_][A-Za-z0-9_.]*`, the names that print without quotes.
bool isIdentifier(std::string_view s);

/// `name` as it appears after '%' or '@': itself when an identifier, else quoted
/// in the attribute string syntax (`"my value"`).
std::string quoteName(std::string_view name);

/// The printed names of the values of one graph (not of nested region bodies).
class ValueNames {
public:
  explicit ValueNames(const Graph &g);

  /// "%x", "%3"; "%<?>" for a value that is not of this graph.
  std::string operator()(Value v) const;
  /// For messages: "conv2d %3", the mnemonic and the first result's name, or
  /// the mnemonic alone for a node without results ("assign").
  std::string describe(const Node *n) const;

private:
  std::unordered_map<Value, std::string, ValueHash> names_;
};

} // namespace kiln

#endif // KILN_IR_VALUENAMES_H
