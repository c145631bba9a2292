// ir/ValueNames.cpp - the printed names of a graph's values.
#include "ir/ValueNames.h"

#include <unordered_set>

namespace kiln {

namespace {
/// "%" + s, spelled so that GCC 12 sees no overlapping copy (-Wrestrict false positive).
std::string percent(std::string_view s) {
  std::string out = "%";
  out += s;
  return out;
}
bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }
} // namespace

bool isIdentifier(std::string_view s) {
  if (s.empty() || !isIdentStart(s.front()))
    return false;
  for (char c : s)
    if (!isIdentChar(c))
      return false;
  return true;
}

std::string quoteName(std::string_view name) {
  if (isIdentifier(name))
    return std::string(name);
  return attrString(Attr(std::string(name)));
}

ValueNames::ValueNames(const Graph &g) {
  std::unordered_set<std::string> taken;
  auto addSignature = [&](const std::vector<Node *> &nodes) {
    for (Node *n : nodes) {
      names_[Value{n, 0}] = percent(quoteName(n->name()));
      taken.insert(n->name());
    }
  };
  addSignature(g.inputs());
  addSignature(g.params());
  addSignature(g.states());

  int64_t next = 0;
  for (Node *n : g.nodes()) {
    const std::string &name = n->name();
    if (n->numResults() == 1 && isIdentifier(name) && taken.insert(name).second) {
      names_[Value{n, 0}] = percent(name);
      continue;
    }
    for (size_t i = 0; i < n->numResults(); ++i)
      names_[Value{n, static_cast<uint32_t>(i)}] = percent(std::to_string(next++));
  }
}

std::string ValueNames::operator()(Value v) const {
  auto it = names_.find(v);
  return it == names_.end() ? std::string("%<?>") : it->second;
}

std::string ValueNames::describe(const Node *n) const {
  std::string s(n->mnemonic());
  if (n->numResults() > 0) {
    s += ' ';
    s += (*this)(Value{const_cast<Node *>(n), 0});
  }
  return s;
}

} // namespace kiln
