// runtime/Executable.cpp - compile(): the one dispatch point over backends; the step protocol.
#include "runtime/Executable.h"

#include "ir/Error.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace kiln {

std::unique_ptr<Graph> prepareGraph(const Graph &g, const CompileOptions &opt) {
  std::unique_ptr<Graph> copy = g.clone();
  if (!opt.runPasses)
    return copy;
  PassManager pm;
  pm.addPipeline(defaultPipeline(opt.backend));
  PassContext ctx;
  ctx.backend = opt.backend;
  pm.run(*copy, ctx);
  return copy;
}

std::unique_ptr<Executable> compile(const Graph &g, const CompileOptions &opt) {
  if (opt.backend == "interp")
    return makeInterpExecutable(g, opt);
  if (opt.backend == "cpu")
    return opt.checkNumerics ? withNumericsCheck(makeCpuExecutable(g, opt)) : makeCpuExecutable(g, opt);
  if (opt.backend == "cuda")
    return opt.checkNumerics ? withNumericsCheck(makeCudaExecutable(g, opt)) : makeCudaExecutable(g, opt);
  KILN_USER_ERROR() << "unknown backend '" << opt.backend << "' (expected interp, cpu or cuda)";
  return nullptr;
}

double StepProfile::totalMs() const {
  double t = 0;
  for (const LaunchTime &l : launches)
    t += l.ms;
  return t;
}

void printProfile(std::ostream &os, const StepProfile &p) {
  std::vector<size_t> order(p.launches.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p.launches[a].ms > p.launches[b].ms; });
  os << "kiln profile: " << p.runs << " runs, " << p.totalMs() << " ms per run in " << p.launches.size()
     << " launches (" << p.clock << ")\n";
  for (size_t i : order) {
    const LaunchTime &l = p.launches[i];
    os << "  " << l.ms << " ms  " << (l.detail.empty() ? "" : l.detail + "  ") << l.kernel << "\n";
  }
}

bool profileRequested(const CompileOptions &opt) {
  const char *e = std::getenv("KILN_PROFILE");
  return opt.profile || (e && std::string(e) == "1");
}

void Executable::copyFrom(const Executable &from, const std::vector<std::string> &names) {
  for (const std::string &name : names)
    set(name, from.get(name));
}

const TensorType &Executable::inputType(const std::string &name) const {
  Node *n = graph().findSignatureNode(name);
  KILN_USER_CHECK(n && n->kind() == OpKind::Input) << "graph @" << graph().name() << " has no input '" << name << "'";
  return n->result().type();
}

void Executable::checkRowTable(const char *what, const std::string &name, const HostTensor &table) const {
  const TensorType &want = inputType(name);
  const Shape &s = want.shape, &t = table.shape();
  KILN_USER_CHECK(!s.empty()) << what << "('" << name << "'): the input is " << typeString(want)
                              << ", which has no rows to gather";
  std::string rowsOf = std::string(dtypeName(want.dtype)) + "[N";
  for (size_t d = 1; d < s.size(); ++d)
    rowsOf += "," + std::to_string(s[d]);
  KILN_USER_CHECK(t.size() == s.size() && table.dtype() == want.dtype &&
                  std::equal(s.begin() + 1, s.end(), t.begin() + 1))
      << what << "('" << name << "'): rows for the input " << typeString(want) << " are a table " << rowsOf << "], got "
      << typeString(table.type());
}

void Executable::checkRows(const char *what, const std::string &name, const HostTensor &table,
                           std::span<const int64_t> rows) const {
  const int64_t batch = inputType(name).shape[0], n = table.shape()[0];
  KILN_USER_CHECK(static_cast<int64_t>(rows.size()) <= batch)
      << what << "('" << name << "'): " << rows.size() << " rows for an input of " << batch;
  for (size_t i = 0; i < rows.size(); ++i)
    KILN_USER_CHECK(rows[i] >= 0 && rows[i] < n)
        << what << "('" << name << "'): row " << rows[i] << " (at " << i << ") is outside the table's " << n << " rows";
}

void Executable::bindRows(const std::string &name, const HostTensor &table) {
  checkRowTable("bindRows", name, table);
  rowTables_[name] = table;
}

const HostTensor *Executable::boundRows(const std::string &name) const {
  auto it = rowTables_.find(name);
  return it == rowTables_.end() ? nullptr : &it->second;
}

const HostTensor &Executable::rowsToSelect(const std::string &name, std::span<const int64_t> rows) const {
  const HostTensor *table = boundRows(name);
  KILN_USER_CHECK(table) << "selectRows('" << name << "'): no table is bound to it (bindRows)";
  checkRows("selectRows", name, *table, rows);
  return *table;
}

void Executable::gatherRows(std::byte *dst, const TensorType &type, const HostTensor &table,
                            std::span<const int64_t> rows) {
  const size_t rowBytes = type.shape[0] ? type.byteSize() / static_cast<size_t>(type.shape[0]) : 0;
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(dst + i * rowBytes, table.bytes() + static_cast<size_t>(rows[i]) * rowBytes, rowBytes);
  std::memset(dst + rows.size() * rowBytes, 0, type.byteSize() - rows.size() * rowBytes);
}

void Executable::selectRows(const std::string &name, std::span<const int64_t> rows) {
  hostRows(name, rowsToSelect(name, rows), rows);
}

void Executable::writeRows(const std::string &name, const HostTensor &table, std::span<const int64_t> rows) {
  checkRowTable("writeRows", name, table);
  checkRows("writeRows", name, table, rows);
  hostRows(name, table, rows);
}

void Executable::hostRows(const std::string &name, const HostTensor &table, std::span<const int64_t> rows) {
  const TensorType &type = inputType(name);
  if (void *p = inputData(name))
    return gatherRows(static_cast<std::byte *>(p), type, table, rows);
  HostTensor t(type);
  gatherRows(t.bytes(), type, table, rows);
  set(name, t);
}

void Executable::run() {
  runStep();
  kept_.clear();
  waited_.reset();
  unwaited_ = false;
}

void Executable::start() {
  beginStep();
  unwaited_ = true;
}

void Executable::wait() {
  waitStep();
  unwaited_ = false;
}

HostTensor Executable::output(size_t i) const {
  KILN_USER_CHECK(!unwaited_) << "output " << i << " of graph @" << graph().name()
                              << ": a step begun with start() has not been waited for (call wait() first)";
  if (!waited_)
    return stepOutput(i);
  KILN_USER_CHECK(i < waited_->size()) << "output " << i << " requested, the graph has " << waited_->size();
  return (*waited_)[i];
}

void Executable::beginStep() {
  if (kept_.size() == 2)
    waitStep();
  runStep();
  std::vector<HostTensor> outs;
  for (size_t i = 0; i < graph().outputs().size(); ++i)
    outs.push_back(stepOutput(i));
  kept_.push_back(std::move(outs));
}

void Executable::waitStep() {
  if (kept_.empty())
    return;
  waited_ = std::move(kept_.front());
  kept_.erase(kept_.begin());
}

std::vector<std::string> availableBackends() {
  std::vector<std::string> out{"interp"};
  if (hasCpuBackend())
    out.push_back("cpu");
  if (hasCudaBackend())
    out.push_back("cuda");
  return out;
}

} // namespace kiln
