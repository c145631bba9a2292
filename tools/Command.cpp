// tools/Command.cpp - the subcommand registry and small helpers shared by subcommands.
#include "tools/Command.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace kiln::tools {
namespace {

// A function-local static, so registrars in other files may run first.
std::vector<CommandSpec> &registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

} // namespace

CommandRegistrar::CommandRegistrar(CommandSpec spec) { registry().push_back(std::move(spec)); }

std::vector<CommandSpec> registeredCommands() {
  std::vector<CommandSpec> out = registry();
  std::sort(out.begin(), out.end(), [](const CommandSpec &a, const CommandSpec &b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return out;
}

std::pair<std::string, std::string> splitAssignment(const std::string &text, std::string_view option) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw UsageError(std::string(option) + " expects NAME=FILE, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::string formatNumber(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string describeTensor(const HostTensor &t, size_t maxValues) {
  std::ostringstream os;
  os << typeString(t.type()) << " = ";
  bool scalar = t.shape().empty();
  if (!scalar)
    os << "[";
  int64_t shown = std::min<int64_t>(t.numel(), static_cast<int64_t>(maxValues));
  for (int64_t i = 0; i < shown; ++i) {
    os << (i ? ", " : "");
    // A float32 value prints with float precision (0.1f as "0.1", not 0.10000000149011612).
    if (t.dtype() == DType::F32) {
      char buf[32];
      auto res = std::to_chars(buf, buf + sizeof buf, static_cast<float>(t.at(i)));
      os << std::string(buf, res.ptr);
    } else if (t.dtype() == DType::Bool) {
      os << (t.at(i) != 0 ? "true" : "false");
    } else {
      os << formatNumber(t.at(i));
    }
  }
  if (t.numel() > shown)
    os << ", ... (" << t.numel() << " values)";
  if (!scalar)
    os << "]";
  return os.str();
}

} // namespace kiln::tools
