// tools/OpsCommand.cpp - `kiln ops`: the op registry as a table.
#include "tools/Command.h"

#include "ir/OpInfo.h"

#include <iostream>
#include <memory>

namespace kiln::tools {
namespace {

std::string arity(int n) { return n < 0 ? "variadic" : std::to_string(n); }

std::string_view attrKindName(AttrKind k) {
  switch (k) {
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::Bool: return "bool";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "ints";
  case AttrKind::Floats: return "floats";
  case AttrKind::Padding: return "padding";
  }
  return "?";
}

std::string pad(std::string_view s, size_t width) {
  std::string out(s);
  out.resize(std::max(width, s.size()), ' ');
  return out;
}

int runOps(bool showAttrs) {
  size_t wName = 8, wClass = 5;
  for (const OpInfo &op : allOps()) {
    wName = std::max(wName, op.mnemonic.size());
    wClass = std::max(wClass, opClassName(op.opClass).size());
  }
  std::cout << pad("mnemonic", wName) << "  " << pad("class", wClass) << "  " << pad("operands", 8) << "  summary\n";
  for (const OpInfo &op : allOps()) {
    std::cout << pad(op.mnemonic, wName) << "  " << pad(opClassName(op.opClass), wClass) << "  "
              << pad(arity(op.numOperands), 8) << "  " << op.hooks.summary << "\n";
    if (!showAttrs)
      continue;
    for (const AttrSpec &a : op.hooks.attrs)
      std::cout << std::string(wName + 4, ' ') << a.name << ": " << attrKindName(a.kind) << " = "
                << (a.defaultText.empty() ? "(required)" : std::string(a.defaultText)) << "\n";
  }
  return 0;
}

CommandAction setupOps(CLI::App &sub) {
  auto showAttrs = std::make_shared<bool>(false);
  sub.description("List every op of the registry: mnemonic, fusion class, operand count and summary.");
  sub.add_flag("--attrs", *showAttrs, "also list each op's attributes with their kinds and defaults");
  return [showAttrs] { return runOps(*showAttrs); };
}

} // namespace

KILN_REGISTER_COMMAND(ops, CommandSpec{"ops", "list the ops of the registry", 40, setupOps});

} // namespace kiln::tools
