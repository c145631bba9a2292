// tests/runtime/CudaPoolGradTest.cpp - a first layer's masked pool gradient computed where it is read.
//
// The masked gradient of a pooled layer whose only readers are its filter
// gradient (one column tile of the GEMM) and its bias gradient is no kernel
// of its own on the GPU: each reader computes the elements it reads from the
// pooled gradient and the activation (Walk::whereRead). Without a GPU the
// programs' shapes are checked; with a GPU (or the emulator) the results
// agree with the interpreter, window ties included.
#include "ir/Printer.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/OpCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::test {
namespace {

/// What reads the masked gradient besides the filter and bias gradients.
enum class Reader { None, Output };

/// A pooled layer's backward: dp [4,8,5,5] (the pooled gradient), the
/// activation a [4,8,10,10], its input x [4,c,12,12]; the gradient
/// m = select(a > 0, max_pool2d_grad(dp, a), 0), the filter gradient of x
/// and m (8 x c x 3 x 3) and the bias gradient (m summed per channel). With
/// `update`, both are a parameter's SGD step (grad_update regions); else
/// outputs.
void pooledLayerBackward(Graph &g, int64_t c, bool update, Reader reader) {
  Value dp = g.addInput("dp", f32({4, 8, 5, 5})), a = g.addInput("a", f32({4, 8, 10, 10}));
  Value x = g.addInput("x", f32({4, c, 12, 12}));
  Value zero = g.constant(0.0, f32({}));
  Value pooled = g.build(OpKind::MaxPool2dGrad, {dp, a}, attrs({{"kernel", Ints{2, 2}}}));
  Value mask = g.build(OpKind::Cmp, {a, zero}, attrs({{"pred", std::string("gt")}}));
  Value m = g.build(OpKind::Select, {mask, pooled, zero});
  Value dw = g.build(OpKind::Conv2dFilterGrad, {x, m}, attrs({{"filter_shape", Ints{8, c, 3, 3}}}));
  Value db = g.build(OpKind::ReduceSum, {m}, attrs({{"axes", Ints{0, 2, 3}}}));
  std::vector<Value> outs;
  if (update) {
    Value w = g.addParam("w", dw.type()), b = g.addParam("b", db.type());
    Value rate = g.constant(0.1, f32({}));
    g.create(OpKind::Assign, {w, g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {dw, rate})})});
    g.create(OpKind::Assign, {b, g.build(OpKind::Sub, {b, g.build(OpKind::Mul, {db, rate})})});
    outs.push_back(g.build(OpKind::ReduceSum, {x}));
  } else {
    outs = {dw, db};
  }
  if (reader == Reader::Output)
    outs.push_back(m);
  g.setOutputs(outs);
}

#if KILN_WITH_CUDA
/// The number of kernels of `p` whose name says they compute a masked pool gradient.
size_t poolGradKernels(const cuda::CudaProgram &p) {
  size_t n = 0;
  for (const kir::Kernel &k : p.program.kernels)
    n += k.name.find("pool_grad_mask") != std::string::npos;
  return n;
}

/// The inputs with ties in every window of `a`: values 0, 0.5 and 1 only.
TensorMap tiedWindows(const Graph &g) {
  TensorMap env = randomEnvironment(g, 3);
  HostTensor &a = env.at("a");
  for (int64_t i = 0; i < a.numel(); ++i)
    a.set(i, std::round(a.at(i) + 1.0) / 2.0); // [-1, 1) -> {0, 0.5, 1}
  return env;
}
#endif

// The report CNN's first layer in small: its masked gradient has no kernel
// and no buffer; the filter and bias gradients (or their parameters' updates)
// are the program's two kernels. On a device (or the emulator) they agree
// with the interpreter, over three steps with the updates, and with windows
// full of ties (the first maximum takes the gradient).
TEST(CudaPoolGrads, AFirstLayersMaskedGradientIsComputedWhereItIsRead) {
#if KILN_WITH_CUDA
  for (bool update : {false, true}) {
    Graph g("pooled_layer_backward");
    pooledLayerBackward(g, 2, update, Reader::None);
    fuseFor(g, "cuda");
    cuda::CudaProgram p = cuda::lowerCuda(g);
    EXPECT_EQ(poolGradKernels(p), 0u) << printProgram(p.program);
    EXPECT_EQ(p.program.kernels.size(), update ? 3u : 2u) << printProgram(p.program); // + the output's sum
    for (const ProgramBuffer &b : p.program.buffers)
      EXPECT_FALSE(b.role == BufferRole::Temp && b.type.shape == Shape({4, 8, 10, 10})) << b.name;
    if (!hasCudaBackend())
      continue;
    if (update)
      expectSameSteps(g, "cuda", 1e-5);
    EXPECT_TRUE(sameAsInterpreter(g, "cuda", 1e-5, tiedWindows(g))) << "update " << update;
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// A masked gradient that is also an output, or read by a filter gradient
// whose GEMM has several column tiles (8 x 9 taps > 64 columns: each element
// would be computed once per tile), is a kernel of its own.
TEST(CudaPoolGrads, OtherReadersKeepItsKernel) {
#if KILN_WITH_CUDA
  for (auto [c, reader] : {std::pair{int64_t{2}, Reader::Output}, {int64_t{8}, Reader::None}}) {
    Graph g("pooled_layer_backward");
    pooledLayerBackward(g, c, false, reader);
    fuseFor(g, "cuda");
    cuda::CudaProgram p = cuda::lowerCuda(g);
    EXPECT_EQ(poolGradKernels(p), 1u) << printProgram(p.program);
    if (hasCudaBackend()) {
      EXPECT_TRUE(sameAsInterpreter(g, "cuda", 1e-5, tiedWindows(g))) << "c " << c;
    }
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

} // namespace
} // namespace kiln::test
