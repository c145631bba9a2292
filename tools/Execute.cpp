// tools/Execute.cpp - backend dispatch for the command line.
#include "tools/Execute.h"

#include "ir/Error.h"
#include "runtime/Executable.h"

#include <algorithm>

namespace kiln::tools {

bool backendAvailable(std::string_view backend) {
  std::vector<std::string> have = availableBackends();
  return std::find(have.begin(), have.end(), backend) != have.end();
}

namespace {
/// Runs `g` through compile() on a compiled backend; f64 widens graph and values.
std::vector<HostTensor> executeCompiled(const Graph &g, TensorMap &env, std::string_view backend, bool f64,
                                        bool checkNumerics) {
  std::unique_ptr<Graph> wide = f64 ? widenToF64(g) : nullptr;
  const Graph &run = f64 ? *wide : g;
  CompileOptions opt;
  opt.backend = std::string(backend);
  opt.checkNumerics = checkNumerics;
  std::unique_ptr<Executable> exe = compile(run, opt);
  for (const auto *list : {&run.inputs(), &run.params(), &run.states()})
    for (const Node *n : *list) {
      auto it = env.find(n->name());
      KILN_USER_CHECK(it != env.end()) << "missing value for '" << n->name() << "'";
      exe->set(n->name(), it->second.cast(n->resultType(0).dtype));
    }
  exe->run();
  std::vector<HostTensor> outs;
  for (size_t i = 0; i < run.outputs().size(); ++i)
    outs.push_back(exe->output(i));
  for (const auto *list : {&run.params(), &run.states()})
    for (const Node *n : *list)
      env[n->name()] = exe->get(n->name()).cast(env[n->name()].dtype());
  return outs;
}
} // namespace

std::vector<HostTensor> executeGraph(const Graph &g, TensorMap &env, std::string_view backend, bool f64,
                                     bool checkNumerics) {
  if (backend == "interp") {
    InterpretOptions opt;
    opt.f64 = f64;
    opt.checkNumerics = checkNumerics;
    return interpret(g, env, opt);
  }
  return executeCompiled(g, env, backend, f64, checkNumerics);
}

} // namespace kiln::tools
