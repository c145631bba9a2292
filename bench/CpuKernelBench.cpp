// bench/CpuKernelBench.cpp - GEMM and the report CNN's convolutions on the cpu backend.
//
// Each case is one op compiled by kiln's own code generator (packed,
// register-blocked micro-kernel), checked once against the interpreter, then
// timed. GFLOP/s counts 2 flops per multiply-add:
//   matmul M x K x N: 2*M*N*K;  conv: 2 * N*O*OH*OW * C*KH*KW (all three ops),
// the direct count even where a 3x3 layer runs by Winograd's F(2x2, 3x3)
// (about half the multiply-adds): the rate is then an effective one.
// The ceiling to compare with is a large sgemm on the same machine: BM_Gemm
// 512^3 here, or torch.mm with OpenBLAS (docs/cpu.md gives the figures).
// Threads: the benchmark argument (0 = one per core, 1 = single thread). On a
// shared host compare single-thread cases by MFLOP / the CPU column.
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"
#include "runtime/Executable.h"

#include <benchmark/benchmark.h>

#include <random>

namespace {

using namespace kiln;

HostTensor randomTensor(const TensorType &t, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  HostTensor h(t);
  for (int64_t i = 0; i < h.numel(); ++i)
    h.set(i, u(gen));
  return h;
}

/// Compiles g, checks it against the interpreter, times run().
void runCase(benchmark::State &state, Graph &g, double flops) {
  CompileOptions opt;
  opt.threads = static_cast<int>(state.range(0));
  auto exe = compile(g, opt);
  TensorMap env;
  uint32_t seed = 1;
  for (Node *n : g.inputs()) {
    env[n->name()] = randomTensor(n->resultType(), seed++);
    exe->set(n->name(), env[n->name()]);
  }
  exe->run();
  HostTensor want = interpret(g, env)[0];
  double diff = maxRelativeDifference(exe->output(0), want);
  state.counters["max_rel_diff"] = diff;
  if (diff > 1e-3) {
    state.SkipWithError("result differs from the interpreter");
    return;
  }
  for (auto _ : state)
    exe->run();
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MFLOP"] = flops / 1e6; // with one thread, MFLOP / CPU time is the rate under load
}

AttrMap convAttrs(std::vector<int64_t> shape, const char *shapeAttr) {
  AttrMap a;
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("valid"));
  if (shapeAttr)
    a.set(shapeAttr, std::move(shape));
  return a;
}

void BM_Gemm(benchmark::State &state) {
  int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  Graph g;
  Value a = g.addInput("a", {DType::F32, {m, k}});
  Value b = g.addInput("b", {DType::F32, {k, n}});
  g.setOutputs({g.build(OpKind::Matmul, {a, b})});
  runCase(state, g, 2.0 * static_cast<double>(m * n * k));
}
BENCHMARK(BM_Gemm)
    ->ArgNames({"threads", "M", "K", "N"})
    ->Args({0, 128, 1600, 512})
    ->Args({0, 512, 512, 512})
    ->Args({1, 512, 512, 512})
    ->Args({1, 128, 1600, 512})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// The report CNN's convolutions (batch 128): conv1 5x5 1->32 on 28x28, conv2 3x3 32->64 on 12x12.
struct ConvShape {
  int64_t n, c, h, w, o, k;
};
const ConvShape kConvs[] = {{128, 1, 28, 28, 32, 5}, {128, 32, 12, 12, 64, 3}};

/// The report CNN's first dense layer (x[128,1600] x w[1600,512]) and its two
/// gradients: op 0 y = x w, op 1 dx = dy w^T, op 2 dw = x^T dy.
void BM_Dense(benchmark::State &state) {
  const int64_t batch = 128, in = 1600, out = 512;
  Graph g;
  switch (state.range(1)) {
  case 0:
    g.setOutputs({g.build(OpKind::Matmul, {g.addInput("x", {DType::F32, {batch, in}}),
                                           g.addInput("w", {DType::F32, {in, out}})})});
    break;
  case 1: {
    AttrMap tb;
    tb.set("transpose_b", true);
    g.setOutputs({g.build(OpKind::Matmul,
                          {g.addInput("dy", {DType::F32, {batch, out}}), g.addInput("w", {DType::F32, {in, out}})}, tb)});
    break;
  }
  default: {
    AttrMap ta;
    ta.set("transpose_a", true);
    g.setOutputs({g.build(OpKind::Matmul,
                          {g.addInput("x", {DType::F32, {batch, in}}), g.addInput("dy", {DType::F32, {batch, out}})}, ta)});
  }
  }
  runCase(state, g, 2.0 * static_cast<double>(batch * in * out));
}
BENCHMARK(BM_Dense)
    ->ArgNames({"threads", "op"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Conv(benchmark::State &state) {
  const ConvShape &s = kConvs[state.range(1)];
  int64_t oh = s.h - s.k + 1, ow = s.w - s.k + 1;
  double flops = 2.0 * static_cast<double>(s.n * s.o * oh * ow * s.c * s.k * s.k);
  Graph g;
  TensorType x{DType::F32, {s.n, s.c, s.h, s.w}}, w{DType::F32, {s.o, s.c, s.k, s.k}}, y{DType::F32, {s.n, s.o, oh, ow}};
  switch (state.range(2)) {
  case 0:
    g.setOutputs({g.build(OpKind::Conv2d, {g.addInput("x", x), g.addInput("w", w)}, convAttrs({}, nullptr))});
    break;
  case 1:
    g.setOutputs({g.build(OpKind::Conv2dInputGrad, {g.addInput("dy", y), g.addInput("w", w)},
                          convAttrs(x.shape, "input_shape"))});
    break;
  default:
    g.setOutputs({g.build(OpKind::Conv2dFilterGrad, {g.addInput("x", x), g.addInput("dy", y)},
                          convAttrs(w.shape, "filter_shape"))});
  }
  runCase(state, g, flops);
}
BENCHMARK(BM_Conv)
    ->ArgNames({"threads", "layer", "op"}) // op: 0 forward, 1 input grad, 2 filter grad
    ->Args({0, 0, 0})
    ->Args({0, 0, 2})
    ->Args({0, 1, 0})
    ->Args({0, 1, 1})
    ->Args({0, 1, 2})
    ->Args({1, 0, 0})
    ->Args({1, 0, 2})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({1, 1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

BENCHMARK_MAIN();
