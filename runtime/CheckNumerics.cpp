// runtime/CheckNumerics.cpp - `--check-numerics` for compiled backends.
//
// Wraps an Executable: each step (run() or start(), which waits for the step
// here) first keeps a copy of every input,
// parameter and state, then checks the outputs and the updated parameters and
// state for NaN and infinity. On a finding the step is replayed on the
// reference interpreter with InterpretOptions::checkNumerics, which names the
// first op producing a non-finite value; if the interpreter finds none, the
// backend disagrees with it and the error says so. The interpreter backend
// checks every node itself and is never wrapped.
#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "ir/ValueNames.h"
#include "runtime/Backends.h"

#include <cmath>
#include <cstdlib>

namespace kiln {
namespace {

std::string nonFiniteText(double v) { return std::isnan(v) ? "nan" : v < 0 ? "-inf" : "inf"; }

class NumericsCheckingExecutable final : public Executable {
public:
  explicit NumericsCheckingExecutable(std::unique_ptr<Executable> inner) : inner_(std::move(inner)) {}

  const Graph &graph() const override { return inner_->graph(); }
  void set(const std::string &name, const HostTensor &t) override { inner_->set(name, t); }
  HostTensor get(const std::string &name) const override { return inner_->get(name); }
  void *inputData(const std::string &name) override { return inner_->inputData(name); }
  void bindRows(const std::string &name, const HostTensor &table) override {
    Executable::bindRows(name, table); // boundRows() answers here too
    inner_->bindRows(name, table);
  }
  void selectRows(const std::string &name, std::span<const int64_t> rows) override { inner_->selectRows(name, rows); }
  double compileSeconds() const override { return inner_->compileSeconds(); }
  std::string backend() const override { return inner_->backend(); }
  std::optional<StepProfile> profile() const override { return inner_->profile(); }

protected:
  HostTensor stepOutput(size_t i) const override { return inner_->output(i); }

  void runStep() override {
    const Graph &g = graph();
    TensorMap before;
    for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
      for (const Node *n : *list)
        before.emplace(n->name(), inner_->get(n->name()));
    inner_->run();

    std::string finding;
    ValueNames names(g);
    for (size_t i = 0; i < g.outputs().size() && finding.empty(); ++i) {
      HostTensor t = inner_->output(i);
      if (int64_t bad = firstNonFinite(t); bad >= 0)
        finding = "output " + names(g.outputs()[i]) + " holds " + nonFiniteText(t.at(bad)) + " at element " +
                  std::to_string(bad);
    }
    for (const auto *list : {&g.params(), &g.states()})
      for (const Node *n : *list) {
        if (!finding.empty())
          break;
        HostTensor t = inner_->get(n->name());
        if (int64_t bad = firstNonFinite(t); bad >= 0)
          finding = std::string(n->kind() == OpKind::Parameter ? "parameter" : "state") + " %" + n->name() + " holds " +
                    nonFiniteText(t.at(bad)) + " at element " + std::to_string(bad) + " after the step";
      }
    if (!finding.empty())
      explain(before, finding);
  }

private:
  /// Replays the step on the interpreter, which names the op; throws either way.
  [[noreturn]] void explain(TensorMap env, const std::string &finding) const {
    InterpretOptions opt;
    opt.checkNumerics = true;
    try {
      interpret(graph(), env, opt);
    } catch (const RuntimeError &e) {
      throw RuntimeError(std::string(e.what()) + " (the " + backend() + " backend's " + finding +
                         "; the step was replayed on the interpreter to find the op)");
    }
    KILN_RUNTIME_ERROR() << "check-numerics: the " << backend() << " backend's " << finding
                         << ", but the interpreter computes only finite values for the same step (the backend "
                            "disagrees with the reference)";
    std::abort(); // unreachable: the line above throws
  }

  std::unique_ptr<Executable> inner_;
};

} // namespace

std::unique_ptr<Executable> withNumericsCheck(std::unique_ptr<Executable> exe) {
  return std::make_unique<NumericsCheckingExecutable>(std::move(exe));
}

} // namespace kiln
