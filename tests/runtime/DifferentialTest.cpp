// tests/runtime/DifferentialTest.cpp - random graphs: every backend vs the interpreter vs float64.
//
// For each seed, tests/support/RandomGraph.h draws a graph (forward plus the
// gradients of its parameters); it runs on the float64 interpreter (the
// oracle), on the float32 interpreter, and through compile() with the default
// pass pipeline on every backend of availableBackends() ("interp" included, so
// the passes themselves are checked). Every result must agree with float32
// within a tight tolerance and with float64 within a float32-sized one. A
// mismatch prints the seed, the graph's text and a reproducer folder holding
// graph.kir, one .npy per input and parameter, the expected (float64) and the
// actual outputs, and the `kiln run` command line that replays it.
// Second part: the autodiff of random forward graphs against float64 central
// differences (tests/support/GradCheck.h).
// KILN_DIFF_GRAPHS=N changes the number of seeds; KILN_REPRO_DIR the folder
// that receives reproducers (default: the system temp folder).
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "ir/ValueNames.h"
#include "runtime/Executable.h"
#include "runtime/Npy.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/GradCheck.h"
#include "tests/support/RandomGraph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace kiln::test {
namespace {

int seedCount(int fallback) {
  const char *n = std::getenv("KILN_DIFF_GRAPHS");
  return n ? std::max(1, std::atoi(n)) : fallback;
}

/// Tolerances: |got - ref| <= atol + rtol * |ref|.
struct Tolerance {
  double rtol, atol;
};
/// A backend against the float32 interpreter: the same arithmetic, other order.
constexpr Tolerance kVsF32{1e-4, 1e-5};
/// Anything float32 against the float64 interpreter.
constexpr Tolerance kVsF64{2e-3, 2e-4};

/// Empty when `got` matches `ref` (NaN matches NaN, infinities their sign);
/// else the first bad element and the worst error.
std::string mismatch(const HostTensor &got, const HostTensor &ref, Tolerance tol) {
  if (got.shape() != ref.shape())
    return "shape " + typeString(got.type()) + " vs " + typeString(ref.type());
  std::ostringstream os;
  os.precision(9);
  int64_t bad = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double g = got.at(i), r = ref.at(i);
    bool same = (std::isnan(g) && std::isnan(r)) || g == r || std::fabs(g - r) <= tol.atol + tol.rtol * std::fabs(r);
    if (same)
      continue;
    if (bad++ == 0)
      os << "element " << i << ": " << g << " vs " << r;
  }
  if (bad)
    os << " (" << bad << " of " << ref.numel() << " elements differ)";
  return os.str();
}

/// Writes graph.kir, the inputs, the expected and the actual outputs and a
/// README with the replay command; returns the folder.
std::string writeReproducer(uint32_t seed, const std::string &what, const Graph &g, const TensorMap &env,
                            const std::vector<HostTensor> &expected, const std::vector<HostTensor> &actual,
                            const std::string &backend) {
  const char *base = std::getenv("KILN_REPRO_DIR");
  std::string slug = what;
  for (char &c : slug)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '-';
  std::filesystem::path dir = std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
                              ("kiln-diff-seed" + std::to_string(seed) + "-" + slug);
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "graph.kir").string()) << toText(g);
  std::string cmd = "kiln run graph.kir";
  for (const auto &[name, t] : env) {
    writeNpy((dir / (name + ".npy")).string(), t);
    cmd += " --input " + name + "=" + name + ".npy";
  }
  ValueNames names(g);
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string out = names(g.outputs()[i]).substr(1);
    writeNpy((dir / ("expected_" + out + ".npy")).string(), expected[i]);
    if (i < actual.size())
      writeNpy((dir / ("actual_" + out + ".npy")).string(), actual[i]);
    cmd += " --output " + out + "=" + out + ".npy";
  }
  std::ofstream((dir / "README").string())
      << "random graph seed " << seed << ": " << what << "\n"
      << "expected_*.npy: the float64 interpreter; actual_*.npy: the result that disagreed\n"
      << "replay: " << cmd << " --backend " << (backend == "f32" ? "interp" : backend) << "\n"
      << "float64 reference: " << cmd << " --backend interp --dtype f64\n";
  return dir.string();
}

/// Runs `g` compiled for `backend` (default passes) on a copy of `env`.
std::vector<HostTensor> runCompiled(const Graph &g, const TensorMap &env, const std::string &backend) {
  CompileOptions opt;
  opt.backend = backend;
  std::unique_ptr<Executable> exe = compile(g, opt);
  for (const auto &[name, t] : env)
    exe->set(name, t);
  exe->run();
  std::vector<HostTensor> out;
  for (size_t i = 0; i < g.outputs().size(); ++i)
    out.push_back(exe->output(i));
  return out;
}

/// Compares every output; on a mismatch fails with the seed, the text and a reproducer.
void expectAgree(uint32_t seed, const std::string &what, const Graph &g, const TensorMap &env,
                 const std::vector<HostTensor> &got, const std::vector<HostTensor> &ref,
                 const std::vector<HostTensor> &ref64, Tolerance tol, const std::string &backend) {
  ASSERT_EQ(got.size(), ref.size()) << what << ", seed " << seed;
  ValueNames names(g);
  for (size_t i = 0; i < ref.size(); ++i) {
    std::string m = mismatch(got[i], ref[i], tol);
    if (m.empty())
      continue;
    std::string dir = writeReproducer(seed, what, g, env, ref64, got, backend);
    ADD_FAILURE() << what << " disagrees on output " << names(g.outputs()[i]) << ": " << m << "\nrandom graph seed "
                  << seed << ", reproducer in " << dir << "\n"
                  << toText(g);
    return;
  }
}

TEST(Differential, BackendsAgreeWithInterpreterAndFloat64) {
  std::vector<std::string> backends = availableBackends();
  int count = seedCount(40);
  for (uint32_t seed = 1; seed <= static_cast<uint32_t>(count); ++seed) {
    std::unique_ptr<Graph> g = randomGraph(seed);
    TensorMap env = randomEnvironment(*g, seed);
    TensorMap e64 = env, e32 = env;
    InterpretOptions wide;
    wide.f64 = true;
    std::vector<HostTensor> ref64 = interpret(*g, e64, wide);
    std::vector<HostTensor> ref32 = interpret(*g, e32);
    expectAgree(seed, "f32 interpreter vs f64", *g, env, ref32, ref64, ref64, kVsF64, "f32");
    for (const std::string &b : backends) {
      std::vector<HostTensor> got;
      try {
        got = runCompiled(*g, env, b);
      } catch (const std::exception &e) {
        std::string dir = writeReproducer(seed, b + "-exception", *g, env, ref64, {}, b);
        ADD_FAILURE() << "backend " << b << " threw on random graph seed " << seed << ": " << e.what()
                      << "\nreproducer in " << dir << "\n"
                      << toText(*g);
        continue;
      }
      expectAgree(seed, b + " vs f32 interpreter", *g, env, got, ref32, ref64, kVsF32, b);
      expectAgree(seed, b + " vs f64 interpreter", *g, env, got, ref64, ref64, kVsF64, b);
    }
  }
}

/// Copies the signature and body of `src` into `dst` (which GradCheck owns);
/// returns the images of src's outputs.
std::vector<Value> copyInto(const Graph &src, Graph &dst) {
  std::unordered_map<Value, Value, ValueHash> map;
  for (Node *n : src.inputs())
    map[n->result()] = dst.addInput(n->name(), n->resultType());
  for (Node *n : src.params())
    map[n->result()] = dst.addParam(n->name(), n->resultType());
  for (Node *n : src.states())
    map[n->result()] = dst.addState(n->name(), n->resultType());
  for (Node *n : src.nodes()) {
    std::vector<Value> ops;
    for (Value v : n->operands())
      ops.push_back(map.at(v));
    std::vector<TensorType> types(n->resultTypes().begin(), n->resultTypes().end());
    Node *c = dst.createUnchecked(n->kind(), ops, n->attrs(), types, n->location());
    for (size_t i = 0; i < n->numResults(); ++i)
      map[n->result(i)] = c->result(i);
  }
  std::vector<Value> outs;
  for (Value v : src.outputs())
    outs.push_back(map.at(v));
  return outs;
}

/// True when an operand of a reduce_max or max_pool2d holds two equal values
/// at this point. Their gradient goes to every tied element (ir/OPS contract),
/// which is not the derivative when the tied elements come from one source
/// (max of a broadcast value), so finite differences cannot judge it there.
bool hasMaxTies(const Graph &src, const TensorMap &env) {
  std::unique_ptr<Graph> probe = src.clone();
  std::vector<Value> maxInputs;
  for (Node *n : probe->nodes())
    if (n->kind() == OpKind::ReduceMax || n->kind() == OpKind::MaxPool2d)
      maxInputs.push_back(n->operand(0));
  if (maxInputs.empty())
    return false;
  probe->setOutputs(maxInputs);
  TensorMap e = env;
  InterpretOptions wide;
  wide.f64 = true;
  for (const HostTensor &t : interpret(*probe, e, wide)) {
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i)
      v[static_cast<size_t>(i)] = t.at(i);
    std::sort(v.begin(), v.end());
    if (std::adjacent_find(v.begin(), v.end()) != v.end())
      return true;
  }
  return false;
}

TEST(Differential, AutodiffOfRandomGraphsMatchesFiniteDifferences) {
  int count = seedCount(40);
  int checked = 0;
  RandomGraphOptions forwardOnly;
  forwardOnly.backward = false;
  for (uint32_t seed = 1; seed <= static_cast<uint32_t>(count); ++seed) {
    std::unique_ptr<Graph> src = randomGraph(seed, forwardOnly);
    GradCheckOptions opt;
    opt.seed = seed;
    opt.tol = 1e-5;
    opt.fixed = randomEnv(*src, opt); // the same values for the tie check and the gradient check
    if (hasMaxTies(*src, opt.fixed))
      continue;
    ++checked;
    GradCheckResult r;
    try {
      r = gradCheck(
          [&](Graph &g) {
            Value loss;
            for (Value out : copyInto(*src, g)) {
              if (!isFloat(out.dtype()))
                continue;
              Value term = probeLoss(g, out);
              loss = loss ? g.build(OpKind::Add, {loss, term}) : term;
            }
            return loss;
          },
          opt);
    } catch (const std::exception &e) {
      ADD_FAILURE() << "gradcheck threw on random graph seed " << seed << ": " << e.what() << "\n" << toText(*src);
      continue;
    }
    EXPECT_LT(r.maxRelErr, opt.tol) << "random graph seed " << seed << ", worst element " << r.where << "\n"
                                    << toText(*src);
  }
  // Ties are the exception: most graphs must be checked.
  EXPECT_GE(checked, count * 3 / 4) << "only " << checked << " of " << count << " random graphs were free of ties";
}

} // namespace
} // namespace kiln::test
