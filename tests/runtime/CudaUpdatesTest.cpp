// tests/runtime/CudaUpdatesTest.cpp - parameter and state updates through the CUDA backend.
//
// Updates in place (no buffer and no copy of their own), one thread per
// element, and updates stored by the kernel that computes the parameter's
// gradient (grad_update regions). Without a GPU the programs' shapes are
// checked; with a GPU (or the emulator) three steps agree with the interpreter.
#include "ir/Printer.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <set>

namespace kiln::test {
namespace {

// An update whose old value nothing reads afterwards (an optimizer's) is
// written into the parameter or state itself, as on the cpu: no new buffer
// and no assign, so no device-to-device copy in the step. A view of the
// parameter read after the update keeps its assign. On a device (or the
// emulator) three steps agree with the interpreter.
TEST(CudaUpdates, InPlaceOnlyWhenTheOldValueIsNotReadAfter) {
#if KILN_WITH_CUDA
  for (bool lateRead : {false, true}) {
    Graph g;
    buildUpdateStep(g, lateRead);
    fuseFor(g, "cuda");
    cuda::CudaProgram p = cuda::lowerCuda(g);
    std::vector<std::string> assigned;
    for (auto [t, v] : p.program.assigns)
      assigned.push_back(p.program.buffers[t].name);
    EXPECT_EQ(assigned, lateRead ? std::vector<std::string>{"w"} : std::vector<std::string>{})
        << printProgram(p.program);
    if (hasCudaBackend())
      expectSameSteps(g, "cuda");
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// A matrix updated in place (an optimizer's step on a dense layer's kernel)
// is one thread per element: the update's iterations touch disjoint elements
// of the buffers they read and write, so its rows and its columns both spread
// over threads (24 x 40 = 960 elements: 4 blocks of 256), not its 24 rows
// alone with a loop over 40 columns in each. Three steps agree with the
// interpreter on a device (or the emulator).
TEST(CudaUpdates, MatrixUpdatedInPlaceIsOneThreadPerElement) {
#if KILN_WITH_CUDA
  Graph g;
  TensorType t{DType::F32, {24, 40}};
  Value x = g.addInput("x", t);
  Value w = g.addParam("w", t), s = g.addState("s", t);
  Value ns = g.build(OpKind::Add, {g.build(OpKind::Mul, {s, g.constant(0.9, f32({}))}), g.build(OpKind::Mul, {x, x})});
  Value step = g.build(OpKind::Div, {x, g.build(OpKind::Sqrt, {g.build(OpKind::Add, {ns, g.constant(1.0, f32({}))})})});
  g.create(OpKind::Assign, {w, g.build(OpKind::Sub, {w, step})});
  g.create(OpKind::Assign, {s, ns});
  g.setOutputs({g.build(OpKind::ReduceSum, {x})});
  fuseFor(g, "cuda");
  cuda::CudaProgram p = cuda::lowerCuda(g);
  EXPECT_TRUE(p.program.assigns.empty()) << printProgram(p.program);
  int updates = 0;
  for (const cuda::CudaKernel &k : p.kernels) {
    if (k.kind != "generic")
      continue;
    ++updates;
    EXPECT_EQ(k.grid[0], 4) << k.source;
    EXPECT_NE(k.source.find("if (gid >= 960) return;"), std::string::npos) << k.source;
    EXPECT_EQ(k.source.find("for ("), std::string::npos) << k.source;
  }
  EXPECT_EQ(updates, 1) << printProgram(p.program);
  if (hasCudaBackend())
    expectSameSteps(g, "cuda");
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// The op computing a parameter's gradient stores the parameter's update
// through its epilogue (a "grad_update" region): the GEMM, the split-K sum,
// the filter gradient and both kinds of reduction write the new parameter and
// both states in place, and no kernel of the update's own is left. On a device
// (or the emulator) three steps agree with the interpreter.
TEST(CudaUpdates, GradientKernelsStoreTheirParametersUpdate) {
#if KILN_WITH_CUDA
  for (const std::string kind : {"matmul", "splitk", "filter", "bias", "chunks"}) {
    SCOPED_TRACE(kind);
    Graph g(kind);
    buildGradUpdate(g, kind);
    fuseFor(g, "cuda");
    size_t regions = 0;
    for (Node *n : g.nodes())
      regions += n->kind() == OpKind::Fused && n->attrs().getString("name") == "grad_update";
    EXPECT_EQ(regions, 1u) << toText(g);
    cuda::CudaProgram p = cuda::lowerCuda(g);
    EXPECT_TRUE(p.program.assigns.empty()) << printProgram(p.program);
    std::set<std::string> kinds;
    for (size_t i = 0; i < p.program.kernels.size(); ++i)
      kinds.insert(p.kernels[i].kind);
    EXPECT_EQ(kinds.count("generic"), 0u) << printProgram(p.program); // no update kernel
    if (kind == "splitk") {
      EXPECT_EQ(kinds.count("splitk_sum"), 1u) << printProgram(p.program);
    }
    if (hasCudaBackend())
      expectSameSteps(g, "cuda", 1e-5);
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

} // namespace
} // namespace kiln::test
