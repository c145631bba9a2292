// passes/Pass.h - the one pass signature, the pass registry and the PassManager.
//
// A pass is a free function (Graph&, PassContext&) -> "changed". Every pass is
// registered once in passes.def with its kebab-case CLI name and a help line.
// Failures throw UserError (bad input) or InternalError (a kiln bug).
#ifndef KILN_PASSES_PASS_H
#define KILN_PASSES_PASS_H

#include "ir/Graph.h"

#include <cstdint>
#include <map>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// What a pass may read and report besides the graph.
struct PassContext {
  /// Per-pass counters ("cse.merged" -> 12), printed by `kiln opt --stats`.
  std::map<std::string, int64_t> stats;
  /// Target backend of the pipeline: "interp", "cpu" or "cuda" (fusion asks capabilities).
  std::string backend = "interp";
  /// Autodiff: name of the output to differentiate ("" = the output named `loss`, else output 0).
  std::string loss;
  /// Autodiff: names of the values to differentiate with respect to ("" = all parameters).
  std::vector<std::string> wrt;
  /// Diagnostics stream for passes that explain themselves (may be null).
  std::ostream *log = nullptr;

  void bump(const std::string &stat, int64_t n = 1) { stats[stat] += n; }
};

/// The signature of every pass. Returns true when the graph changed.
using PassFn = bool (*)(Graph &g, PassContext &ctx);

/// A registered pass.
struct PassInfo {
  std::string_view name; ///< kebab-case, as on the command line
  PassFn run;
  std::string_view help; ///< one line
};

/// All passes, in passes.def order.
std::span<const PassInfo> allPasses();
/// The pass called `name`, or null.
const PassInfo *findPass(std::string_view name);

/// A named group of passes (passes.def KILN_PIPELINE), expanded by PassManager::add.
struct PipelineInfo {
  std::string_view name;
  std::string_view passes; ///< comma-separated pass names
  std::string_view help;
};
/// All named pipelines, in passes.def order.
std::span<const PipelineInfo> allPipelines();

#define KILN_PASS(Name, Function, Help) bool Function(Graph &g, PassContext &ctx);
#include "passes/passes.def"

/// Instrumentation switches of a PassManager (the `kiln opt` flags).
struct PassInstrumentation {
  bool printAfterAll = false;     ///< --print-after-all
  bool printAfterChange = false;  ///< --print-after-change
  std::set<std::string> printBefore, printAfter; ///< --print-before=NAME, --print-after=NAME
  bool verifyEach = true;         ///< --verify-each (verifier after every pass)
  bool timePasses = false;        ///< --time-passes
  int stopAfter = -1;             ///< --stop-after=N: run only the first N passes (-1: all)
  std::ostream *out = nullptr;    ///< where dumps and timings go (null: std::cerr)
};

/// Runs a pipeline of named passes with instrumentation.
class PassManager {
public:
  explicit PassManager(PassInstrumentation instr = {}) : instr_(std::move(instr)) {}
  /// Appends a pass by name; UserError listing the known passes if there is none.
  void add(std::string_view name);
  /// Appends every name of a comma-separated list ("autodiff,dce,fuse").
  void addPipeline(std::string_view commaSeparated);
  /// Runs the passes in order on `g`; returns true if any changed it.
  bool run(Graph &g, PassContext &ctx);
  const std::vector<const PassInfo *> &passes() const { return passes_; }

private:
  PassInstrumentation instr_;
  std::vector<const PassInfo *> passes_;
};

/// The default pipeline for a backend ("interp", "cpu", "cuda"), comma-separated.
std::string defaultPipeline(std::string_view backend);

/// Writes the counters of `ctx.stats`, sorted by name, as the `--stats` table.
void printStats(const PassContext &ctx, std::ostream &os);

} // namespace kiln

#endif // KILN_PASSES_PASS_H
