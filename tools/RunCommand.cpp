// tools/RunCommand.cpp - `kiln run`: run a graph once on .npy inputs, write .npy outputs.
//
// Inputs, parameters and state come from --input NAME=FILE.npy; parameters and
// state not given are initialized from --seed (Glorot-uniform for float
// parameters of rank >= 2, zeros otherwise), which is said on stderr. Outputs
// are named as the text dump names them (%loss, %3) and go to .npy with
// --output; a short summary of each is printed to stdout.
#include "tools/Command.h"
#include "tools/Execute.h"

#include "frontend/Init.h"
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/ValueNames.h"
#include "runtime/Npy.h"

#include <cmath>
#include <iostream>
#include <map>
#include <memory>

namespace kiln::tools {
namespace {

struct RunOptions {
  std::string file;
  std::vector<std::string> inputs, outputs;
  std::string backend = "interp";
  std::string dtype = "f32";
  uint64_t seed = 0;
  bool checkNumerics = false;
};

std::string stripPercent(const std::string &s) { return !s.empty() && s[0] == '%' ? s.substr(1) : s; }

std::string signatureList(const Graph &g) {
  std::string out;
  for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
    for (const Node *n : *list)
      out += (out.empty() ? "%" : ", %") + n->name();
  return out.empty() ? "none" : out;
}

/// The kind of a signature node, for messages.
std::string_view roleOf(const Node *n) {
  switch (n->kind()) {
  case OpKind::Input: return "input";
  case OpKind::Parameter: return "parameter";
  default: return "state";
  }
}

/// Converts a tensor read from a file to the type the graph declares, when
/// that loses nothing a user would care about (f64 -> f32, i64 -> i32 in range).
HostTensor conformInput(HostTensor t, const TensorType &want, const std::string &what) {
  KILN_USER_CHECK(t.shape() == want.shape) << what << ": expected " << typeString(want) << ", the file holds "
                                           << typeString(t.type());
  if (t.dtype() == want.dtype)
    return t;
  bool bothFloat = isFloat(t.dtype()) && isFloat(want.dtype);
  bool bothInt = isInteger(t.dtype()) && isInteger(want.dtype);
  KILN_USER_CHECK(bothFloat || bothInt) << what << ": expected " << typeString(want) << ", the file holds "
                                        << typeString(t.type());
  if (bothInt) {
    HostTensor c = t.cast(want.dtype);
    for (int64_t i = 0; i < t.numel(); ++i)
      KILN_USER_CHECK(c.at(i) == t.at(i)) << what << ": element " << i << " (" << formatNumber(t.at(i))
                                          << ") does not fit " << dtypeName(want.dtype);
  }
  std::cerr << "note: " << what << ": converted " << dtypeName(t.dtype()) << " to " << dtypeName(want.dtype) << "\n";
  return t.cast(want.dtype);
}

/// Fills `env` with the --input files and initializes missing parameters and state.
void loadEnvironment(const Graph &g, const RunOptions &o, TensorMap &env) {
  for (const std::string &spec : o.inputs) {
    auto [rawName, path] = splitAssignment(spec, "--input");
    std::string name = stripPercent(rawName);
    const Node *n = g.findSignatureNode(name);
    KILN_USER_CHECK(n) << "--input " << spec << ": the graph has no input, parameter or state called '" << name
                       << "' (it has: " << signatureList(g) << ")";
    KILN_USER_CHECK(!env.count(name)) << "--input " << spec << ": '" << name << "' is given twice";
    env[name] = conformInput(readNpy(path), n->resultType(0), "--input " + spec);
  }
  std::string missing;
  for (const Node *n : g.inputs())
    if (!env.count(n->name()))
      missing += (missing.empty() ? "%" : ", %") + n->name() + ": " + typeString(n->resultType(0));
  KILN_USER_CHECK(missing.empty()) << "missing --input NAME=FILE.npy for graph input " << missing;

  for (const auto *list : {&g.params(), &g.states()}) {
    for (const Node *n : *list) {
      if (env.count(n->name()))
        continue;
      const TensorType &t = n->resultType(0);
      bool glorot = n->kind() == OpKind::Parameter && t.rank() >= 2 && isFloat(t.dtype);
      env[n->name()] = glorot ? initialize(Initializer::glorotUniform(), t, paramSeed(o.seed, n->name()))
                              : HostTensor(t);
      std::cerr << "note: " << roleOf(n) << " %" << n->name() << ": " << typeString(t) << " not given, initialized "
                << (glorot ? "glorot-uniform (seed " + std::to_string(o.seed) + ")" : std::string("to zeros"))
                << "\n";
    }
  }
}

/// Where each --output goes: an index into the graph outputs, or a parameter/state name.
struct OutputTarget {
  std::string name; // as printed
  int64_t outputIndex = -1;
  std::string envName;
  std::string path;
};

std::vector<OutputTarget> resolveOutputs(const Graph &g, const std::vector<std::string> &specs) {
  ValueNames names(g);
  std::vector<OutputTarget> out;
  for (const std::string &spec : specs) {
    auto [rawName, path] = splitAssignment(spec, "--output");
    std::string name = "%" + stripPercent(rawName);
    OutputTarget t{name, -1, {}, path};
    for (size_t i = 0; i < g.outputs().size(); ++i)
      if (names(g.outputs()[i]) == name) {
        t.outputIndex = static_cast<int64_t>(i);
        break;
      }
    if (t.outputIndex < 0) {
      const Node *n = g.findSignatureNode(stripPercent(rawName));
      if (n && n->kind() != OpKind::Input)
        t.envName = n->name();
    }
    if (t.outputIndex < 0 && t.envName.empty()) {
      std::string known;
      for (Value v : g.outputs())
        known += (known.empty() ? "" : ", ") + names(v);
      KILN_USER_ERROR() << "--output " << spec << ": '" << name << "' is not an output of the graph (outputs: "
                        << (known.empty() ? "none" : known) << "; parameters and state may be named too)";
    }
    out.push_back(std::move(t));
  }
  return out;
}

int runRun(const RunOptions &o) {
  KILN_RUNTIME_CHECK(backendAvailable(o.backend)) << "backend '" << o.backend << "' is not available in this build";
  std::unique_ptr<Graph> g = parseGraphFile(o.file);
  std::vector<OutputTarget> targets = resolveOutputs(*g, o.outputs);
  TensorMap env;
  loadEnvironment(*g, o, env);
  std::vector<HostTensor> results = executeGraph(*g, env, o.backend, o.dtype == "f64", o.checkNumerics);

  ValueNames names(*g);
  for (size_t i = 0; i < results.size(); ++i)
    std::cout << names(g->outputs()[i]) << ": " << describeTensor(results[i]) << "\n";
  for (const OutputTarget &t : targets) {
    const HostTensor &value = t.outputIndex >= 0 ? results[static_cast<size_t>(t.outputIndex)] : env.at(t.envName);
    writeNpy(t.path, value);
  }
  return 0;
}

CommandAction setupRun(CLI::App &sub) {
  auto o = std::make_shared<RunOptions>();
  sub.description("Run a graph once on tensors from .npy files and write its outputs as .npy files.\n"
                  "Prints one line per graph output to stdout: its name, type and first values.");
  sub.add_option("file", o->file, "graph to run, in the kiln IR text format (.kir)")->required()->type_name("FILE.kir");
  sub.add_option("--input", o->inputs,
                 "value of the graph input, parameter or state NAME (as in the graph's signature, with or "
                 "without '%') from a .npy file; repeat for each. Every graph input must be given; f64 data for "
                 "an f32 value (or i64 for i32) is converted")
      ->type_name("NAME=FILE.npy");
  sub.add_option("--output", o->outputs,
                 "write graph output NAME (as the text dump names it: %loss, %3) to a .npy file; repeatable. "
                 "NAME may also be a parameter or state, written with its value after the run's assigns")
      ->type_name("NAME=FILE.npy");
  sub.add_option("--backend", o->backend, "where to run: interp (the reference interpreter, default), cpu or cuda")
      ->check(CLI::IsMember(kBackendNames));
  sub.add_option("--dtype", o->dtype, "float precision of the computation: f32 (default) or f64 (float outputs "
                                      "are then f64)")
      ->check(CLI::IsMember({"f32", "f64"}));
  sub.add_option("--seed", o->seed, "seed of the parameters not given with --input: Glorot-uniform for float "
                                    "parameters of rank >= 2, zeros for the others and for state; default 0")
      ->type_name("N");
  sub.add_flag("--check-numerics", o->checkNumerics,
               "verify that no NaN or infinity appears; the error names the first op producing one");
  return [o] { return runRun(*o); };
}

} // namespace

KILN_REGISTER_COMMAND(run, CommandSpec{"run", "run a graph once on .npy inputs and write .npy outputs", 20, setupRun});

} // namespace kiln::tools
