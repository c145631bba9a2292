// tests/runtime/CpuOpsTest.cpp - every op on the cpu backend agrees with the interpreter.
//
// One small graph per case; inputs are random (labels within range), the
// interpreter is the oracle, tolerance 1e-5 relative (f32; 1e-4 for sums of
// hundreds of products).
#include "codegen/Lower.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace kiln::test {
namespace {

class CpuOps : public ::testing::Test {
protected:
  void SetUp() override {
    if (!hasCpuBackend())
      GTEST_SKIP() << "built without LLVM: no cpu backend";
  }
};

TEST_F(CpuOps, UnaryChain) {
  Graph g;
  Value x = g.addInput("x", f32({3, 37}));
  Value e = g.build(OpKind::Exp, {x});
  Value s = g.build(OpKind::Sigmoid, {g.build(OpKind::Neg, {e})});
  Value t = g.build(OpKind::Tanh, {g.build(OpKind::Relu, {x})});
  Value r = g.build(OpKind::Rsqrt, {g.build(OpKind::Add, {g.build(OpKind::Abs, {x}), g.constant(1.0, f32({}))})});
  Value l = g.build(OpKind::Log, {g.build(OpKind::Sqrt, {g.build(OpKind::Add, {e, e})})});
  g.setOutputs({s, t, r, l});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

TEST_F(CpuOps, BinaryBroadcasting) {
  Graph g;
  Value a = g.addInput("a", f32({4, 5, 6}));
  Value b = g.addInput("b", f32({5, 1}));
  Value c = g.addInput("c", f32({5}));
  Value bias = g.build(OpKind::Add, {a, c}, attrs({{"broadcast", std::vector<int64_t>{1}}}));
  Value d = g.build(OpKind::Div, {g.build(OpKind::Mul, {a, b}), g.build(OpKind::Add, {b, g.constant(3, f32({}))})});
  Value m = g.build(OpKind::Maximum, {g.build(OpKind::Sub, {a, b}), g.build(OpKind::Minimum, {a, b})});
  Value sel = g.build(OpKind::Select, {g.build(OpKind::Cmp, {a, b}, attrs({{"pred", std::string("gt")}})), a, b});
  g.setOutputs({bias, d, m, sel});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

TEST_F(CpuOps, CastCmpAndIntegers) {
  Graph g;
  Value a = g.addInput("a", f32({2, 9}));
  Value k = g.addInput("k", {DType::I32, {2, 9}});
  Value ai = g.build(OpKind::Cast, {g.build(OpKind::Mul, {a, g.constant(10, f32({}))})},
                     attrs({{"dtype", std::string("i32")}}));
  Value sum = g.build(OpKind::Add, {ai, k});
  Value q = g.build(OpKind::Div, {sum, g.build(OpKind::Sub, {k, g.constant(4, {DType::I32, {}})})});
  Value eq = g.build(OpKind::Cmp, {ai, k}, attrs({{"pred", std::string("ne")}}));
  Value back = g.build(OpKind::Cast, {eq}, attrs({{"dtype", std::string("f32")}}));
  g.setOutputs({sum, q, eq, back});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

TEST_F(CpuOps, Dropout) {
  Graph g;
  Value x = g.addInput("x", f32({8, 100}));
  Value key = g.addInput("key", {DType::I64, {}});
  g.setOutputs({g.build(OpKind::Dropout, {x, key}, attrs({{"rate", 0.3}, {"seed", int64_t{7}}}))});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 0.0));
}

TEST_F(CpuOps, Layout) {
  Graph g;
  Value x = g.addInput("x", f32({2, 3, 4}));
  Value t = g.build(OpKind::Transpose, {x}, attrs({{"perm", std::vector<int64_t>{2, 0, 1}}}));
  Value r = g.build(OpKind::Reshape, {t}, attrs({{"shape", std::vector<int64_t>{4, -1}}}));
  Value f = g.build(OpKind::Flatten, {x});
  Value b = g.build(OpKind::Broadcast, {g.addInput("v", f32({3}))},
                    attrs({{"shape", std::vector<int64_t>{2, 3, 4}}, {"dims", std::vector<int64_t>{1}}}));
  Value sum = g.build(OpKind::Add, {x, b});
  g.setOutputs({t, r, f, sum, x});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 0.0));
}

TEST_F(CpuOps, Reductions) {
  Graph g;
  Value x = g.addInput("x", f32({6, 7, 33}));
  auto red = [&](OpKind k, std::vector<int64_t> axes, bool keep) {
    return g.build(k, {x}, attrs({{"axes", axes}, {"keepdims", keep}}));
  };
  g.setOutputs({red(OpKind::ReduceSum, {}, false), red(OpKind::ReduceSum, {0}, false),
                red(OpKind::ReduceSum, {0, 2}, true), red(OpKind::ReduceMean, {2}, false),
                red(OpKind::ReduceMax, {1}, false), red(OpKind::ReduceMax, {-1}, true),
                g.build(OpKind::Argmax, {x}, attrs({{"axis", int64_t{1}}})),
                g.build(OpKind::Argmax, {x}, attrs({{"axis", int64_t{-1}}, {"keepdims", true}}))});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5));
}

TEST_F(CpuOps, Matmul) {
  Graph g;
  Value a = g.addInput("a", f32({37, 29}));
  Value b = g.addInput("b", f32({29, 45}));
  Value at = g.addInput("at", f32({29, 37}));
  Value bt = g.addInput("bt", f32({45, 29}));
  auto mm = [&](Value x, Value y, bool ta, bool tb) {
    return g.build(OpKind::Matmul, {x, y}, attrs({{"transpose_a", ta}, {"transpose_b", tb}}));
  };
  g.setOutputs({mm(a, b, false, false), mm(at, b, true, false), mm(a, bt, false, true), mm(at, bt, true, true)});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5));
  // The GEMM an AVX2 or SSE machine gets (6-row panels, 8- or 4-lane vectors).
  for (int bytes : {32, 16})
    EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5, {}, false, 1, 0, bytes)) << bytes << "-byte vectors";
}

struct ConvCase {
  Shape x, w;
  std::vector<int64_t> stride;
  Attr padding;
};

class CpuConv : public CpuOps, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(CpuConv, ForwardAndGradients) {
  const ConvCase &c = GetParam();
  Graph g;
  Value x = g.addInput("x", f32(c.x));
  Value w = g.addInput("w", f32(c.w));
  AttrMap a = attrs({{"stride", c.stride}, {"padding", c.padding}});
  Value y = g.build(OpKind::Conv2d, {x, w}, a);
  Value dy = g.addInput("dy", y.type());
  AttrMap ai = a, af = a;
  ai.set("input_shape", c.x);
  af.set("filter_shape", c.w);
  Value dx = g.build(OpKind::Conv2dInputGrad, {dy, w}, ai);
  Value dw = g.build(OpKind::Conv2dFilterGrad, {x, dy}, af);
  g.setOutputs({y, dx, dw});
  // y sums C*KH*KW f32 products, dx O*KH*KW, dw N*OH*OW; past a few hundred
  // terms (with cancellation) f32 sums in any order round apart from the
  // float64 reference by more than 1e-5.
  const Shape &ys = y.shape();
  const int64_t taps = c.w[2] * c.w[3];
  const int64_t terms = std::max({c.w[1] * taps, c.w[0] * taps, ys[0] * ys[2] * ys[3]});
  double tol = terms > 256 ? 1e-4 : 1e-5;
  // One thread (one part of the images), the default, and three (uneven parts).
  for (int threads : {1, 0, 3})
    EXPECT_TRUE(sameAsInterpreter(g, "cpu", tol, {}, false, 1, threads)) << threads << " threads";
  // The kernels an AVX2 machine gets (8-lane vectors, tiles for 16 registers).
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", tol, {}, false, 1, 2, 32)) << "32-byte vectors";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuConv,
    ::testing::Values(ConvCase{{2, 1, 12, 12}, {4, 1, 5, 5}, {1, 1}, std::string("valid")},
                      ConvCase{{2, 3, 9, 8}, {5, 3, 3, 3}, {1, 1}, std::string("same")},
                      ConvCase{{1, 2, 11, 10}, {3, 2, 3, 2}, {2, 2}, std::string("same")},
                      ConvCase{{2, 2, 7, 7}, {2, 2, 3, 3}, {2, 1}, std::vector<int64_t>{1, 0, 2, 1}},
                      // Batch 32: long filter-gradient K (split over threads).
                      ConvCase{{32, 3, 12, 12}, {5, 3, 3, 3}, {1, 1}, std::string("valid")},
                      // The report CNN's first layer: 668 extended columns, two column blocks;
                      // its filter gradient as dot products along 24-wide rows.
                      ConvCase{{2, 1, 28, 28}, {32, 1, 5, 5}, {1, 1}, std::string("valid")},
                      // Row-form filter gradient over two channels, 3 filters x 6 taps per
                      // tile, three images in two uneven parts.
                      ConvCase{{3, 2, 10, 10}, {3, 2, 3, 3}, {1, 1}, std::string("valid")},
                      ConvCase{{32, 2, 11, 11}, {4, 2, 3, 3}, {2, 2}, std::string("same")},
                      // Vectors along the output channels (multiples of the vector length):
                      // 64 filters x 72 taps, 100 pixels (tiles of 6 leave 4);
                      ConvCase{{3, 8, 12, 12}, {64, 8, 3, 3}, {1, 1}, std::string("valid")},
                      // 32 filters, 81 taps (tiles of 12 leave 9), stride 2, a padded copy;
                      ConvCase{{2, 9, 11, 10}, {32, 9, 3, 3}, {2, 2}, std::string("same")},
                      // 48 filters (three vectors), uneven stride and padding, 75 taps;
                      ConvCase{{2, 5, 9, 9}, {48, 5, 3, 5}, {2, 1}, std::vector<int64_t>{1, 0, 2, 1}},
                      // Winograd F(2x2, 3x3): 3x3, stride 1, even output, filters a multiple of
                      // the vector length; padded (a zero-padded copy), 16 tiles of 2x2;
                      ConvCase{{2, 16, 8, 8}, {16, 16, 3, 3}, {1, 1}, std::string("same")},
                      // uneven padding (the input gradient pads dy by 2, 1, 0 and 1);
                      ConvCase{{2, 16, 8, 8}, {16, 16, 3, 3}, {1, 1}, std::vector<int64_t>{0, 1, 2, 1}},
                      // 49 tiles (whole tiles of 6 and a last of 1), 32 filters;
                      ConvCase{{2, 8, 16, 16}, {32, 8, 3, 3}, {1, 1}, std::string("valid")},
                      // 128 filters in two blocks of channels;
                      ConvCase{{2, 8, 8, 8}, {128, 8, 3, 3}, {1, 1}, std::string("valid")},
                      // one image: conv2d stays a GEMM, the filter gradient has one part.
                      ConvCase{{1, 4, 6, 6}, {16, 4, 3, 3}, {1, 1}, std::string("same")},
                      // conv2d along output rows (OW a multiple of 8): 32 columns are a chunk
                      // of three vectors and one of one, 10 filters a tile of 8 and one of 2;
                      ConvCase{{2, 3, 34, 33}, {10, 3, 3, 2}, {1, 1}, std::string("valid")},
                      // padded (a zero-padded copy of the image), one image.
                      ConvCase{{1, 2, 16, 16}, {5, 2, 3, 3}, {1, 1}, std::string("same")},
                      // Input gradients with vectors along the input channels: the report
                      // CNN's second layer at batch 3 (edge rows reached by fewer filter rows);
                      ConvCase{{3, 32, 12, 12}, {64, 32, 3, 3}, {1, 1}, std::string("valid")},
                      // 16 channels, 8-wide rows (one short tile), padding same;
                      ConvCase{{2, 16, 9, 8}, {8, 16, 3, 3}, {1, 1}, std::string("same")},
                      // uneven padding on every side, a 4x5 filter, 13-wide rows (12 + 1).
                      ConvCase{{2, 32, 7, 13}, {4, 32, 4, 5}, {1, 1}, std::vector<int64_t>{1, 2, 0, 3}}));

// Filter gradients and matmuls whose output has few blocks but whose K is
// long split K over the threads (partial products, then a sum kernel); odd K,
// padding and stride 2 leave ragged parts. Four threads split K four ways
// even on a two-core machine. Sums of 1,200 to 4,099 f32 products round
// differently in any two summation orders (the interpreter's is sequential),
// hence 1e-4 rather than 1e-5.
TEST_F(CpuOps, SplitKProducts) {
  Graph g;
  Value x = g.addInput("x", f32({3, 2, 29, 29}));
  Value dy = g.addInput("dy", f32({3, 4, 27, 27})); // K = 3*27*27 = 2187
  AttrMap valid = attrs({{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::string("valid")}});
  valid.set("filter_shape", Shape{4, 2, 3, 3});
  Value xs = g.addInput("xs", f32({5, 3, 31, 29}));
  Value dys = g.addInput("dys", f32({5, 6, 16, 15})); // K = 1200: too short to split
  AttrMap strided = attrs({{"stride", std::vector<int64_t>{2, 2}}, {"padding", std::string("same")}});
  strided.set("filter_shape", Shape{6, 3, 3, 3});
  Value xl = g.addInput("xl", f32({9, 3, 31, 29}));
  Value dyl = g.addInput("dyl", f32({9, 6, 16, 15})); // K = 2160
  Value a = g.addInput("a", f32({4099, 20}));
  Value b = g.addInput("b", f32({4099, 37}));
  g.setOutputs({g.build(OpKind::Conv2dFilterGrad, {x, dy}, valid), g.build(OpKind::Conv2dFilterGrad, {xs, dys}, strided),
                g.build(OpKind::Conv2dFilterGrad, {xl, dyl}, strided),
                g.build(OpKind::Matmul, {a, b}, attrs({{"transpose_a", true}}))});
  for (int threads : {1, 2, 4})
    EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-4, {}, false, 1, threads)) << threads << " threads";
}

TEST_F(CpuOps, Pooling) {
  Graph g;
  Value x = g.addInput("x", f32({2, 3, 9, 8}));
  AttrMap valid = attrs({{"kernel", std::vector<int64_t>{2, 2}}});
  AttrMap padded = attrs({{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}},
                          {"padding", std::string("same")}});
  Value mp = g.build(OpKind::MaxPool2d, {x}, valid);
  Value ap = g.build(OpKind::AvgPool2d, {x}, padded);
  Value dmp = g.addInput("dmp", mp.type());
  Value dap = g.addInput("dap", ap.type());
  Value mg = g.build(OpKind::MaxPool2dGrad, {dmp, x}, valid);
  AttrMap pg = padded;
  pg.set("input_shape", std::vector<int64_t>{2, 3, 9, 8});
  Value ag = g.build(OpKind::AvgPool2dGrad, {dap}, pg);
  Value mp2 = g.build(OpKind::MaxPool2d, {x}, padded);
  g.setOutputs({mp, ap, mg, ag, mp2, g.build(OpKind::MaxPool2dGrad, {g.addInput("d2", mp2.type()), x}, padded)});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5));
}

// Windows that tile the input (2x2 and 3x2 strides on 8x6): the gradient goes
// to the first maximum of each window; values in steps of 0.5 make ties
// common, and a NaN in one window must route as in the interpreter.
TEST_F(CpuOps, MaxPoolingOfTilingWindowsWithTies) {
  Graph g;
  Value x = g.addInput("x", f32({2, 3, 8, 6}));
  AttrMap two = attrs({{"kernel", std::vector<int64_t>{2, 2}}});
  AttrMap wide = attrs({{"kernel", std::vector<int64_t>{2, 3}}, {"stride", std::vector<int64_t>{2, 3}}});
  Value p2 = g.build(OpKind::MaxPool2d, {x}, two), p3 = g.build(OpKind::MaxPool2d, {x}, wide);
  Value d2 = g.addInput("d2", p2.type()), d3 = g.addInput("d3", p3.type());
  g.setOutputs({p2, p3, g.build(OpKind::MaxPool2dGrad, {d2, x}, two), g.build(OpKind::MaxPool2dGrad, {d3, x}, wide)});
  TensorMap env = randomEnvironment(g, 7);
  HostTensor &xv = env["x"];
  for (int64_t i = 0; i < xv.numel(); ++i)
    xv.set(i, std::round(xv.at(i) * 2) / 2);
  xv.set(13, NAN);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5, env));
}

TEST_F(CpuOps, SoftmaxAndLosses) {
  Graph g;
  Value logits = g.addInput("logits", f32({16, 10}));
  Value labels = g.addInput("labels", {DType::I32, {16}});
  Value x3 = g.addInput("x3", f32({3, 5, 4}));
  Value loss = g.build(OpKind::SoftmaxCrossEntropy, {logits, labels});
  Value dloss = g.addInput("dloss", f32({}));
  g.setOutputs({g.build(OpKind::Softmax, {logits}), g.build(OpKind::LogSoftmax, {logits}),
                g.build(OpKind::Softmax, {x3}, attrs({{"axis", int64_t{1}}})), loss,
                g.build(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, dloss}),
                g.build(OpKind::OneHot, {labels}, attrs({{"depth", int64_t{10}}}))});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-5));
}

TEST_F(CpuOps, BadVectorWidthIsAUserError) {
  Graph g;
  g.setOutputs({g.build(OpKind::Relu, {g.addInput("x", f32({4}))})});
  CompileOptions opt;
  opt.cpuVectorBytes = 24;
  try {
    compile(g, opt);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_EQ(std::string(e.what()), "cpu backend: vector width must be 16, 32 or 64 bytes, got 24");
  }
}

TEST_F(CpuOps, BadLabelIsARuntimeError) {
  Graph g;
  Value logits = g.addInput("logits", f32({4, 3}));
  Value labels = g.addInput("labels", {DType::I32, {4}});
  g.setOutputs({g.build(OpKind::SoftmaxCrossEntropy, {logits, labels})});
  CompileOptions opt;
  opt.runPasses = false;
  auto exe = compile(g, opt);
  exe->set("logits", randomTensor(f32({4, 3}), 3));
  exe->set("labels", tensorOf({DType::I32, {4}}, {0, 2, 7, 1}));
  try {
    exe->run();
    ADD_FAILURE() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), "softmax_cross_entropy: label 7 of row 2 is outside [0,3)");
  }
}

TEST_F(CpuOps, AssignUpdatesParametersAfterTheStep) {
  Graph g;
  Value x = g.addInput("x", f32({4, 3}));
  Value w = g.addParam("w", f32({4, 3}));
  Value s = g.addState("s", f32({3}));
  Value nw = g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {x, g.constant(0.5, f32({}))})});
  Value ns = g.build(OpKind::ReduceSum, {w}, attrs({{"axes", std::vector<int64_t>{0}}}));
  g.create(OpKind::Assign, {w, nw});
  g.create(OpKind::Assign, {s, ns});
  g.setOutputs({w, ns});
  EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-6));
}

// Assigns hold over several steps: the cpu backend exchanges each parameter's
// place with its new value's after a step (no copy), so every later step and
// every read must find the current places, views of a parameter included.
TEST_F(CpuOps, AssignsHoldOverSeveralSteps) {
  Graph g;
  Value x = g.addInput("x", f32({4, 3}));
  Value w = g.addParam("w", f32({4, 3}));
  Value s = g.addState("s", f32({3}));
  Value flat = g.build(OpKind::Reshape, {w}, attrs({{"shape", std::vector<int64_t>{12}}}));
  Value y = g.build(OpKind::Matmul, {x, w}, attrs({{"transpose_b", true}}));
  Value nw = g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {x, g.constant(0.25, f32({}))})});
  Value ns = g.build(OpKind::Add, {s, g.build(OpKind::ReduceSum, {w}, attrs({{"axes", std::vector<int64_t>{0}}}))});
  g.create(OpKind::Assign, {w, nw});
  g.create(OpKind::Assign, {s, ns});
  g.setOutputs({y, g.build(OpKind::Exp, {flat}), ns});
  expectSameSteps(g, "cpu");
}

// An update whose old value nothing reads afterwards (an optimizer's) is
// written into the parameter itself: no new buffer, no assign left. A view of
// the parameter read after the update keeps the assign.
TEST_F(CpuOps, UpdatesInPlaceOnlyWhenTheOldValueIsNotReadAfter) {
  for (bool lateRead : {false, true}) {
    Graph g;
    buildUpdateStep(g, lateRead);
    fuseFor(g, "cpu");
    Program p = lowerGraph(g);
    std::vector<std::string> assigned;
    for (auto [t, v] : p.assigns)
      assigned.push_back(p.buffers[t].name);
    EXPECT_EQ(assigned, lateRead ? std::vector<std::string>{"w"} : std::vector<std::string>{}) << printProgram(p);
    expectSameSteps(g, "cpu");
  }
}

// The op computing a parameter's gradient stores the parameter's update
// through its epilogue (a grad_update region): the GEMM, the split-K sum, the
// filter gradient and the reductions write the new parameter and both states
// in place, in one kernel fewer than with the update a kernel of its own
// (KILN_GRAD_UPDATE=0); three steps agree with the interpreter.
TEST_F(CpuOps, GradientKernelsStoreTheirParametersUpdate) {
  for (const std::string kind : {"matmul", "splitk", "filter", "bias", "chunks"}) {
    SCOPED_TRACE(kind);
    auto lowered = [&](Graph &g) {
      buildGradUpdate(g, kind);
      fuseFor(g, "cpu");
      return lowerGraph(g);
    };
    Graph g(kind), separate(kind);
    Program p = lowered(g);
    setenv("KILN_GRAD_UPDATE", "0", 1);
    Program q = lowered(separate);
    unsetenv("KILN_GRAD_UPDATE");
    EXPECT_TRUE(p.assigns.empty()) << printProgram(p);
    EXPECT_EQ(p.kernels.size() + 1, q.kernels.size()) << printProgram(p) << printProgram(q);
    // float32 sums of 4,096 products stray from the float64 interpreter by
    // up to 3e-5 (the same with the update separate)
    expectSameSteps(g, "cpu", kind == "splitk" ? 1e-4 : 1e-5);
  }
}

/// Runs the `fuse` pipeline on g and checks that it formed `regions` regions.
void fuse(Graph &g, size_t regions) {
  fuseFor(g, "cpu");
  size_t n = 0;
  for (Node *x : g.nodes())
    n += x->kind() == OpKind::Fused;
  EXPECT_EQ(n, regions);
}

/// conv2d (stride 1, valid) + bias + relu on x: the relu output (the
/// fuse-conv pass takes a max_pool2d after it into the same region).
Value convBiasRelu(Graph &g, Shape xs, Shape ws) {
  Value x = g.addInput("x", f32(xs));
  Value w = g.addParam("w", f32(ws));
  Value b = g.addParam("b", f32({ws[0]}));
  Value y = g.build(OpKind::Conv2d, {x, w}, attrs({{"stride", std::vector<int64_t>{1, 1}}}));
  return g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", std::vector<int64_t>{1}}}))});
}

TEST_F(CpuOps, FusedConvBiasReluPool) {
  Graph g;
  Value r = convBiasRelu(g, {2, 3, 10, 10}, {4, 3, 3, 3});
  Value p = g.build(OpKind::MaxPool2d, {r});
  g.setOutputs({p, g.build(OpKind::ReduceSum, {r})});
  fuse(g, 1);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

// The report CNN's second convolution's geometry (12x12 in, 10x10 out) at
// batch 32: extended columns (12-wide runs, 10 kept) through the bias+relu
// epilogue, the pre-pool activation an output too.
TEST_F(CpuOps, FusedConvBiasReluPoolReportGeometry) {
  Graph g;
  Value r = convBiasRelu(g, {32, 4, 12, 12}, {6, 4, 3, 3});
  g.setOutputs({g.build(OpKind::MaxPool2d, {r}), r});
  fuse(g, 1);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

// A dropout layer after the pooled conv block, at a small and at the report's
// geometry (5-wide pooled rows): the cpu's pipeline leaves it a kernel of its
// own (FusionCaps::convDropout); in the region as the GPU's pipeline forms it,
// the CPU lowering stores it through the pool's epilogue.
TEST_F(CpuOps, FusedConvBiasReluPoolDropout) {
  for (auto [xs, ws] : {std::pair<Shape, Shape>{{2, 3, 10, 10}, {4, 3, 3, 3}}, {{8, 4, 12, 12}, {6, 4, 3, 3}}}) {
    for (const char *pipeline : {"cpu", "cuda"}) {
      Graph g;
      Value r = convBiasRelu(g, xs, ws);
      Value key = g.addInput("key", {DType::I64, {}});
      Value p = g.build(OpKind::MaxPool2d, {r});
      Value d = g.build(OpKind::Dropout, {p, key}, attrs({{"rate", 0.25}, {"seed", int64_t{7}}}));
      g.setOutputs({d, r});
      fuseFor(g, pipeline);
      EXPECT_TRUE(sameAsInterpreter(g, "cpu")) << pipeline;
      Program prog = lowerGraph(g);
      // The conv, the pool, and the dropout unless the pool's epilogue applies it.
      EXPECT_EQ(prog.launches.size(), pipeline == std::string("cpu") ? 3u : 2u) << printProgram(prog);
    }
  }
}

TEST_F(CpuOps, FusedMatmulBiasActDropout) {
  Graph g;
  Value x = g.addInput("x", f32({8, 20}));
  Value key = g.addInput("key", {DType::I64, {}});
  Value w = g.addParam("w", f32({20, 12}));
  Value b = g.addParam("b", f32({12}));
  Value y = g.build(OpKind::Matmul, {x, w});
  Value r = g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", std::vector<int64_t>{1}}}))});
  g.setOutputs({g.build(OpKind::Dropout, {r, key}, attrs({{"rate", 0.5}, {"seed", int64_t{9}}}))});
  fuse(g, 1);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
  Program prog = lowerGraph(g);
  EXPECT_EQ(prog.launches.size(), 1u) << printProgram(prog);
}

TEST_F(CpuOps, FusedMatmulBiasAct) {
  Graph g;
  Value x = g.addInput("x", f32({8, 20}));
  Value w = g.addParam("w", f32({20, 12}));
  Value b = g.addParam("b", f32({12}));
  Value y = g.build(OpKind::Matmul, {x, w});
  Value r = g.build(OpKind::Relu, {g.build(OpKind::Add, {y, b}, attrs({{"broadcast", std::vector<int64_t>{1}}}))});
  g.setOutputs({r});
  fuse(g, 1);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

TEST_F(CpuOps, FusedSoftmaxXent) {
  Graph g;
  Value logits = g.addInput("logits", f32({16, 10}));
  Value labels = g.addInput("labels", {DType::I32, {16}});
  Value loss = g.build(OpKind::SoftmaxCrossEntropy, {logits, labels});
  Value grad = g.build(OpKind::SoftmaxCrossEntropyGrad, {logits, labels, g.constant(1.0, f32({}))});
  g.setOutputs({loss, grad});
  fuse(g, 1);
  EXPECT_TRUE(sameAsInterpreter(g, "cpu"));
}

} // namespace
} // namespace kiln::test
