// tools/OptCommand.cpp - `kiln opt`: parse a graph, run passes, print the result.
//
// Like mlir-opt: the graph goes to stdout (or -o), IR dumps, timings and
// statistics to stderr, so `kiln opt x.kir --passes=dce | FileCheck x.kir`
// checks the output alone.
#include "tools/Command.h"

#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Pass.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>

namespace kiln::tools {
namespace {

struct OptOptions {
  std::string file;
  std::string passes;
  std::string backend = "interp";
  bool printAfterAll = false;
  bool printAfterChange = false;
  std::vector<std::string> printAfter, printBefore;
  bool verifyEach = true;
  bool timePasses = false;
  int stopAfter = -1;
  bool stats = false;
  std::string dot;
  std::string output;
  std::string loss;
  std::vector<std::string> wrt;
};

std::string passListFooter() {
  std::ostringstream os;
  os << "Passes (for --passes, --print-after, --print-before):\n";
  size_t width = 0;
  for (const PassInfo &p : allPasses())
    width = std::max(width, p.name.size());
  for (const PassInfo &p : allPasses())
    os << "  " << p.name << std::string(width + 2 - p.name.size(), ' ') << p.help << "\n";
  for (const PipelineInfo &p : allPipelines())
    os << "  " << p.name << std::string(width + 2 - std::min(width + 1, p.name.size()), ' ') << p.help << "\n";
  os << "  default" << std::string(std::max<size_t>(width + 2, 9) - 7, ' ') << "the default pipeline: "
     << defaultPipeline("interp") << "\n";
  return os.str();
}

/// Expands the word "default" in a pass list into the backend's default pipeline.
std::string expandPipeline(const std::string &list, const std::string &backend) {
  std::string out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item == "default")
      item = defaultPipeline(backend);
    if (item.empty())
      continue;
    out += (out.empty() ? "" : ",") + item;
  }
  return out;
}

void checkPassNames(const std::vector<std::string> &names, std::string_view option) {
  for (const std::string &n : names)
    if (!findPass(n))
      throw UsageError(std::string(option) + ": unknown pass '" + n + "'");
}

std::unique_ptr<Graph> readGraph(const std::string &file) {
  if (file != "-")
    return parseGraphFile(file);
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return parseGraph(text, "<stdin>");
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KILN_RUNTIME_CHECK(out) << path << ": cannot open for writing";
  out << text;
  out.close();
  KILN_RUNTIME_CHECK(out) << path << ": write failed";
}

int runOpt(const OptOptions &o) {
  checkPassNames(o.printAfter, "--print-after");
  checkPassNames(o.printBefore, "--print-before");
  std::unique_ptr<Graph> g = readGraph(o.file);

  PassInstrumentation instr;
  instr.printAfterAll = o.printAfterAll;
  instr.printAfterChange = o.printAfterChange;
  instr.printAfter.insert(o.printAfter.begin(), o.printAfter.end());
  instr.printBefore.insert(o.printBefore.begin(), o.printBefore.end());
  instr.verifyEach = o.verifyEach;
  instr.timePasses = o.timePasses;
  instr.stopAfter = o.stopAfter;
  instr.out = &std::cerr;
  PassManager pm(instr);
  pm.addPipeline(expandPipeline(o.passes, o.backend));

  PassContext ctx;
  ctx.backend = o.backend;
  ctx.loss = o.loss;
  ctx.wrt = o.wrt;
  pm.run(*g, ctx);
  verify(*g);

  if (o.stats)
    printStats(ctx, std::cerr);
  if (!o.dot.empty()) {
    std::ostringstream dot;
    writeDot(*g, dot);
    writeText(o.dot, dot.str());
  }
  std::string text = toText(*g);
  if (o.output.empty())
    std::cout << text << std::flush;
  else
    writeText(o.output, text);
  return 0;
}

CommandAction setupOpt(CLI::App &sub) {
  auto o = std::make_shared<OptOptions>();
  sub.description("Parse a graph in the kiln IR text format, run passes on it and print the result.\n"
                  "The graph goes to stdout (or -o); IR dumps, timings and statistics go to stderr.");
  sub.add_option("file", o->file, "graph to read, in the kiln IR text format (.kir); '-' reads stdin")
      ->required()
      ->type_name("FILE.kir");
  sub.add_option("--passes", o->passes,
                 "comma-separated passes to run in order, e.g. --passes=autodiff,dce; 'default' expands "
                 "to the default pipeline of --backend; none: parse, verify and print")
      ->type_name("LIST");
  sub.add_option("--backend", o->backend, "backend the passes target (fusion asks its capabilities); default interp")
      ->check(CLI::IsMember({"interp", "cpu", "cuda"}));
  sub.add_flag("--print-after-all", o->printAfterAll, "print the graph to stderr after every pass");
  sub.add_option("--print-after", o->printAfter, "print the graph to stderr after each run of pass NAME (repeatable)")
      ->delimiter(',')
      ->type_name("NAME");
  sub.add_option("--print-before", o->printBefore, "print the graph to stderr before each run of pass NAME (repeatable)")
      ->delimiter(',')
      ->type_name("NAME");
  sub.add_flag("--print-after-change", o->printAfterChange,
               "print the graph to stderr after every pass that changed it");
  auto noVerify = std::make_shared<bool>(false);
  sub.add_flag("--verify-each", o->verifyEach, "run the verifier after every pass (the default)");
  sub.add_flag("--no-verify-each", *noVerify,
               "do not verify after every pass (the final graph is still verified)");
  sub.add_flag("--time-passes", o->timePasses, "print the wall time of each pass to stderr");
  sub.add_option("--stop-after", o->stopAfter, "run only the first N passes of the pipeline")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
  sub.add_flag("--stats", o->stats, "print the counters the passes collected (e.g. cse.merged) to stderr");
  sub.add_option("--dot", o->dot, "also write the resulting graph as Graphviz to OUT.dot (fused regions as clusters)")
      ->type_name("OUT.dot");
  sub.add_option("-o,--output", o->output, "write the resulting graph to OUT.kir instead of stdout")
      ->type_name("OUT.kir");
  sub.add_option("--loss", o->loss,
                 "autodiff: the output to differentiate (default: the output named 'loss', else output 0)")
      ->type_name("NAME");
  sub.add_option("--wrt", o->wrt, "autodiff: comma-separated values to differentiate with respect to "
                                  "(default: all parameters)")
      ->delimiter(',')
      ->type_name("LIST");
  sub.footer(passListFooter());
  return [o, noVerify] {
    o->verifyEach = !*noVerify;
    return runOpt(*o);
  };
}

} // namespace

KILN_REGISTER_COMMAND(opt, CommandSpec{"opt", "run passes on a graph and print the result", 10, setupOpt});

} // namespace kiln::tools
