// runtime/Executable.cpp - compile(): the one dispatch point over backends.
#include "runtime/Executable.h"

#include "ir/Error.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"

namespace kiln {

std::unique_ptr<Graph> prepareGraph(const Graph &g, const CompileOptions &opt) {
  std::unique_ptr<Graph> copy = g.clone();
  if (!opt.runPasses)
    return copy;
  PassManager pm;
  pm.addPipeline(defaultPipeline(opt.backend));
  PassContext ctx;
  ctx.backend = opt.backend;
  pm.run(*copy, ctx);
  return copy;
}

std::unique_ptr<Executable> compile(const Graph &g, const CompileOptions &opt) {
  if (opt.backend == "interp")
    return makeInterpExecutable(g, opt);
  if (opt.backend == "cpu")
    return opt.checkNumerics ? withNumericsCheck(makeCpuExecutable(g, opt)) : makeCpuExecutable(g, opt);
  if (opt.backend == "cuda")
    return opt.checkNumerics ? withNumericsCheck(makeCudaExecutable(g, opt)) : makeCudaExecutable(g, opt);
  KILN_USER_ERROR() << "unknown backend '" << opt.backend << "' (expected interp, cpu or cuda)";
  return nullptr;
}

std::vector<std::string> availableBackends() {
  std::vector<std::string> out{"interp"};
  if (hasCpuBackend())
    out.push_back("cpu");
  if (hasCudaBackend())
    out.push_back("cuda");
  return out;
}

} // namespace kiln
