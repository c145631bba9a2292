// tools/kiln.cpp - the `kiln` command line: subcommand dispatch and error reporting.
//
// Subcommands register themselves (tools/Command.h); this file only builds the
// CLI11 app from the registry, parses, runs the chosen action and turns
// failures into exit codes: 0 success, 1 an error while working ("error: ..."
// on stderr), 2 a usage error (bad flags or arguments).
#include "tools/Command.h"

#include "ir/Error.h"

#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

/// CLI11 messages start with a capital letter; kiln's are lower-case.
std::string lowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z' && !(s.size() > 1 && s[1] >= 'A' && s[1] <= 'Z'))
    s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

/// Lists subcommands by their one-line registry summary; a subcommand's own
/// --help shows its full description.
class KilnFormatter : public CLI::Formatter {
public:
  std::map<std::string, std::string> summaries;
  std::string make_subcommand(const CLI::App *sub) const override {
    auto it = summaries.find(sub->get_name());
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             it != summaries.end() ? it->second : sub->get_description(), get_column_width());
    return out.str();
  }
};

} // namespace

int main(int argc, char **argv) {
  using namespace kiln::tools;
  CLI::App app{"kiln - a deep-learning graph compiler: optimize, run and compile graphs of the kiln IR", "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION, "print the version and exit");
  app.set_help_flag("-h,--help", "print this help and exit");
  app.require_subcommand(1, 1);
  app.footer("Run 'kiln COMMAND --help' for the options of a command.");

  auto formatter = std::make_shared<KilnFormatter>();
  app.formatter(formatter);

  std::vector<std::pair<CLI::App *, CommandAction>> actions;
  for (const CommandSpec &spec : registeredCommands()) {
    formatter->summaries[spec.name] = spec.summary;
    CLI::App *sub = app.add_subcommand(spec.name, spec.summary);
    sub->set_help_flag("-h,--help", "print this help and exit");
    sub->footer(""); // not the top-level footer, which subcommands inherit
    actions.emplace_back(sub, spec.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0) // --help, --version
      return app.exit(e);
    std::cerr << "error: " << lowerFirst(e.what()) << "\n";
    std::string sub;
    for (const auto &[s, a] : actions)
      if (s->parsed())
        sub = " " + s->get_name();
    std::cerr << "run 'kiln" << sub << " --help' for usage\n";
    return kExitUsage;
  }

  for (const auto &[sub, action] : actions) {
    if (!sub->parsed())
      continue;
    try {
      return action();
    } catch (const UsageError &e) {
      std::cerr << "error: " << e.what() << "\nrun 'kiln " << sub->get_name() << " --help' for usage\n";
      return kExitUsage;
    } catch (const kiln::Error &e) { // InternalError messages say "internal error at FILE:LINE"
      std::cerr << "error: " << e.what() << "\n";
      return kExitError;
    } catch (const std::exception &e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitError;
    }
  }
  return kExitUsage; // unreachable: require_subcommand(1) guarantees one parsed subcommand
}
