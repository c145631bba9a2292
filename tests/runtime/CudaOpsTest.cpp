// tests/runtime/CudaOpsTest.cpp - every op and fusion pattern through the CUDA backend.
//
// One small graph per case, covering every row of ops.def that a backend
// runs (a registry walk fails on an op no case uses). Without a GPU each
// case's kernels are compiled by NVRTC to PTX for compute_90 and assembled by
// `ptxas -arch=sm_90`, and the PTX must hold one entry per kernel. With a
// GPU each case also runs one step and must agree with the interpreter
// within 1e-5 relative (the interpreter is the oracle; inputs are random).
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#if KILN_WITH_CUDA
#include "tests/runtime/CudaTestUtil.h"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

namespace kiln::test {
namespace {

struct OpCase {
  std::string name;
  std::function<void(Graph &)> build;
  bool fuse = false; ///< run the cuda fusion pipeline first
  double tol = 1e-5; ///< relative tolerance against the interpreter
};
void PrintTo(const OpCase &c, std::ostream *os) { *os << c.name; }

void unary(Graph &g) {
  Value x = g.addInput("x", f32({3, 37}));
  Value e = g.build(OpKind::Exp, {x});
  Value s = g.build(OpKind::Sigmoid, {g.build(OpKind::Neg, {e})});
  Value t = g.build(OpKind::Tanh, {g.build(OpKind::Relu, {x})});
  Value r = g.build(OpKind::Rsqrt, {g.build(OpKind::Add, {g.build(OpKind::Abs, {x}), g.constant(1.0, f32({}))})});
  Value l = g.build(OpKind::Log, {g.build(OpKind::Sqrt, {g.build(OpKind::Add, {e, e})})});
  g.setOutputs({s, t, r, l});
}

void binary(Graph &g) {
  Value a = g.addInput("a", f32({4, 5, 6}));
  Value b = g.addInput("b", f32({5, 1}));
  Value c = g.addInput("c", f32({5}));
  Value bias = g.build(OpKind::Add, {a, c}, attrs({{"broadcast", Ints{1}}}));
  Value d = g.build(OpKind::Div, {g.build(OpKind::Mul, {a, b}), g.build(OpKind::Add, {b, g.constant(3, f32({}))})});
  Value m = g.build(OpKind::Maximum, {g.build(OpKind::Sub, {a, b}), g.build(OpKind::Minimum, {a, b})});
  std::vector<Value> outs{bias, d, m};
  for (const char *pred : {"lt", "le", "gt", "ge", "eq", "ne"})
    outs.push_back(g.build(OpKind::Select, {g.build(OpKind::Cmp, {a, b}, attrs({{"pred", std::string(pred)}})), a, b}));
  g.setOutputs(outs);
}

void integers(Graph &g) {
  Value a = g.addInput("a", f32({2, 9}));
  Value k = g.addInput("k", {DType::I32, {2, 9}});
  Value ai = g.build(OpKind::Cast, {g.build(OpKind::Mul, {a, g.constant(10, f32({}))})}, attrs({{"dtype", std::string("i32")}}));
  Value sum = g.build(OpKind::Add, {ai, k});
  Value q = g.build(OpKind::Div, {sum, g.build(OpKind::Sub, {k, g.constant(4, {DType::I32, {}})})});
  Value eq = g.build(OpKind::Cmp, {ai, k}, attrs({{"pred", std::string("ne")}}));
  Value back = g.build(OpKind::Cast, {eq}, attrs({{"dtype", std::string("f32")}}));
  Value wide = g.build(OpKind::Abs, {g.build(OpKind::Neg, {g.build(OpKind::Cast, {k}, attrs({{"dtype", std::string("i64")}}))})});
  g.setOutputs({sum, q, eq, back, wide});
}

void dropout(Graph &g) {
  Value x = g.addInput("x", f32({8, 100}));
  Value key = g.addInput("key", {DType::I64, {}});
  g.setOutputs({g.build(OpKind::Dropout, {x, key}, attrs({{"rate", 0.3}, {"seed", int64_t{7}}}))});
}

void layout(Graph &g) {
  Value x = g.addInput("x", f32({2, 3, 4}));
  Value t = g.build(OpKind::Transpose, {x}, attrs({{"perm", Ints{2, 0, 1}}}));
  Value r = g.build(OpKind::Reshape, {t}, attrs({{"shape", Ints{4, -1}}}));
  Value f = g.build(OpKind::Flatten, {x});
  Value b = g.build(OpKind::Broadcast, {g.addInput("v", f32({3}))}, attrs({{"shape", Ints{2, 3, 4}}, {"dims", Ints{1}}}));
  g.setOutputs({t, r, f, g.build(OpKind::Add, {x, b}), x});
}

void reductions(Graph &g) {
  Value x = g.addInput("x", f32({6, 7, 33}));
  auto red = [&](OpKind k, Ints axes, bool keep) { return g.build(k, {x}, attrs({{"axes", axes}, {"keepdims", keep}})); };
  g.setOutputs({red(OpKind::ReduceSum, {}, false), red(OpKind::ReduceSum, {0}, false), red(OpKind::ReduceSum, {0, 2}, true),
                red(OpKind::ReduceMean, {2}, false), red(OpKind::ReduceMax, {1}, false), red(OpKind::ReduceMax, {-1}, true),
                g.build(OpKind::Argmax, {x}, attrs({{"axis", int64_t{1}}})),
                g.build(OpKind::Argmax, {x}, attrs({{"axis", int64_t{-1}}, {"keepdims", true}}))});
}

/// Few outputs of long reductions: a block per output (CudaReduce.cpp).
void longReductions(Graph &g) {
  Value x = g.addInput("x", f32({8, 5, 40, 40}));
  auto red = [&](OpKind k, Ints axes, bool keep) { return g.build(k, {x}, attrs({{"axes", axes}, {"keepdims", keep}})); };
  g.setOutputs({red(OpKind::ReduceSum, {0, 2, 3}, false), red(OpKind::ReduceMean, {0, 2, 3}, true),
                red(OpKind::ReduceMax, {0, 2, 3}, false), red(OpKind::ReduceSum, {1, 2, 3}, false)});
}

void matmul(Graph &g) {
  Value a = g.addInput("a", f32({37, 29})), b = g.addInput("b", f32({29, 45}));
  Value at = g.addInput("at", f32({29, 37})), bt = g.addInput("bt", f32({45, 29}));
  auto mm = [&](Value x, Value y, bool ta, bool tb) {
    return g.build(OpKind::Matmul, {x, y}, attrs({{"transpose_a", ta}, {"transpose_b", tb}}));
  };
  g.setOutputs({mm(a, b, false, false), mm(at, b, true, false), mm(a, bt, false, true), mm(at, bt, true, true)});
}

/// Few tiles and a long K: K is split over blocks and the slices summed in order.
void matmulSplitK(Graph &g) {
  Value a = g.addInput("a", f32({20, 3000})), b = g.addInput("b", f32({3000, 30}));
  Value bias = g.addInput("bias", f32({30}));
  Value y = g.build(OpKind::Matmul, {a, b});
  g.setOutputs({g.build(OpKind::Add, {y, bias}, attrs({{"broadcast", Ints{1}}}))});
}

void conv(Graph &g, Shape xs, Shape ws, Ints stride, Attr padding) {
  Value x = g.addInput("x", f32(xs)), w = g.addInput("w", f32(ws));
  AttrMap a = attrs({{"stride", stride}, {"padding", padding}});
  Value y = g.build(OpKind::Conv2d, {x, w}, a);
  Value dy = g.addInput("dy", y.type());
  AttrMap ai = a, af = a;
  ai.set("input_shape", xs);
  af.set("filter_shape", ws);
  g.setOutputs({y, g.build(OpKind::Conv2dInputGrad, {dy, w}, ai), g.build(OpKind::Conv2dFilterGrad, {x, dy}, af)});
}

void pooling(Graph &g) {
  Value x = g.addInput("x", f32({2, 3, 9, 8}));
  AttrMap valid = attrs({{"kernel", Ints{2, 2}}});
  AttrMap padded = attrs({{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"padding", std::string("same")}});
  Value mp = g.build(OpKind::MaxPool2d, {x}, valid), ap = g.build(OpKind::AvgPool2d, {x}, padded);
  Value mg = g.build(OpKind::MaxPool2dGrad, {g.addInput("dmp", mp.type()), x}, valid);
  AttrMap pg = padded;
  pg.set("input_shape", Ints{2, 3, 9, 8});
  Value ag = g.build(OpKind::AvgPool2dGrad, {g.addInput("dap", ap.type())}, pg);
  Value mp2 = g.build(OpKind::MaxPool2d, {x}, padded);
  g.setOutputs({mp, ap, mg, ag, mp2, g.build(OpKind::MaxPool2dGrad, {g.addInput("d2", mp2.type()), x}, padded)});
}

void softmax(Graph &g) {
  Value logits = g.addInput("logits", f32({16, 10}));
  Value labels = g.addInput("labels", {DType::I32, {16}});
  Value x3 = g.addInput("x3", f32({3, 5, 4}));
  Value dloss = g.addInput("dloss", f32({}));
  g.setOutputs({g.build(OpKind::Softmax, {logits}), g.build(OpKind::LogSoftmax, {logits}),
                g.build(OpKind::Softmax, {x3}, attrs({{"axis", int64_t{1}}})),
                g.build(OpKind::SoftmaxCrossEntropy, {logits, labels}),
                g.build(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, dloss}),
                g.build(OpKind::OneHot, {labels}, attrs({{"depth", int64_t{10}}}))});
}

void assign(Graph &g) {
  Value x = g.addInput("x", f32({4, 3}));
  Value w = g.addParam("w", f32({4, 3}));
  Value s = g.addState("s", f32({3}));
  Value nw = g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {x, g.constant(0.5, f32({}))})});
  Value ns = g.build(OpKind::ReduceSum, {w}, attrs({{"axes", Ints{0}}}));
  g.create(OpKind::Assign, {w, nw});
  g.create(OpKind::Assign, {s, ns});
  g.setOutputs({w, ns});
}

void convBiasReluPool(Graph &g) {
  Value x = g.addInput("x", f32({2, 3, 10, 10}));
  Value w = g.addParam("w", f32({4, 3, 3, 3})), b = g.addParam("b", f32({4}));
  Value y = g.build(OpKind::Conv2d, {x, w}, attrs({{"stride", Ints{1, 1}}}));
  Value r = g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", Ints{1}}}))});
  g.setOutputs({g.build(OpKind::MaxPool2d, {r}), g.build(OpKind::ReduceSum, {r})});
}

// The dropout layer after a pooled conv block, stored through the pooled
// epilogue (the relu output is kept for a second reader).
void convBiasReluPoolDropout(Graph &g) {
  Value x = g.addInput("x", f32({2, 3, 10, 10}));
  Value key = g.addInput("key", {DType::I64, {}});
  Value w = g.addParam("w", f32({4, 3, 3, 3})), b = g.addParam("b", f32({4}));
  Value y = g.build(OpKind::Conv2d, {x, w}, attrs({{"stride", Ints{1, 1}}}));
  Value r = g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", Ints{1}}}))});
  Value p = g.build(OpKind::MaxPool2d, {r});
  g.setOutputs({g.build(OpKind::Dropout, {p, key}, attrs({{"rate", 0.25}, {"seed", int64_t{7}}})),
                g.build(OpKind::ReduceSum, {r})});
}

// Without a pool, the dropout rides in the convolution's own epilogue.
void convBiasReluDropout(Graph &g) {
  Value x = g.addInput("x", f32({2, 3, 9, 9}));
  Value key = g.addInput("key", {DType::I64, {}});
  Value w = g.addParam("w", f32({4, 3, 3, 3})), b = g.addParam("b", f32({4}));
  Value y = g.build(OpKind::Conv2d, {x, w}, attrs({{"stride", Ints{1, 1}}}));
  Value r = g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", Ints{1}}}))});
  g.setOutputs({g.build(OpKind::Dropout, {r, key}, attrs({{"rate", 0.25}, {"seed", int64_t{7}}}))});
}

void matmulBiasActDropout(Graph &g) {
  Value x = g.addInput("x", f32({8, 20}));
  Value key = g.addInput("key", {DType::I64, {}});
  Value w = g.addParam("w", f32({20, 12})), b = g.addParam("b", f32({12}));
  Value z = g.build(OpKind::Add, {g.build(OpKind::Matmul, {x, w}), b}, attrs({{"broadcast", Ints{1}}}));
  g.setOutputs({g.build(OpKind::Dropout, {g.build(OpKind::Relu, {z}), key}, attrs({{"rate", 0.5}, {"seed", int64_t{9}}}))});
}

// A pool gradient reading its dropout gradient inline, then the relu mask.
void poolGradDropoutMask(Graph &g) {
  Value dp = g.addInput("dp", f32({2, 4, 5, 5}));
  Value r = g.addInput("r", f32({2, 4, 10, 10}));
  Value key = g.addInput("key", {DType::I64, {}});
  Value d = g.build(OpKind::Dropout, {dp, key}, attrs({{"rate", 0.25}, {"seed", int64_t{7}}}));
  Value dr = g.build(OpKind::MaxPool2dGrad, {d, r}, attrs({{"kernel", Ints{2, 2}}}));
  Value zero = g.constant(0.0, f32({}));
  Value m = g.build(OpKind::Cmp, {r, zero}, attrs({{"pred", std::string("gt")}}));
  g.setOutputs({g.build(OpKind::Select, {m, dr, zero})});
}

void matmulBiasAct(Graph &g) {
  Value x = g.addInput("x", f32({8, 20}));
  Value w = g.addParam("w", f32({20, 12})), b = g.addParam("b", f32({12}));
  Value y = g.build(OpKind::Matmul, {x, w});
  Value z = g.build(OpKind::Add, {y, b}, attrs({{"broadcast", Ints{1}}}));
  g.setOutputs({g.build(OpKind::Relu, {z})});
}

void softmaxXent(Graph &g) {
  Value logits = g.addInput("logits", f32({16, 10}));
  Value labels = g.addInput("labels", {DType::I32, {16}});
  Value loss = g.build(OpKind::SoftmaxCrossEntropy, {logits, labels});
  g.setOutputs({loss, g.build(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, g.constant(1.0, f32({}))})});
}

std::vector<OpCase> cases() {
  return {
      {"Unary", unary},
      {"BinaryBroadcasting", binary},
      {"CastCmpAndIntegers", integers},
      {"Dropout", dropout},
      {"Layout", layout},
      {"Reductions", reductions},
      // Sums of 12,800 values in another order than the interpreter's.
      {"LongReductions", longReductions, false, 1e-4},
      {"Matmul", matmul},
      // Sums of 3000 products in another order than the interpreter's: f32 rounding
      // differs by up to ~2e-5 where they cancel.
      {"MatmulSplitK", matmulSplitK, true, 1e-4},
      {"ConvValid", [](Graph &g) { conv(g, {2, 1, 12, 12}, {4, 1, 5, 5}, {1, 1}, std::string("valid")); }},
      {"ConvSame", [](Graph &g) { conv(g, {2, 3, 9, 8}, {5, 3, 3, 3}, {1, 1}, std::string("same")); }},
      {"ConvStrided", [](Graph &g) { conv(g, {1, 2, 11, 10}, {3, 2, 3, 2}, {2, 2}, std::string("same")); }},
      {"ConvExplicitPadding", [](Graph &g) { conv(g, {2, 2, 7, 7}, {2, 2, 3, 3}, {2, 1}, Ints{1, 0, 2, 1}); }},
      {"Pooling", pooling},
      {"SoftmaxAndLosses", softmax},
      {"Assign", assign},
      {"FusedConvBiasReluPool", convBiasReluPool, true},
      {"FusedMatmulBiasAct", matmulBiasAct, true},
      {"FusedConvBiasReluPoolDropout", convBiasReluPoolDropout, true},
      {"FusedConvBiasReluDropout", convBiasReluDropout, true},
      {"FusedMatmulBiasActDropout", matmulBiasActDropout, true},
      {"FusedPoolGradDropoutMask", poolGradDropoutMask, true},
      {"FusedSoftmaxXent", softmaxXent, true},
  };
}

std::unique_ptr<Graph> buildCase(const OpCase &c) {
  auto g = std::make_unique<Graph>(c.name);
  c.build(*g);
  if (c.fuse)
    fuseFor(*g, "cuda");
  return g;
}

class CudaOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaOps, AssemblesForSm90) {
#if KILN_WITH_CUDA
  std::unique_ptr<Graph> g = buildCase(GetParam());
  EXPECT_TRUE(assemblesForSm90(*g));
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

TEST_P(CudaOps, MatchesInterpreter) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  std::unique_ptr<Graph> g = buildCase(GetParam());
  EXPECT_TRUE(sameAsInterpreter(*g, "cuda", GetParam().tol));
}

INSTANTIATE_TEST_SUITE_P(All, CudaOps, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<OpCase> &i) { return i.param.name; });

// The mean cross-entropy is one block of threads on the GPU: rows spread
// over threads (300 rows: some threads take two) and the loss agrees with the
// interpreter; the first bad label, not the first found, is reported, and the
// next step with good labels runs clean.
TEST(CudaLoss, ManyRowsAndTheFirstBadLabel) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  Graph g("loss");
  Value logits = g.addInput("logits", f32({300, 5}));
  Value labels = g.addInput("labels", {DType::I32, {300}});
  g.setOutputs({g.build(OpKind::SoftmaxCrossEntropy, {logits, labels})});
  TensorMap env;
  env["logits"] = randomTensor(f32({300, 5}), 3);
  env["labels"] = randomInts({DType::I32, {300}}, 4, 0, 4);
  EXPECT_TRUE(sameAsInterpreter(g, "cuda", 1e-5, env));
  CompileOptions opt;
  opt.backend = "cuda";
  opt.runPasses = false;
  auto exe = compile(g, opt);
  exe->set("logits", env["logits"]);
  HostTensor bad = env["labels"].clone();
  bad.data<int32_t>()[270] = 12; // a later thread's second row
  bad.data<int32_t>()[41] = 5;
  bad.data<int32_t>()[40] = -1;
  exe->set("labels", bad);
  try {
    exe->run();
    ADD_FAILURE() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), "softmax_cross_entropy: label -1 of row 40 is outside [0,5)");
  }
  exe->set("labels", env["labels"]);
  EXPECT_NO_THROW(exe->run());
}

/// conv2d (valid, 3x3) + bias + relu, then max_pool2d with `window`, fused
/// for cuda; both the pooled and the activation before it are outputs.
std::unique_ptr<Graph> convPool(Shape xs, int64_t filters, int64_t window) {
  auto g = std::make_unique<Graph>("conv_pool");
  Value x = g->addInput("x", f32(xs));
  Value w = g->addParam("w", f32({filters, xs[1], 3, 3})), b = g->addParam("b", f32({filters}));
  Value y = g->build(OpKind::Conv2d, {x, w}, attrs({{"stride", Ints{1, 1}}}));
  Value r = g->build(OpKind::Relu, {g->build(OpKind::Add, {y, b}, attrs({{"broadcast", Ints{1}}}))});
  g->setOutputs({g->build(OpKind::MaxPool2d, {r}, attrs({{"kernel", Ints{window, window}}})), r});
  fuseFor(*g, "cuda");
  return g;
}

#if KILN_WITH_CUDA
/// The kinds of the CUDA kernels of g, in launch order.
std::vector<std::string> kernelKinds(const Graph &g) {
  cuda::CudaProgram p = cuda::lowerCuda(g);
  std::vector<std::string> kinds;
  for (const Launch &l : p.program.launches)
    kinds.push_back(p.kernels[l.kernel].kind);
  return kinds;
}
#endif

// A 2x2 max pool after a convolution is computed in the convolution's GEMM
// epilogue (each thread holds whole windows): one kernel writes the
// activation and its pooled maximum. 70 filters (two row tiles) and 72
// pooled positions (a partial column tile) cover the edges; a 3x3 pool is
// left to a kernel of its own.
TEST(CudaConvPool, TwoByTwoPoolingIsTheGemmsEpilogue) {
#if KILN_WITH_CUDA
  std::unique_ptr<Graph> fused = convPool({3, 5, 14, 10}, 70, 2);
  EXPECT_EQ(kernelKinds(*fused), std::vector<std::string>{"gemm_pool"});
  EXPECT_TRUE(assemblesForSm90(*fused));
  std::unique_ptr<Graph> apart = convPool({2, 3, 11, 11}, 4, 3);
  EXPECT_EQ(kernelKinds(*apart), (std::vector<std::string>{"gemm", "generic"}));
  if (hasCudaBackend()) {
    EXPECT_TRUE(sameAsInterpreter(*fused, "cuda"));
    EXPECT_TRUE(sameAsInterpreter(*apart, "cuda"));
  }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// GEMM operands held in buffers are staged with float4 loads along their
// contiguous index, in all four layouts (transpose_a, transpose_b), with
// partial tiles in every dimension, in 64x64 tiles and in the tiles of a C
// with at most 32 rows (32x64 of 128 threads for 36 columns, 32x128 for 100);
// a K that is no multiple of 4 stays scalar. Results are the interpreter's.
TEST(CudaMatmul, PlainOperandsLoadFourFloatsAtATime) {
#if KILN_WITH_CUDA
  for (auto [m, n] : {std::pair<int64_t, int64_t>{68, 36}, {20, 36}, {20, 100}})
  for (int64_t k : {52, 50})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Graph g("mm");
        Value a = g.addInput("a", f32(ta ? Shape{k, m} : Shape{m, k}));
        Value b = g.addInput("b", f32(tb ? Shape{n, k} : Shape{k, n}));
        g.setOutputs({g.build(OpKind::Matmul, {a, b}, attrs({{"transpose_a", ta}, {"transpose_b", tb}}))});
        // With k = 50 an operand whose contiguous index is p stays scalar.
        size_t want = k % 4 ? static_cast<size_t>(ta) + static_cast<size_t>(!tb) : 2;
        for (bool prefetch : {true, false}) {
          cuda::CudaLowerOptions lo;
          lo.prefetch = prefetch;
          cuda::CudaProgram p = cuda::lowerCuda(g, lo);
          ASSERT_EQ(p.kernels.size(), 1u);
          size_t vectors = 0;
          const std::string load = "reinterpret_cast<const float4 *>(p"; // from a parameter, not shared memory
          for (size_t at = p.kernels[0].source.find(load); at != std::string::npos;
               at = p.kernels[0].source.find(load, at + 1))
            ++vectors;
          // Prefetching, each load is written twice: the first slice's before
          // the loop, the next slice's in it.
          EXPECT_EQ(vectors, want * (prefetch ? 2 : 1)) << "m " << m << ", n " << n << ", k " << k << ", transpose_a "
                                                        << ta << ", transpose_b " << tb << ", prefetch " << prefetch;
          EXPECT_EQ(p.kernels[0].block[0], m <= 32 && n <= 64 ? 128 : 256);
        }
        if (hasCudaBackend()) {
          EXPECT_TRUE(sameAsInterpreter(g, "cuda"))
              << "m " << m << ", n " << n << ", k " << k << ", transpose_a " << ta << ", transpose_b " << tb;
        }
      }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// With tf32 allowed, f32 GEMMs run on tensor cores (mma.sync m16n8k8, inputs
// rounded to TF32): the result is the product of the rounded inputs up to
// float accumulation, in all four matmul layouts with partial tiles; without
// it the same graph keeps the fp32 kernel.
TEST(CudaTf32, GemmsOnTensorCoresMultiplyRoundedInputs) {
#if KILN_WITH_CUDA
  const int64_t m = 70, n = 40, k = 52;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Graph g("tf32");
      Value a = g.addInput("a", f32(ta ? Shape{k, m} : Shape{m, k}));
      Value b = g.addInput("b", f32(tb ? Shape{n, k} : Shape{k, n}));
      g.setOutputs({g.build(OpKind::Matmul, {a, b}, attrs({{"transpose_a", ta}, {"transpose_b", tb}}))});
      cuda::CudaLowerOptions lo;
      lo.tf32 = true;
      cuda::CudaProgram p = cuda::lowerCuda(g, lo);
      ASSERT_EQ(p.kernels.size(), 1u);
      EXPECT_EQ(p.kernels[0].kind, "gemm_tf32");
      EXPECT_EQ(cuda::lowerCuda(g).kernels[0].kind, "gemm");
      std::string ptx = cuda::nvrtcCompile(cuda::makeTranslationUnit(p.kernels), "compute_90", "tf32").ptx;
      EXPECT_NE(ptx.find("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"), std::string::npos);
      EXPECT_TRUE(assemblesForSm90(g, false, lo));
      if (!hasCudaBackend())
        continue;
      HostTensor av = randomTensor(a.type(), 11), bv = randomTensor(b.type(), 12);
      CompileOptions opt;
      opt.backend = "cuda";
      opt.tf32 = true;
      opt.runPasses = false;
      auto exe = compile(g, opt);
      exe->set("a", av);
      exe->set("b", bv);
      exe->run();
      double worst = worstProductError(exe->output(0), av, bv, m, n, k, ta, tb, /*tf32=*/true);
      EXPECT_LT(worst, 1e-6) << "transpose_a " << ta << ", transpose_b " << tb;
    }
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

// Every output comes back within its step into the slot's pinned memory,
// small or large (1.44 MB here): both are the current step's after each run.
TEST(CudaOutputs, SmallAndLargeOnesAreTheCurrentSteps) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  Graph g("outputs");
  Value x = g.addInput("x", f32({600, 600})); // 1.44 MB
  g.setOutputs({g.build(OpKind::Neg, {x}), g.build(OpKind::ReduceSum, {x})});
  CompileOptions opt;
  opt.backend = "cuda";
  opt.runPasses = false;
  auto exe = compile(g, opt);
  for (uint32_t seed : {1u, 2u}) {
    TensorMap env{{"x", randomTensor(f32({600, 600}), seed)}};
    std::vector<HostTensor> want = interpret(g, env);
    exe->set("x", env["x"]);
    exe->run();
    EXPECT_TRUE(tensorsNear(exe->output(0), want[0], 1e-6)) << "step " << seed;
    EXPECT_TRUE(tensorsNear(exe->output(1), want[1], 1e-5)) << "step " << seed;
  }
}

TEST(CudaOpsCoverage, EveryRunnableOpHasACase) {
  std::set<OpKind> used;
  for (const OpCase &c : cases()) {
    std::unique_ptr<Graph> g = buildCase(c);
    std::function<void(const Graph &)> walk = [&](const Graph &x) {
      for (Node *n : x.nodes()) {
        used.insert(n->kind());
        if (n->body())
          walk(*n->body());
      }
    };
    walk(*g);
  }
  for (const OpInfo &op : allOps()) {
    if (op.opClass == OpClass::Source && op.kind != OpKind::Constant)
      continue;
    EXPECT_TRUE(used.count(op.kind)) << "no CUDA case uses " << op.mnemonic;
  }
}

} // namespace
} // namespace kiln::test
