// tests/runtime/CudaTrainStepTest.cpp - the report CNN through the CUDA backend.
//
// Without a GPU: the CNN train step (examples/mnist/Models.h, batch 128) and
// its eval step, after the cuda pipeline (fusion included), compile through
// NVRTC to PTX that ptxas accepts for sm_90. With a GPU: one train step agrees
// with the interpreter (loss, accuracy, every updated parameter and state),
// and two executables of the same step stay bitwise equal over a few steps
// when one replays a CUDA graph and the other launches on the stream, when
// one launches programmatic dependents and the other plainly, when one's
// GEMMs prefetch their next K slice and the other's do not, and when one
// stores each update by its gradient's kernel and the other by its own.
#include "examples/mnist/Models.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/Emulator.h"
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>

namespace kiln::test {
namespace {

TensorMap stepInputs(const BuiltModel &m) {
  TensorMap env;
  for (const auto &[name, t] : m.initialParams)
    env[name] = t.clone();
  for (const auto &[name, t] : m.initialState)
    env[name] = t.clone();
  env["x"] = randomTensor({DType::F32, {m.batchSize, 1, 28, 28}}, 3, 0.0, 1.0);
  env["y"] = randomInts({DType::I32, {m.batchSize}}, 5, 0, 9);
  env["lr"] = HostTensor::scalar(DType::F32, m.learningRate);
  env["key"] = HostTensor::scalar(DType::I64, 4);
  for (auto it = env.begin(); it != env.end();) // keep only what the graph has
    it = m.train->findSignatureNode(it->first) ? std::next(it) : env.erase(it);
  return env;
}

TEST(CudaTrainStep, CnnAssemblesForSm90) {
#if KILN_WITH_CUDA
  BuiltModel m = mnist::buildModel("cnn", 128);
  EXPECT_TRUE(assemblesForSm90(*m.train, /*passes=*/true));
  EXPECT_TRUE(assemblesForSm90(*m.eval, /*passes=*/true));
  cuda::CudaLowerOptions tf32; // the GEMMs on tensor cores
  tf32.tf32 = true;
  EXPECT_TRUE(assemblesForSm90(*m.train, /*passes=*/true, tf32));
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// The members of a launch group run at once on a GPU, so none may touch
// arena bytes another member writes: the arena plan must see a group as one
// point in time. A plan in program order has the race groupOverlap reports.
TEST(CudaTrainStep, LaunchGroupMembersShareNoArenaBytes) {
#if KILN_WITH_CUDA
  BuiltModel m = mnist::buildModel("cnn", 128);
  CompileOptions opt;
  opt.backend = "cuda";
  cuda::CudaProgram p = cuda::lowerCuda(*prepareGraph(*m.train, opt));
  ASSERT_GE(p.groups.size(), 2u);
  EXPECT_EQ(cuda::groupOverlap(p, cuda::planCudaArena(p)), "");
  std::string race = cuda::groupOverlap(p, planArena(p.program, 256)); // each launch its own time
  EXPECT_NE(race.find(" of the same launch touches as "), std::string::npos) << race;
  // 31 kernels (the dropout layers ride in the conv, dense and pool-gradient
  // kernels; the GEMMs split at most 8 ways sum their slices themselves; each
  // parameter's update is stored by its gradient's kernel; the first layer's
  // filter and bias gradients compute its masked pool gradient as they read
  // it); the scheduler and the groups make them 15 launches: a layer's weight
  // gradient shares one with the input gradient of the layer after or before
  // it, and with bias gradients.
  EXPECT_EQ(p.program.launches.size(), 31u);
  EXPECT_EQ(p.launches.size(), 15u);
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

TEST(CudaTrainStep, CnnMatchesInterpreter) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  BuiltModel m = mnist::buildModel("cnn", 128);
  EXPECT_TRUE(sameAsInterpreter(*m.train, "cuda", 1e-4, stepInputs(m), /*passes=*/true));
}

/// Steps `a` and `b` (two builds of m's train step) `steps` times from `env`
/// and expects the same bits in every loss and in every parameter after.
/// `before(0)` and `before(1)` run before each step of a and of b.
void expectBitwiseSameSteps(
    Executable &a, Executable &b, const BuiltModel &m, const TensorMap &env, int steps,
    const std::function<void(int)> &before = [](int) {}) {
  for (Executable *e : {&a, &b})
    for (auto &[name, t] : env)
      e->set(name, t);
  for (int step = 0; step < steps; ++step) {
    for (Executable *e : {&a, &b}) {
      before(e == &a ? 0 : 1);
      e->set("key", HostTensor::scalar(DType::I64, step));
      e->run();
    }
    HostTensor x = a.output(0), y = b.output(0);
    EXPECT_EQ(std::memcmp(x.bytes(), y.bytes(), x.byteSize()), 0) << "loss differs at step " << step;
  }
  for (const Node *n : m.train->params()) {
    HostTensor x = a.get(n->name()), y = b.get(n->name());
    EXPECT_EQ(std::memcmp(x.bytes(), y.bytes(), x.byteSize()), 0) << n->name() << " differs";
  }
}

/// m's train step compiled with environment variable `name` set to "0" (a
/// switch of the CUDA backend), which is unset again after.
std::unique_ptr<Executable> compileWithout(const char *name, const BuiltModel &m, const CompileOptions &opt) {
  setenv(name, "0", 1);
  std::unique_ptr<Executable> e = compile(*m.train, opt);
  unsetenv(name);
  return e;
}

/// Compiles m's train step with `opt`, and again with the CUDA switch `name`
/// off, and expects the same bits from both over `steps` steps.
void expectSameBitsWithout(const char *name, const BuiltModel &m, const CompileOptions &opt, int steps) {
  std::unique_ptr<Executable> on = compile(*m.train, opt), off = compileWithout(name, m, opt);
  expectBitwiseSameSteps(*on, *off, m, stepInputs(m), steps);
}

/// The CUDA backend's options.
CompileOptions cudaOptions() {
  CompileOptions opt;
  opt.backend = "cuda";
  return opt;
}

TEST(CudaTrainStep, GraphReplayIsBitwiseReproducible) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  expectSameBitsWithout("KILN_CUDA_GRAPH", mnist::buildModel("cnn", 128), cudaOptions(), 3);
}

// Programmatic dependent launches (sm_90+, on by default) only let a kernel
// be scheduled early; each waits for the one before it, so two steps give
// the same bits as with plain launches (KILN_CUDA_PDL=0).
TEST(CudaTrainStep, ReplayWithProgrammaticLaunchesIsBitwiseThePlainOne) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  CompileOptions opt = cudaOptions();
  opt.verbose = true;
  std::ostringstream log;
  opt.log = &log;
  expectSameBitsWithout("KILN_CUDA_PDL", mnist::buildModel("cnn", 128), opt, 2);
  std::string text = log.str(); // only the first build says it launches programmatically
  size_t first = text.find("programmatic dependent launches");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("programmatic dependent launches", first + 1), std::string::npos) << text;
}

// The GEMMs load their next K slice while they multiply the current one
// (prefetch, the default); loading, then multiplying does the same arithmetic
// in the same order, so the step gives the same bits.
TEST(CudaTrainStep, PrefetchingTheNextSliceChangesNoBit) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  expectSameBitsWithout("KILN_CUDA_PREFETCH", mnist::buildModel("cnn", 128), cudaOptions(), 2);
}

// Each parameter's update is stored by the kernel computing its gradient (a
// grad_update region: the GEMM, the split-K sum, the reduction's last block);
// the separate update kernels (KILN_GRAD_UPDATE=0) compute the same
// expressions of the same values, so the step gives the same bits.
TEST(CudaTrainStep, UpdatesStoredByTheGradientKernelsChangeNoBit) {
  BuiltModel m = mnist::buildModel("cnn", 128);
  auto regions = [&] {
    size_t n = 0;
    std::unique_ptr<Graph> g = prepareGraph(*m.train, cudaOptions());
    for (Node *r : g->nodes())
      n += r->kind() == OpKind::Fused && r->attrs().getString("name") == "grad_update";
    return n;
  };
  EXPECT_EQ(regions(), 12u); // every kernel and bias of the 6 layers
  setenv("KILN_GRAD_UPDATE", "0", 1);
  EXPECT_EQ(regions(), 0u);
  unsetenv("KILN_GRAD_UPDATE");
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  expectSameBitsWithout("KILN_GRAD_UPDATE", m, cudaOptions(), 2);
}

// A GPU runs the blocks of a launch in no set order. Every sum's order is
// fixed (a split-K tile's or a chunked reduction's last block adds the parts
// in order), so the emulator's two orders of blocks and threads give the same
// bits, step after step.
TEST(CudaTrainStep, EitherOrderOfBlocksGivesTheSameBits) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
#if KILN_WITH_CUDA
  if (!cuda::emulatorRequested())
    GTEST_SKIP() << "only the emulator chooses the order of blocks (KILN_CUDA_EMULATOR=1)";
  BuiltModel m = mnist::buildModel("cnn", 128);
  std::unique_ptr<Executable> a = compile(*m.train, cudaOptions()), b = compile(*m.train, cudaOptions());
  using cuda::emulator::Order;
  expectBitwiseSameSteps(*a, *b, m, stepInputs(m), 2,
                         [](int which) { cuda::emulator::setOrder(which ? Order::Reverse : Order::Forward); });
  cuda::emulator::setOrder(std::nullopt);
#endif
}

} // namespace
} // namespace kiln::test
