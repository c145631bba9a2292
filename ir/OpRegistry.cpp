// ir/OpRegistry.cpp - the op table generated from ops.def, lookups, and attribute completion.
#include "ir/OpInfo.h"

#include "ir/Error.h"

#include <array>
#include <unordered_map>

namespace kiln {

namespace {
const OpInfo kTable[] = {
#define KILN_OP(Kind, Mnemonic, Class, NumOperands, NumResults)                                   \
  OpInfo{OpKind::Kind, Mnemonic, OpClass::Class, NumOperands, NumResults, Kind##Hooks},
#include "ir/ops.def"
};
static_assert(sizeof(kTable) / sizeof(kTable[0]) == kNumOpKinds);

/// Parsed defaults of every op's attributes, built once (index: OpKind, then spec order).
const std::vector<std::vector<Attr>> &parsedDefaults() {
  static const std::vector<std::vector<Attr>> defaults = [] {
    std::vector<std::vector<Attr>> all(kNumOpKinds);
    for (const OpInfo &info : kTable)
      for (const AttrSpec &spec : info.hooks.attrs)
        all[static_cast<size_t>(info.kind)].push_back(
            spec.defaultText.empty()
                ? Attr{}
                : parseAttrValue(spec.defaultText, spec.kind, std::string(info.mnemonic) + "." + std::string(spec.name)));
    return all;
  }();
  return defaults;
}

bool matchesKind(Attr &a, AttrKind kind) {
  switch (kind) {
  case AttrKind::Int: return std::holds_alternative<int64_t>(a);
  case AttrKind::Float:
    if (auto *i = std::get_if<int64_t>(&a))
      a = static_cast<double>(*i);
    return std::holds_alternative<double>(a);
  case AttrKind::Bool: return std::holds_alternative<bool>(a);
  case AttrKind::String: return std::holds_alternative<std::string>(a);
  case AttrKind::Ints: return std::holds_alternative<std::vector<int64_t>>(a);
  case AttrKind::Floats:
    if (auto *v = std::get_if<std::vector<int64_t>>(&a))
      a = std::vector<double>(v->begin(), v->end());
    return std::holds_alternative<std::vector<double>>(a);
  case AttrKind::Padding:
    return std::holds_alternative<std::string>(a) || std::holds_alternative<std::vector<int64_t>>(a);
  }
  return false;
}

const char *kindName(AttrKind k) {
  switch (k) {
  case AttrKind::Int: return "an integer";
  case AttrKind::Float: return "a number";
  case AttrKind::Bool: return "true or false";
  case AttrKind::String: return "a string";
  case AttrKind::Ints: return "a list of integers";
  case AttrKind::Floats: return "a list of numbers";
  case AttrKind::Padding: return "\"valid\", \"same\" or [top,left,bottom,right]";
  }
  return "?";
}
} // namespace

std::string_view opClassName(OpClass c) {
  switch (c) {
  case OpClass::Source: return "source";
  case OpClass::Elementwise: return "elementwise";
  case OpClass::Layout: return "layout";
  case OpClass::Reduction: return "reduction";
  case OpClass::Matmul: return "matmul";
  case OpClass::Conv: return "conv";
  case OpClass::Pool: return "pool";
  case OpClass::Opaque: return "opaque";
  case OpClass::Effect: return "effect";
  case OpClass::Region: return "region";
  }
  return "?";
}

const OpInfo &opInfo(OpKind kind) { return kTable[static_cast<size_t>(kind)]; }

std::optional<OpKind> opKindFromMnemonic(std::string_view mnemonic) {
  static const std::unordered_map<std::string_view, OpKind> byName = [] {
    std::unordered_map<std::string_view, OpKind> m;
    for (const OpInfo &info : kTable)
      m.emplace(info.mnemonic, info.kind);
    return m;
  }();
  auto it = byName.find(mnemonic);
  if (it == byName.end())
    return std::nullopt;
  return it->second;
}

std::span<const OpInfo> allOps() { return kTable; }

const AttrSpec *OpInfo::findAttr(std::string_view name) const {
  for (const AttrSpec &spec : hooks.attrs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

void completeAttrs(const OpInfo &info, AttrMap &attrs) {
  for (const auto &[name, value] : attrs.entries()) {
    const AttrSpec *spec = info.findAttr(name);
    KILN_USER_CHECK(spec) << info.mnemonic << ": unknown attribute '" << name << "'";
    Attr v = value;
    KILN_USER_CHECK(matchesKind(v, spec->kind))
        << info.mnemonic << ": attribute '" << name << "' must be " << kindName(spec->kind) << ", got "
        << attrString(value);
  }
  const auto &defaults = parsedDefaults()[static_cast<size_t>(info.kind)];
  AttrMap ordered;
  for (size_t i = 0; i < info.hooks.attrs.size(); ++i) {
    const AttrSpec &spec = info.hooks.attrs[i];
    if (attrs.has(spec.name)) {
      Attr v = attrs.get(spec.name);
      matchesKind(v, spec.kind); // normalizes int -> float
      ordered.set(spec.name, std::move(v));
      continue;
    }
    KILN_USER_CHECK(!spec.defaultText.empty())
        << info.mnemonic << ": missing required attribute '" << spec.name << "'";
    ordered.set(spec.name, defaults[i]);
  }
  attrs = std::move(ordered);
}

} // namespace kiln
