// tools/Command.h - how a `kiln` subcommand plugs into the command line.
//
// Each subcommand lives in its own file (tools/OptCommand.cpp, ...) and
// registers itself with a static KILN_REGISTER_COMMAND: a name, a one-line
// summary, its position in `kiln --help`, and a setup function that declares
// the subcommand's options on a CLI11 app and returns the action to run once
// the command line parsed. Adding a subcommand is adding one file; kiln.cpp
// never changes. Actions report failures by throwing: kiln::Error (exit 1) or
// UsageError (a malformed argument CLI11 could not check, exit 2).
#ifndef KILN_TOOLS_COMMAND_H
#define KILN_TOOLS_COMMAND_H

#include "ir/HostTensor.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tools {

/// Runs a parsed subcommand; returns the process exit code (0 on success).
using CommandAction = std::function<int()>;

/// One registered subcommand.
struct CommandSpec {
  std::string name;    ///< "opt", "run", ...
  std::string summary; ///< one line for `kiln --help`
  int order = 100;     ///< position in `kiln --help` (lower first)
  /// Declares options on `sub` (bound to state the action captures) and returns the action.
  std::function<CommandAction(CLI::App &sub)> setup;
};

/// Every registered subcommand, sorted by order then name.
std::vector<CommandSpec> registeredCommands();

/// Registers a subcommand at static-initialization time (see KILN_REGISTER_COMMAND).
struct CommandRegistrar {
  explicit CommandRegistrar(CommandSpec spec);
};

/// A malformed argument found after parsing (e.g. `--input x` without `=FILE`): exit code 2.
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Splits "NAME=VALUE"; UsageError naming `option` when there is no '=' or a side is empty.
std::pair<std::string, std::string> splitAssignment(const std::string &text, std::string_view option);

/// A short description of a tensor for terminals: "f32[2,3] = [1, 2, 3, 4, 5, 6]",
/// at most `maxValues` values, then "..." and the count.
std::string describeTensor(const HostTensor &t, size_t maxValues = 8);

/// Shortest decimal text of `v` that reads back to the same double ("0.1", "3", "-inf").
std::string formatNumber(double v);

} // namespace kiln::tools

/// Registers a subcommand from a file of tools/: KILN_REGISTER_COMMAND(opt, CommandSpec{...}).
#define KILN_REGISTER_COMMAND(id, ...)                                                             \
  static const ::kiln::tools::CommandRegistrar kilnCommandRegistrar_##id{__VA_ARGS__}

#endif // KILN_TOOLS_COMMAND_H
