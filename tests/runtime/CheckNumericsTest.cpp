// tests/runtime/CheckNumericsTest.cpp - `--check-numerics`: the first op producing NaN or Inf is named.
//
// The interpreter checks every node (InterpretOptions::checkNumerics), also
// inside fused regions and in float64; compiled backends check outputs and
// state and replay the step on the interpreter (CompileOptions::checkNumerics).
// Finite graphs, training included, must run unchanged with the check on.
#include "examples/mnist/Trainer.h"
#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "ir/Parser.h"
#include "runtime/Executable.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

namespace kiln {
namespace {

/// The RuntimeError message of `f` ("" when it does not throw one).
template <typename F> std::string runtimeErrorOf(F &&f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

HostTensor vec(std::vector<double> v) {
  return HostTensor::fromDoubles(TensorType{DType::F32, {static_cast<int64_t>(v.size())}}, v);
}

// log(-3) is nan at element 2; exp(100) overflows f32 to inf.
const char *kGraph = R"(graph @f(%x: f32[4]) {
  %a = log(%x) : f32[4]
  %big = constant() {value = 100.0, dtype = "f32", shape = [4]} : f32[4]
  %b = exp(%big) : f32[4]
  %c = add(%a, %b) : f32[4]
  return %c : f32[4]
}
)";

TEST(CheckNumerics, InterpreterNamesTheFirstOp) {
  auto g = parseGraph(kGraph);
  TensorMap env{{"x", vec({1, 2, -3, 4})}};
  InterpretOptions opt;
  opt.checkNumerics = true;
  EXPECT_EQ(runtimeErrorOf([&] { interpret(*g, env, opt); }),
            "check-numerics: %a = log(%x) produced nan at element 2 (first non-finite value)");
  // With positive inputs log is finite and exp(100) is the first: inf in f32 ...
  env["x"] = vec({1, 2, 3, 4});
  EXPECT_EQ(runtimeErrorOf([&] { interpret(*g, env, opt); }),
            "check-numerics: %b = exp(%big) produced inf at element 0 (first non-finite value)");
  // ... but not in f64 (e^100 = 2.7e43 < 1.8e308), so the f64 run passes.
  opt.f64 = true;
  EXPECT_EQ(runtimeErrorOf([&] { interpret(*g, env, opt); }), "");
}

TEST(CheckNumerics, OffByDefault) {
  auto g = parseGraph(kGraph);
  TensorMap env{{"x", vec({1, 2, -3, 4})}};
  std::vector<HostTensor> out = interpret(*g, env);
  EXPECT_TRUE(std::isnan(out[0].at(2)));
  EXPECT_TRUE(std::isinf(out[0].at(0)));
}

TEST(CheckNumerics, NamesOpsInsideFusedRegions) {
  auto g = parseGraph(R"(graph @f(%x: f32[3]) {
  %t = fused(%x) {name = "elementwise"} : f32[3] {
    ^(%arg0: f32[3])
    %n = neg(%arg0) : f32[3]
    %r = sqrt(%n) : f32[3]
    yield %r : f32[3]
  }
  return %t : f32[3]
}
)");
  TensorMap env{{"x", vec({-1, 4, -9})}};
  InterpretOptions opt;
  opt.checkNumerics = true;
  EXPECT_EQ(runtimeErrorOf([&] { interpret(*g, env, opt); }),
            "check-numerics: %r = sqrt(%n) in fused region %t produced nan at element 1 (first non-finite value)");
}

TEST(CheckNumerics, NonFiniteInputsAreNamed) {
  auto g = parseGraph(kGraph);
  TensorMap env{{"x", vec({1, -std::numeric_limits<double>::infinity(), 3, 4})}};
  InterpretOptions opt;
  opt.checkNumerics = true;
  EXPECT_EQ(runtimeErrorOf([&] { interpret(*g, env, opt); }),
            "check-numerics: input %x holds -inf at element 1 (first non-finite value)");
}

TEST(CheckNumerics, FirstNonFinite) {
  EXPECT_EQ(firstNonFinite(vec({0, 1, 2})), -1);
  EXPECT_EQ(firstNonFinite(vec({0, NAN, INFINITY})), 1);
  EXPECT_EQ(firstNonFinite(HostTensor(TensorType{DType::I32, {3}})), -1);
}

TEST(CheckNumerics, EveryBackendNamesTheOp) {
  auto g = parseGraph(kGraph);
  for (const std::string &backend : availableBackends()) {
    CompileOptions opt;
    opt.backend = backend;
    opt.checkNumerics = true;
    std::unique_ptr<Executable> exe = compile(*g, opt);
    exe->set("x", vec({1, 2, -3, 4}));
    std::string msg = runtimeErrorOf([&] { exe->run(); });
    // Compiled backends replay the compiled graph, whose passes may have
    // fused log into a region: the op and the element are the same.
    EXPECT_NE(msg.find("log("), std::string::npos) << backend << ": " << msg;
    EXPECT_NE(msg.find("produced nan at element 2"), std::string::npos) << backend << ": " << msg;
    // A finite step passes and gives the ordinary result.
    auto finite = parseGraph("graph @g(%x: f32[2]) {\n  %a = exp(%x) : f32[2]\n  return %a : f32[2]\n}\n");
    std::unique_ptr<Executable> ok = compile(*finite, opt);
    ok->set("x", vec({0, 1}));
    EXPECT_EQ(runtimeErrorOf([&] { ok->run(); }), "") << backend;
    EXPECT_NEAR(ok->output(0).at(1), std::exp(1.0), 1e-5) << backend;
  }
}

/// A small generated MNIST-shaped data set (pixels in [0,1], labels 0..9).
MnistData tinyMnist(double firstPixel) {
  MnistData d;
  for (MnistSplit *s : {&d.train, &d.test}) {
    const int64_t n = 16;
    s->x = HostTensor(TensorType{DType::F32, {n, 1, 28, 28}});
    s->y = HostTensor(TensorType{DType::I32, {n}});
    for (int64_t i = 0; i < s->x.numel(); ++i)
      s->x.set(i, static_cast<double>((i * 37) % 256) / 255.0);
    for (int64_t i = 0; i < n; ++i)
      s->y.set(i, static_cast<double>(i % 10));
  }
  d.train.x.set(0, firstPixel);
  return d;
}

TEST(CheckNumerics, TrainingRunsCleanAndStopsAtABadPixel) {
  for (const std::string &backend : availableBackends()) {
    mnist::TrainOptions o;
    o.model = "linear";
    o.device = backend;
    o.epochs = 1;
    o.batchSize = 8;
    o.writeOutputs = false;
    o.checkNumerics = true;
    std::ostringstream log;
    EXPECT_NO_THROW(mnist::trainMnist(o, tinyMnist(0.5), log)) << backend << "\n" << log.str();
    std::string msg = runtimeErrorOf([&] { mnist::trainMnist(o, tinyMnist(NAN), log); });
    EXPECT_NE(msg.find("check-numerics: "), std::string::npos) << backend << ": " << msg;
    EXPECT_NE(msg.find("nan"), std::string::npos) << backend << ": " << msg;
  }
}

} // namespace
} // namespace kiln
