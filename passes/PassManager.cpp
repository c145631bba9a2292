// passes/PassManager.cpp - the pass registry, the PassManager and its instrumentation.
//
// The registry is passes.def expanded into one table. The PassManager runs a
// list of passes and, on request, dumps the IR around them, verifies after
// each, stops after N passes and reports per-pass wall time. It changes the
// graph only through the passes it runs.
#include "passes/Pass.h"

#include "ir/Error.h"
#include "ir/Printer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

namespace kiln {

namespace {

constexpr PassInfo kPasses[] = {
#define KILN_PASS(Name, Function, Help) PassInfo{Name, &Function, Help},
#include "passes/passes.def"
};

std::string knownPassList() {
  std::string s;
  for (const PassInfo &p : kPasses) {
    if (!s.empty())
      s += ", ";
    s += p.name;
  }
  for (const PipelineInfo &p : allPipelines())
    s += ", " + std::string(p.name);
  return s;
}

void dump(std::ostream &os, std::string_view when, std::string_view pass, const Graph &g) {
  os << "// -----// IR Dump " << when << " " << pass << " //----- //\n";
  print(g, os);
  os << "\n";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

const char *kRule = "===-------------------------------------------------------------------------===\n";

/// The --time-passes report: one row per pass name, slowest first (ties by name).
void printTimings(std::ostream &os, const std::vector<std::pair<std::string, double>> &times) {
  std::vector<std::pair<std::string, double>> rows;
  for (const auto &[name, secs] : times) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto &r) { return r.first == name; });
    if (it == rows.end())
      rows.emplace_back(name, secs);
    else
      it->second += secs;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  double total = 0;
  for (const auto &r : rows)
    total += r.second;
  char line[160];
  os << kRule << "                      ... Pass execution timing report ...\n" << kRule;
  std::snprintf(line, sizeof line, "  Total Execution Time: %.4f seconds\n\n", total);
  os << line << "   ---Wall Time---  --- Name ---\n";
  for (const auto &[name, secs] : rows) {
    double pct = total > 0 ? 100.0 * secs / total : 0.0;
    std::snprintf(line, sizeof line, "   %.4f (%5.1f%%)  %s\n", secs, pct, name.c_str());
    os << line;
  }
  std::snprintf(line, sizeof line, "   %.4f (100.0%%)  Total\n", total);
  os << line;
}

} // namespace

std::span<const PassInfo> allPasses() { return kPasses; }

const PassInfo *findPass(std::string_view name) {
  for (const PassInfo &p : kPasses)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::span<const PipelineInfo> allPipelines() {
  static const PipelineInfo pipelines[] = {
#define KILN_PIPELINE(Name, Passes, Help) {Name, Passes, Help},
#include "passes/passes.def"
  };
  return pipelines;
}

void PassManager::add(std::string_view name) {
  for (const PipelineInfo &pl : allPipelines())
    if (pl.name == name) {
      addPipeline(pl.passes);
      return;
    }
  const PassInfo *p = findPass(name);
  KILN_USER_CHECK(p) << "unknown pass '" << name << "' (known passes: " << knownPassList() << ")";
  passes_.push_back(p);
}

void PassManager::addPipeline(std::string_view list) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty())
      add(item);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
}

bool PassManager::run(Graph &g, PassContext &ctx) {
  std::ostream &os = instr_.out ? *instr_.out : std::cerr;
  std::vector<std::pair<std::string, double>> times;
  bool anyChanged = false;
  // --print-after-all starts with the input, so the dumps show every step from the start.
  if (instr_.printAfterAll && !passes_.empty() && instr_.stopAfter != 0)
    dump(os, "Before", passes_.front()->name, g);
  for (size_t i = 0; i < passes_.size(); ++i) {
    if (instr_.stopAfter >= 0 && static_cast<int64_t>(i) >= instr_.stopAfter)
      break;
    const PassInfo &p = *passes_[i];
    std::string name(p.name);
    if (instr_.printBefore.count(name))
      dump(os, "Before", name, g);

    auto start = std::chrono::steady_clock::now();
    bool changed = p.run(g, ctx);
    auto stop = std::chrono::steady_clock::now();
    times.emplace_back(name, std::chrono::duration<double>(stop - start).count());
    anyChanged |= changed;

    if (instr_.verifyEach) {
      try {
        verify(g);
      } catch (const UserError &e) {
        KILN_INTERNAL_ERROR() << "verify-each: the graph is invalid after pass '" << name
                              << "': " << e.what();
      }
    }
    if (instr_.printAfterAll || instr_.printAfter.count(name) ||
        (instr_.printAfterChange && changed))
      dump(os, "After", name, g);
  }
  if (instr_.timePasses)
    printTimings(os, times);
  return anyChanged;
}

// The default pipelines. Every step runs once, in this order:
//   constant-fold  first: ops of constants (autodiff's broadcast seeds, the
//                  frontend's scalar constants) become plain splats;
//   simplify       then sees those splats as units (x*1, x+0) and removes
//                  identities and layout chains, which exposes duplicates;
//   cse            merges the equal subexpressions autodiff and the frontend
//                  create (repeated constants, broadcasts, transposes);
//   dce            last, dropping what the steps above left unused.
// Compiled backends then add:
//   fuse           the fused regions the backend has kernels for (after the
//                  cleanup, so fusion sees each value once);
//   plan-memory    last: the arena plan of the final graph (reported by --stats).
std::string defaultPipeline(std::string_view backend) {
  KILN_USER_CHECK(backend == "interp" || backend == "cpu" || backend == "cuda")
      << "unknown backend '" << backend << "' (known backends: interp, cpu, cuda)";
  if (backend == "cpu" || backend == "cuda")
    return "constant-fold,simplify,cse,dce,fuse,plan-memory";
  return "constant-fold,simplify,cse,dce";
}

void printStats(const PassContext &ctx, std::ostream &os) {
  os << kRule << "                          ... Statistics Collected ...\n" << kRule;
  size_t width = 1;
  for (const auto &[name, n] : ctx.stats)
    width = std::max(width, std::to_string(n).size());
  for (const auto &[name, n] : ctx.stats) {
    std::string num = std::to_string(n);
    os << std::string(width - num.size(), ' ') << num << " " << name << "\n";
  }
}

} // namespace kiln
