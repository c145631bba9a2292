// tests/support/BackendCheck.cpp - backend vs interpreter comparison of one step.
#include "tests/support/BackendCheck.h"

#include "passes/Pass.h"
#include "runtime/Executable.h"
#include "tests/support/TestSupport.h"

namespace kiln::test {

void fuseFor(Graph &g, const std::string &backend) {
  PassManager pm;
  pm.addPipeline("fuse");
  PassContext ctx;
  ctx.backend = backend;
  pm.run(g, ctx);
}

TensorMap randomEnvironment(const Graph &g, uint32_t seed, int64_t intHigh) {
  TensorMap env;
  for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
    for (Node *n : *list) {
      const TensorType &t = n->resultType();
      env[n->name()] = isFloat(t.dtype) ? randomTensor(t, seed++) : randomInts(t, seed++, 0, intHigh);
    }
  return env;
}

::testing::AssertionResult sameAsInterpreter(const Graph &g, const std::string &backend, double tol, TensorMap env,
                                             bool passes, uint32_t seed, int threads, int vectorBytes) {
  if (env.empty())
    env = randomEnvironment(g, seed);
  CompileOptions opt;
  opt.backend = backend;
  opt.runPasses = passes;
  opt.threads = threads;
  opt.cpuVectorBytes = vectorBytes;
  std::unique_ptr<Executable> exe = compile(g, opt);
  for (auto &[name, t] : env)
    exe->set(name, t);
  TensorMap ref;
  for (auto &[name, t] : env)
    ref[name] = t.clone();
  std::vector<HostTensor> want = interpret(g, ref);
  exe->run();
  for (size_t i = 0; i < want.size(); ++i) {
    ::testing::AssertionResult r = tensorsNear(exe->output(i), want[i], tol);
    if (!r)
      return ::testing::AssertionFailure() << "output " << i << ": " << r.message();
  }
  for (const auto *list : {&g.params(), &g.states()})
    for (Node *n : *list) {
      ::testing::AssertionResult r = tensorsNear(exe->get(n->name()), ref[n->name()], tol);
      if (!r)
        return ::testing::AssertionFailure() << "'" << n->name() << "' after the step: " << r.message();
    }
  return ::testing::AssertionSuccess();
}

} // namespace kiln::test
