// tools/DemoCommand.cpp - `kiln demo`: a small graph written in the C++ DSL,
// printed in the IR text format and run on the reference interpreter.
//
// The whole pipeline in one screen: DSL -> Graph -> text -> interpreter. The
// numbers are small enough to check by hand (see the comment in buildDemo).
#include "tools/Command.h"
#include "tools/Execute.h"

#include "frontend/Tensor.h"
#include "ir/Printer.h"
#include "ir/ValueNames.h"

#include <iostream>
#include <memory>

namespace kiln::tools {
namespace {

/// y = relu(x @ w + b), probs = softmax(y), with x: f32[2,3], w: f32[3,2], b: f32[2].
/// For the values below, x @ w + b = [[-1.5, 2], [-1.5, 3.5]], so y = [[0, 2], [0, 3.5]]
/// and probs = [[1/(1+e^2), e^2/(1+e^2)], [1/(1+e^3.5), e^3.5/(1+e^3.5)]]
///           = [[0.1192, 0.8808], [0.0293, 0.9707]].
std::unique_ptr<Graph> buildDemo() {
  auto g = std::make_unique<Graph>("demo");
  Tensor x = input(*g, "x", TensorType{DType::F32, {2, 3}});
  Tensor w = parameter(*g, "w", TensorType{DType::F32, {3, 2}});
  Tensor b = parameter(*g, "b", TensorType{DType::F32, {2}});
  Tensor y = relu(matmul(x, w) + b).named("y");
  Tensor probs = softmax(y).named("probs");
  g->addOutput(y.value());
  g->addOutput(probs.value());
  return g;
}

TensorMap demoInputs() {
  TensorMap env;
  env["x"] = HostTensor::fromDoubles(TensorType{DType::F32, {2, 3}}, std::vector<double>{1, 2, 3, 4, 5, 6});
  env["w"] = HostTensor::fromDoubles(TensorType{DType::F32, {3, 2}}, std::vector<double>{1, -1, 0, 1, -1, 0.5});
  env["b"] = HostTensor::fromDoubles(TensorType{DType::F32, {2}}, std::vector<double>{0.5, -0.5});
  return env;
}

int runDemo(const std::string &backend) {
  std::unique_ptr<Graph> g = buildDemo();
  std::cout << "// The graph, built with the C++ DSL (frontend/Tensor.h):\n"
            << "//   Tensor y = relu(matmul(x, w) + b); Tensor probs = softmax(y);\n";
  print(*g, std::cout);
  TensorMap env = demoInputs();
  std::cout << "\n// Inputs:\n";
  for (const auto &[name, t] : env)
    std::cout << "%" << name << ": " << describeTensor(t) << "\n";
  std::vector<HostTensor> results = executeGraph(*g, env, backend, /*f64=*/false);
  std::cout << "\n// Outputs (backend " << backend << "):\n";
  ValueNames names(*g);
  for (size_t i = 0; i < results.size(); ++i)
    std::cout << names(g->outputs()[i]) << ": " << describeTensor(results[i]) << "\n";
  return 0;
}

CommandAction setupDemo(CLI::App &sub) {
  auto backend = std::make_shared<std::string>("interp");
  sub.description("Build a small graph with the C++ DSL (y = relu(x @ w + b), probs = softmax(y)), print it in "
                  "the IR text format, run it on fixed inputs and print the outputs.");
  sub.add_option("--backend", *backend, "where to run it: interp (default), cpu or cuda")
      ->check(CLI::IsMember(kBackendNames));
  return [backend] { return runDemo(*backend); };
}

} // namespace

KILN_REGISTER_COMMAND(demo, CommandSpec{"demo", "build a small graph in the DSL, print it and run it", 50, setupDemo});

} // namespace kiln::tools
