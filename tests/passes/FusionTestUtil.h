// tests/passes/FusionTestUtil.h - helpers of the fusion and memory-plan tests.
//
// runPasses applies a pipeline with the verifier after each pass;
// expectSameResults runs a graph before and after on the reference
// interpreter with the same random inputs and compares every output and every
// assigned parameter/state (relative 1e-6 in f32). Header-only.
#ifndef KILN_TESTS_PASSES_FUSIONTESTUTIL_H
#define KILN_TESTS_PASSES_FUSIONTESTUTIL_H

#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Pass.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace kiln::test {

/// Random values for every signature value of `g`: floats uniform in [-1, 1),
/// integers uniform in [0, intHigh) (labels must stay below the class count).
inline TensorMap randomEnv(const Graph &g, uint32_t seed, int64_t intHigh = 2) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> f(-1.0, 1.0);
  std::uniform_int_distribution<int64_t> i(0, intHigh - 1);
  TensorMap env;
  for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
    for (Node *n : *list) {
      HostTensor t(n->resultType());
      for (int64_t k = 0; k < t.numel(); ++k)
        t.set(k, isFloat(t.dtype()) ? f(gen) : static_cast<double>(i(gen)));
      env[n->name()] = t;
    }
  return env;
}

inline TensorMap cloneEnv(const TensorMap &env) {
  TensorMap out;
  for (const auto &[k, v] : env)
    out[k] = v.clone();
  return out;
}

/// Runs the comma-separated `pipeline` on `g` for `backend`; returns the statistics.
inline PassContext runPasses(Graph &g, const std::string &pipeline, const std::string &backend = "interp") {
  PassManager pm;
  pm.addPipeline(pipeline);
  PassContext ctx;
  ctx.backend = backend;
  pm.run(g, ctx);
  return ctx;
}

/// Interprets `before` and `after` on the same random inputs and expects equal
/// outputs and equal assigned parameters/state, relative 1e-6.
inline void expectSameResults(const Graph &before, const Graph &after, uint32_t seed = 1, int64_t intHigh = 2) {
  TensorMap env0 = randomEnv(before, seed, intHigh);
  TensorMap env1 = cloneEnv(env0);
  std::vector<HostTensor> r0 = interpret(before, env0);
  std::vector<HostTensor> r1 = interpret(after, env1);
  ASSERT_EQ(r0.size(), r1.size());
  for (size_t i = 0; i < r0.size(); ++i) {
    ASSERT_EQ(r0[i].type(), r1[i].type()) << "output " << i;
    EXPECT_LE(maxRelativeDifference(r1[i], r0[i]), 1e-6) << "output " << i;
  }
  for (const auto &[name, t] : env0)
    EXPECT_LE(maxRelativeDifference(env1.at(name), t), 1e-6) << "state " << name;
}

/// Parses `text`, applies `pipeline` to a copy and checks the copy against the original.
inline std::unique_ptr<Graph> fuseAndCheck(const std::string &text, const std::string &pipeline,
                                           int64_t intHigh = 2, const std::string &backend = "interp") {
  std::unique_ptr<Graph> before = parseGraph(text, "test.kir");
  std::unique_ptr<Graph> after = before->clone();
  runPasses(*after, pipeline, backend);
  for (uint32_t seed : {1u, 2u})
    expectSameResults(*before, *after, seed, intHigh);
  return after;
}

/// The top-level `fused` nodes of `g` named `name`.
inline std::vector<Node *> regionsNamed(const Graph &g, const std::string &name) {
  std::vector<Node *> out;
  for (Node *n : g.nodes())
    if (n->kind() == OpKind::Fused && n->attrs().getString("name") == name)
      out.push_back(n);
  return out;
}

/// Mnemonics of a region body, in order ("conv2d,add,relu").
inline std::string bodyOps(const Node *region) {
  std::string s;
  for (const Node *n : region->body()->nodes()) {
    if (n->kind() == OpKind::Constant)
      continue;
    s.append(s.empty() ? "" : ",").append(n->mnemonic());
  }
  return s;
}

} // namespace kiln::test

#endif // KILN_TESTS_PASSES_FUSIONTESTUTIL_H
