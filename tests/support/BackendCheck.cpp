// tests/support/BackendCheck.cpp - backend vs interpreter comparison of one step.
#include "tests/support/BackendCheck.h"

#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#include "tests/support/TestSupport.h"

namespace kiln::test {

void EveryBackend::SetUp() {
  const std::string &b = GetParam();
  if (b == "cpu" && !hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  if (b == "cuda" && !hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
}

std::unique_ptr<Executable> EveryBackend::compileFor(const Graph &g, CompileOptions opt) const {
  opt.backend = GetParam();
  return compile(g, opt);
}

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

void expectSameSteps(const Graph &g, const std::string &backend, double tol) {
  TensorMap env = randomEnvironment(g, 5);
  CompileOptions opt;
  opt.backend = backend;
  std::unique_ptr<Executable> exe = compile(g, opt);
  for (auto &[name, t] : env)
    exe->set(name, t);
  for (int step = 1; step <= 3; ++step) {
    std::vector<HostTensor> want = interpret(g, env); // applies the assigns to env
    exe->run();
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(tensorsNear(exe->output(i), want[i], tol)) << backend << ", step " << step << ", output " << i;
    for (const auto *list : {&g.params(), &g.states()})
      for (const Node *n : *list)
        EXPECT_TRUE(tensorsNear(exe->get(n->name()), env[n->name()], tol))
            << backend << ", step " << step << ", " << n->name();
  }
}

void buildUpdateStep(Graph &g, bool lateRead) {
  TensorType t{DType::F32, {4, 3}};
  Value x = g.addInput("x", t);
  Value w = g.addParam("w", t);
  Value s = g.addState("s", t);
  AttrMap shape, transpose;
  shape.set("shape", std::vector<int64_t>{12});
  transpose.set("transpose_b", true);
  Value flat = g.build(OpKind::Reshape, {w}, shape);
  Value y = g.build(OpKind::Matmul, {x, w}, transpose);
  Value ns = g.build(OpKind::Add, {g.build(OpKind::Mul, {s, g.constant(0.9, TensorType{DType::F32, {}})}), x});
  Value nw = g.build(OpKind::Sub, {w, g.build(OpKind::Mul, {ns, g.constant(0.1, TensorType{DType::F32, {}})})});
  g.create(OpKind::Assign, {w, nw});
  g.create(OpKind::Assign, {s, ns});
  std::vector<Value> outs{y};
  if (lateRead)
    outs.push_back(g.build(OpKind::Exp, {flat}));
  g.setOutputs(outs);
}

void buildGradUpdate(Graph &g, const std::string &kind) {
  Value grad;
  if (kind == "matmul" || kind == "splitk") {
    int64_t k = kind == "matmul" ? 64 : 4096, m = kind == "matmul" ? 40 : 12, n = kind == "matmul" ? 24 : 8;
    grad = g.build(OpKind::Matmul, {g.addInput("x", f32({k, m})), g.addInput("dy", f32({k, n}))},
                   attrs({{"transpose_a", true}}));
  } else if (kind == "filter") {
    grad =
        g.build(OpKind::Conv2dFilterGrad, {g.addInput("x", f32({4, 3, 10, 10})), g.addInput("dy", f32({4, 6, 8, 8}))},
                attrs({{"filter_shape", Ints{6, 3, 3, 3}}}));
  } else if (kind == "bias") {
    grad = g.build(OpKind::ReduceSum, {g.addInput("dy", f32({64, 24}))}, attrs({{"axes", Ints{0}}}));
  } else {
    grad = g.build(OpKind::ReduceSum, {g.addInput("dy", f32({16, 4, 32, 32}))}, attrs({{"axes", Ints{0, 2, 3}}}));
  }
  const TensorType t = grad.type();
  Value w = g.addParam("w", t), v = g.addState("v", t), s = g.addState("s", t);
  Value old = g.build(OpKind::ReduceSum, {w}); // read before the update
  auto c = [&](double x) { return g.constant(x, f32({})); };
  Value nv = g.build(OpKind::Add, {g.build(OpKind::Mul, {v, c(0.9)}), grad});
  Value ns = g.build(OpKind::Add, {g.build(OpKind::Mul, {s, c(0.9)}),
                                   g.build(OpKind::Mul, {g.build(OpKind::Mul, {grad, grad}), c(0.1)})});
  Value root = g.build(OpKind::Sqrt, {g.build(OpKind::Add, {g.build(OpKind::Mul, {ns, ns}), c(1.0)})});
  Value nw = g.build(OpKind::Sub, {w, g.build(OpKind::Div, {g.build(OpKind::Mul, {nv, c(0.1)}), root})});
  g.create(OpKind::Assign, {v, nv});
  g.create(OpKind::Assign, {s, ns});
  g.create(OpKind::Assign, {w, nw});
  g.setOutputs({old});
}

int lastWorkspaceBuffer(const Program &p) {
  int found = -1;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (p.buffers[i].role == BufferRole::Workspace)
      found = static_cast<int>(i);
  return found;
}

} // namespace kiln::test
