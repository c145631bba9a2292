// runtime/InterpExecutable.cpp - the reference interpreter behind the Executable interface.
//
// Slow and simple on purpose: it is what every other backend is compared to,
// and what `kiln run --backend interp` uses.
#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "runtime/Backends.h"

namespace kiln {

namespace {
class InterpExecutable final : public Executable {
public:
  InterpExecutable(std::unique_ptr<Graph> g, bool checkNumerics) : graph_(std::move(g)) {
    options_.checkNumerics = checkNumerics;
    for (const auto *list : {&graph_->inputs(), &graph_->params(), &graph_->states()})
      for (Node *n : *list)
        env_.emplace(n->name(), HostTensor(n->resultType(0)));
  }

  const Graph &graph() const override { return *graph_; }

  void set(const std::string &name, const HostTensor &t) override {
    HostTensor &slot = slot_(name);
    KILN_USER_CHECK(slot.type() == t.type())
        << "'" << name << "' is " << typeString(slot.type()) << ", got " << typeString(t.type());
    slot = t.clone();
  }

  HostTensor get(const std::string &name) const override {
    auto it = env_.find(name);
    KILN_USER_CHECK(it != env_.end()) << "graph @" << graph_->name() << " has no input, parameter or state '"
                                      << name << "'";
    return it->second.clone();
  }

  void *inputData(const std::string &name) override { return slot_(name).bytes(); }

  std::string backend() const override { return "interp"; }

protected:
  void runStep() override { outputs_ = interpret(*graph_, env_, options_); }

  HostTensor stepOutput(size_t i) const override {
    KILN_USER_CHECK(i < outputs_.size()) << "output " << i << " requested, the last run produced "
                                         << outputs_.size();
    return outputs_[i];
  }

private:
  HostTensor &slot_(const std::string &name) {
    auto it = env_.find(name);
    KILN_USER_CHECK(it != env_.end()) << "graph @" << graph_->name() << " has no input, parameter or state '"
                                      << name << "'";
    return it->second;
  }

  std::unique_ptr<Graph> graph_;
  TensorMap env_;
  std::vector<HostTensor> outputs_;
  InterpretOptions options_;
};
} // namespace

std::unique_ptr<Executable> makeInterpExecutable(const Graph &g, const CompileOptions &opt) {
  return std::make_unique<InterpExecutable>(prepareGraph(g, opt), opt.checkNumerics);
}

} // namespace kiln
