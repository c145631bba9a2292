// codegen/cuda/CudaGroup.cpp - launch groups: runs of independent kernels as one launch.
//
// A step of small kernels is bound by launches. Consecutive kernels in body
// form (CudaKernel::callableBody: generic kernels, reductions, the loss and
// the GEMMs, each a device function of its block index; 256 threads a block,
// a one-dimensional grid) that are independent - none writes storage that
// another of them reads or writes - can run in any order or at once, so one
// group kernel runs them all: blocks [0, g0) are the first member's, [g0, g0 +
// g1) the second's, and so on. The members' order and code are unchanged, so
// results are bitwise the same. A run is cut where a kernel depends on an
// earlier member (a gradient's sum, then the update that reads it), where
// the members' static shared memory would exceed what one kernel may declare,
// and between a GEMM and a kernel of more blocks than two per SM: a group
// runs with its heaviest member's registers a thread, so such a kernel (a
// pooling gradient over every activation) would run in more, thinner waves.
// Before that, scheduleLaunches reorders the launches so that independent
// kernels become neighbours: in rounds, every launch whose inputs are ready
// goes next (a layer's weight and input gradients, the bias gradient's
// reduction and the update of the layer after it), except that a kernel
// which cannot join a group (a GEMM of 128 threads) goes alone first while
// the others wait for what it makes ready. Only independent launches trade
// places, so every kernel computes what it did; only the arena's live ranges
// change.
#include "codegen/cuda/CudaLower.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"

#include <algorithm>
#include <set>

namespace kiln::cuda {

namespace {

/// The storage a launch reads and writes.
struct Access {
  std::set<int> reads, writes;
};

Access accessOf(const Program &p, const Launch &l) {
  Access a;
  const kir::Kernel &k = p.kernels.at(l.kernel);
  size_t arg = 0;
  for (const kir::BufferDecl &d : k.buffers) {
    if (d.local)
      continue;
    int storage = p.storageOf(l.args.at(arg++));
    (d.readOnly ? a.reads : a.writes).insert(storage);
  }
  return a;
}

bool intersects(const std::set<int> &a, const std::set<int> &b) {
  for (int x : a)
    if (b.count(x))
      return true;
  return false;
}

/// Whether two launches may run in either order or at once.
bool independent(const Access &a, const Access &b) {
  return !intersects(a.writes, b.reads) && !intersects(a.writes, b.writes) && !intersects(a.reads, b.writes);
}

bool isGemm(const CudaKernel &k) { return k.kind.rfind("gemm", 0) == 0; }

bool groupable(const CudaKernel &k) {
  return k.callableBody && k.block[0] == kGenericBlock && k.block[1] == 1 && k.block[2] == 1 && k.grid[1] == 1 &&
         k.grid[2] == 1;
}

/// The static shared memory one kernel may declare (48 KiB on every GPU
/// since sm_20; more takes dynamic shared memory and an opt-in).
constexpr int kMaxStaticShared = 48 * 1024;
/// The bytes of parameters a kernel may take (sm_70+ with CUDA 12.1 allow
/// more; this holds everywhere). Every parameter kiln passes is a pointer.
constexpr size_t kMaxParamBytes = 4096;

/// What a launch group holds so far, to tell whether one more kernel fits:
/// the members' static shared memory and parameters, and no GEMM beside a
/// kernel of more than two blocks per SM. (Members must be independent too,
/// which the caller checks.)
class GroupFit {
public:
  explicit GroupFit(int smCount) : wide_(2 * int64_t{std::max(smCount, 1)}) {}
  /// Adds kernel k launched with `args` arguments when it fits, and says whether it did.
  bool add(const CudaKernel &k, size_t args) {
    int shared = shared_ + k.staticSharedBytes;
    size_t params = params_ + args * sizeof(void *); // every parameter is a pointer
    bool gemm = gemm_ || isGemm(k);
    int64_t widest = std::max(widest_, isGemm(k) ? 0 : k.grid[0]); // the most blocks of a member that is no GEMM
    if (shared > kMaxStaticShared || params > kMaxParamBytes || (gemm && widest > wide_))
      return false;
    shared_ = shared, params_ = params, gemm_ = gemm, widest_ = widest;
    return true;
  }

private:
  int64_t wide_;
  int shared_ = 0;
  size_t params_ = 0;
  bool gemm_ = false;
  int64_t widest_ = 0;
};

/// The group kernel of launches [first, last) of p.program.
CudaKernel groupKernel(const CudaProgram &p, size_t first, size_t last, const std::string &name) {
  const Program &prog = p.program;
  std::string params, dispatch;
  int q = 0, shared = 0;
  int64_t offset = 0;
  for (size_t i = first; i < last; ++i) {
    const Launch &l = prog.launches[i];
    const CudaKernel &ck = p.kernels.at(l.kernel);
    KirRenderer r(prog.kernels.at(l.kernel));
    std::string call;
    for (const std::string &type : r.paramTypes()) {
      std::string arg = "q" + std::to_string(q++);
      params += (params.empty() ? "" : ", ") + type + arg;
      call += arg + ", ";
    }
    shared += ck.staticSharedBytes;
    int64_t end = offset + ck.grid[0];
    dispatch += "  if (b < " + std::to_string(end) + "LL) { " + ck.name + "_body(" + call + "b - " +
                std::to_string(offset) + "LL); return; }\n";
    offset = end;
  }
  CudaKernel g;
  g.name = name;
  g.kind = "group";
  g.block[0] = kGenericBlock;
  g.grid[0] = offset;
  g.staticSharedBytes = shared;
  g.source = kernelOpening(name, params, kGenericBlock) + "  const long long b = blockIdx.x;\n" + dispatch + "}\n";
  return g;
}

} // namespace

void scheduleLaunches(CudaProgram &p, int smCount) {
  Program &prog = p.program;
  const size_t n = prog.launches.size();
  // Launch j depends on each earlier launch i it is not independent of.
  std::vector<Access> access;
  for (const Launch &l : prog.launches)
    access.push_back(accessOf(prog, l));
  std::vector<std::vector<size_t>> after(n);
  std::vector<size_t> waiting(n, 0);
  for (size_t j = 0; j < n; ++j)
    for (size_t i = 0; i < j; ++i)
      if (!independent(access[i], access[j])) {
        after[i].push_back(j);
        ++waiting[j];
      }
  std::set<size_t> ready;
  for (size_t j = 0; j < n; ++j)
    if (!waiting[j])
      ready.insert(j);
  std::vector<size_t> order;
  auto emit = [&](size_t i) {
    order.push_back(i);
    ready.erase(i);
    for (size_t j : after[i])
      if (--waiting[j] == 0)
        ready.insert(j);
  };
  while (!ready.empty()) {
    // A kernel that cannot join a group goes alone first; the others wait,
    // to go together with what it makes ready.
    auto single = std::find_if(ready.begin(), ready.end(),
                               [&](size_t i) { return !groupable(p.kernels.at(prog.launches[i].kernel)); });
    if (single != ready.end()) {
      emit(*single);
      continue;
    }
    // The ready ones are mutually independent. When the ones others wait for
    // share one launch and one that nothing waits for (a parameter's gradient
    // and update, at the end of its chain) would not join it, that one waits
    // for the next round, whose launch it may join, rather than take a launch
    // of its own now.
    std::vector<size_t> run, sinks;
    for (size_t i : ready)
      (after[i].empty() ? sinks : run).push_back(i);
    GroupFit fit(smCount);
    bool fits = !run.empty();
    for (size_t i : run)
      fits = fits && fit.add(p.kernels.at(prog.launches[i].kernel), prog.launches[i].args.size());
    for (size_t i : sinks)
      if (!fits || fit.add(p.kernels.at(prog.launches[i].kernel), prog.launches[i].args.size()))
        run.push_back(i);
    std::sort(run.begin(), run.end());
    for (size_t i : run)
      emit(i);
  }
  KILN_INTERNAL_CHECK(order.size() == n) << "cuda lowering: the launches' dependences have a cycle";
  std::vector<Launch> launches;
  for (size_t i : order)
    launches.push_back(std::move(prog.launches[i]));
  prog.launches = std::move(launches);
}

std::vector<int64_t> CudaProgram::launchTimes() const {
  std::vector<int64_t> t;
  for (size_t i = 0; i < launches.size(); ++i) {
    auto g = groups.find(launches[i].kernel);
    t.insert(t.end(), g == groups.end() ? 1 : g->second.size(), static_cast<int64_t>(i));
  }
  KILN_INTERNAL_CHECK(t.size() == program.launches.size()) << "launch groups do not cover the program's launches";
  return t;
}

void groupLaunches(CudaProgram &p, int smCount) {
  const Program &prog = p.program;
  p.launches.clear();
  p.groups.clear();
  for (size_t i = 0; i < prog.launches.size();) {
    size_t j = i;
    std::vector<Access> members;
    GroupFit fit(smCount);
    while (j < prog.launches.size() && groupable(p.kernels.at(prog.launches[j].kernel))) {
      const Launch &l = prog.launches[j];
      Access a = accessOf(prog, l);
      bool fits = true;
      for (const Access &m : members)
        fits &= independent(m, a);
      if (!fits || !fit.add(p.kernels.at(l.kernel), l.args.size()))
        break;
      members.push_back(std::move(a));
      ++j;
    }
    if (j - i < 2) {
      p.launches.push_back(prog.launches[i]);
      ++i;
      continue;
    }
    int index = static_cast<int>(p.kernels.size());
    Launch merged;
    merged.kernel = index;
    std::vector<int> kernels;
    for (size_t m = i; m < j; ++m) {
      merged.args.insert(merged.args.end(), prog.launches[m].args.begin(), prog.launches[m].args.end());
      kernels.push_back(prog.launches[m].kernel);
    }
    std::string name = "g" + std::to_string(index) + "_" + p.kernels.at(prog.launches[i].kernel).name + "_and_" +
                       std::to_string(j - i - 1) + "_more";
    p.kernels.push_back(groupKernel(p, i, j, name));
    p.groups[index] = std::move(kernels);
    p.launches.push_back(std::move(merged));
    i = j;
  }
}

} // namespace kiln::cuda
