// runtime/cpu/CpuExecutable.cpp - the LLVM CPU backend behind the Executable interface.
//
// compile: backend passes -> lowerGraph (kernel IR) -> compiled kernels (disk
// cache, JIT) -> one arena holding every buffer, planned by liveness.
// run: a flat list of launches, each a function pointer plus a prebuilt array
// of buffer addresses; parallel kernels split their outer loop over the pool.
// Nothing is allocated or compiled in run(). A parameter's update (assign)
// exchanges the places of the parameter and its new value (a few pointer
// writes) instead of copying the new value over it.
#include "codegen/Lower.h"
#include "codegen/llvm/LLVMBackend.h"
#include "ir/Error.h"
#include "runtime/Backends.h"
#include "runtime/KernelCache.h"
#include "runtime/ThreadPool.h"
#include "runtime/ArenaPlan.h"
#include "runtime/cpu/Jit.h"
#include "runtime/cpu/KernelCompiler.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <sstream>

namespace kiln {

namespace cpu {
namespace {

/// Work (about flops) below which a launch stays on the calling thread.
constexpr double kParallelThreshold = 65536;

struct Step {
  KernelFn fn = nullptr;
  void **args = nullptr;
  int64_t extent = 1;
  int threads = 1;
};

/// An assign done by exchanging places instead of copying: after the step the
/// memory of the new value becomes the parameter's, and the old parameter's
/// memory takes the next step's new value.
struct Swap {
  int target = -1, value = -1;
  std::vector<int> targetViews, valueViews;       ///< buffers stored in each (themselves included)
  std::vector<std::pair<size_t, int>> argSlots; ///< (argv index, buffer) of kernel arguments in either
};

/// The assigns that can swap: the value is a plain temporary, not a graph
/// output, and each value and target appears once.
std::vector<std::pair<int, int>> swappableAssigns(const Program &p) {
  std::vector<int> uses(p.buffers.size(), 0);
  for (auto [t, v] : p.assigns)
    ++uses[t], ++uses[v];
  for (int o : p.outputs)
    ++uses[p.storageOf(o)];
  std::vector<std::pair<int, int>> out;
  for (auto [t, v] : p.assigns)
    if (t != v && uses[t] == 1 && uses[v] == 1 && p.buffers[t].aliasOf < 0 && p.buffers[v].aliasOf < 0 &&
        p.buffers[v].role == BufferRole::Temp && p.buffers[t].role != BufferRole::Temp &&
        p.buffers[t].type.byteSize() == p.buffers[v].type.byteSize())
      out.push_back({t, v});
  return out;
}

/// CPU time of the calling thread, in seconds (immune to other processes' load).
double threadSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void runRange(void *ctx, int64_t begin, int64_t end) {
  auto *s = static_cast<Step *>(ctx);
  s->fn(s->args, begin, end);
}

class CpuExecutable final : public Executable {
public:
  CpuExecutable(std::unique_ptr<Graph> g, const CompileOptions &opt) : graph_(std::move(g)) {
    auto t0 = std::chrono::steady_clock::now();
    pool_ = std::make_unique<ThreadPool>(opt.threads);
    LowerOptions lo;
    lo.vectorBytes = llvmgen::hostTarget().vectorBytes;
    if (opt.cpuVectorBytes) {
      KILN_USER_CHECK(opt.cpuVectorBytes == 16 || opt.cpuVectorBytes == 32 || opt.cpuVectorBytes == 64)
          << "cpu backend: vector width must be 16, 32 or 64 bytes, got " << opt.cpuVectorBytes;
      KILN_USER_CHECK(opt.cpuVectorBytes <= lo.vectorBytes) << "cpu backend: " << opt.cpuVectorBytes
                                                            << "-byte vectors exceed the host's " << lo.vectorBytes;
      lo.vectorBytes = opt.cpuVectorBytes;
    }
    lo.threads = pool_->size();
    prog_ = lowerGraph(*graph_, lo);
    jit_ = std::make_unique<Jit>();
    KernelCompileStats ks;
    std::vector<KernelFn> fns =
        compileKernels(prog_, *jit_, KernelCache::fromEnvironment(), opt.dumpDir, pool_->size(), ks);
    std::vector<std::pair<int, int>> swappable = swappableAssigns(prog_);
    std::vector<int> persistent;
    for (auto [t, v] : swappable)
      persistent.push_back(v);
    ArenaPlan plan = planArena(prog_, /*alignment=*/64, persistent);
    // Zeroed by calloc: a large block comes as fresh zero pages, touched only
    // when first used, so an arena sized for a big eval batch costs nothing
    // up front (a memset would fault in every page at compile time).
    block_ = std::calloc(plan.bytes + plan.alignment, 1);
    KILN_RUNTIME_CHECK(block_) << "cpu backend: cannot allocate an arena of " << plan.bytes << " bytes";
    auto at = reinterpret_cast<std::uintptr_t>(block_);
    arena_ = reinterpret_cast<std::byte *>((at + plan.alignment - 1) / plan.alignment * plan.alignment);
    for (size_t b = 0; b < prog_.buffers.size(); ++b)
      ptrs_.push_back(arena_ + plan.offset[b]);
    size_t nargs = 0;
    for (const Launch &l : prog_.launches)
      nargs += l.args.size();
    argv_.reserve(nargs);
    for (const Launch &l : prog_.launches) {
      Step s;
      s.fn = fns[l.kernel];
      s.args = argv_.data() + argv_.size();
      for (int b : l.args)
        argv_.push_back(ptrs_[b]);
      const kir::Kernel &k = prog_.kernels[l.kernel];
      s.extent = k.parallelExtent;
      bool worth = static_cast<double>(k.parallelExtent) * k.workPerIteration >= kParallelThreshold;
      s.threads = k.parallelExtent > 1 && worth ? pool_->size() : 1;
      steps_.push_back(s);
    }
    for (auto [t, v] : prog_.assigns)
      if (std::find(swappable.begin(), swappable.end(), std::pair{t, v}) == swappable.end())
        copies_.push_back({t, v});
    for (auto [t, v] : swappable) {
      Swap w;
      w.target = t;
      w.value = v;
      for (size_t b = 0; b < prog_.buffers.size(); ++b) {
        int s = prog_.storageOf(static_cast<int>(b));
        if (s == t)
          w.targetViews.push_back(static_cast<int>(b));
        else if (s == v)
          w.valueViews.push_back(static_cast<int>(b));
      }
      size_t slot = 0;
      for (const Launch &l : prog_.launches)
        for (int b : l.args) {
          int s = prog_.storageOf(b);
          if (s == t || s == v)
            w.argSlots.push_back({slot, b});
          ++slot;
        }
      swaps_.push_back(std::move(w));
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    profile_ = profileRequested(opt);
    launchSeconds_.assign(steps_.size(), 0.0);
    launchCpuSeconds_.assign(steps_.size(), 0.0);
    if (opt.verbose) {
      std::ostream &os = opt.log ? *opt.log : std::cerr;
      os << "cpu backend: " << steps_.size() << " launches, " << ks.unique << " kernels (" << ks.cacheHits
         << " from cache, " << ks.compiled << " compiled), arena " << plan.bytes << " bytes, "
         << swaps_.size() << " of " << prog_.assigns.size() << " assigns by exchange, compiled in "
         << seconds_ << " s\n";
    }
  }

  ~CpuExecutable() override {
    if (profile_ && runs_ > 0)
      printProfile(std::cerr, *profile());
    std::free(block_);
  }

  const Graph &graph() const override { return *graph_; }

  void set(const std::string &name, const HostTensor &t) override {
    int b = signatureBuffer(name);
    const TensorType &want = prog_.buffers[b].type;
    KILN_USER_CHECK(want == t.type()) << "'" << name << "' is " << typeString(want) << ", got " << typeString(t.type());
    std::memcpy(ptrs_[b], t.bytes(), t.byteSize());
  }

  HostTensor get(const std::string &name) const override {
    int b = signatureBuffer(name);
    HostTensor t(prog_.buffers[b].type);
    std::memcpy(t.bytes(), ptrs_[b], t.byteSize());
    return t;
  }

  void *inputData(const std::string &name) override { return ptrs_[signatureBuffer(name)]; }

  double compileSeconds() const override { return seconds_; }
  std::string backend() const override { return "cpu"; }

  /// Mean wall time per launch, with the calling thread's CPU time (the whole
  /// launch's when it runs on one thread).
  std::optional<StepProfile> profile() const override {
    if (!profile_)
      return std::nullopt;
    StepProfile p;
    p.clock = "wall clock";
    p.runs = runs_;
    double runs = std::max(1, runs_);
    for (size_t i = 0; i < steps_.size(); ++i) {
      std::ostringstream detail;
      detail << "cpu " << launchCpuSeconds_[i] * 1e3 / runs << " ms  threads " << steps_[i].threads;
      p.launches.push_back(
          {prog_.kernels[prog_.launches[i].kernel].name, launchSeconds_[i] * 1e3 / runs, detail.str()});
    }
    return p;
  }

protected:
  void runStep() override {
    for (const LabelCheck &c : prog_.checks)
      std::memset(ptrs_[c.buffer], 0, 2 * sizeof(int64_t));
    for (size_t i = 0; i < steps_.size(); ++i) {
      Step &s = steps_[i];
      auto t0 = profile_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      double c0 = profile_ ? threadSeconds() : 0;
      if (s.threads > 1)
        pool_->parallelFor(s.extent, runRange, &s, s.threads);
      else
        s.fn(s.args, 0, s.extent);
      if (profile_) {
        launchSeconds_[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        launchCpuSeconds_[i] += threadSeconds() - c0;
      }
    }
    runs_ += profile_;
    for (const LabelCheck &c : prog_.checks) {
      const auto *st = static_cast<const int64_t *>(ptrs_[c.buffer]);
      KILN_RUNTIME_CHECK(st[0] == 0) << c.op << ": label " << st[1] << " of row " << st[0] - 1
                                     << " is outside [0," << c.classes << ")";
    }
    for (auto [t, v] : copies_)
      std::memcpy(ptrs_[t], ptrs_[v], prog_.buffers[t].type.byteSize());
    for (const Swap &w : swaps_) {
      void *target = ptrs_[w.target], *value = ptrs_[w.value];
      for (int b : w.targetViews)
        ptrs_[b] = value;
      for (int b : w.valueViews)
        ptrs_[b] = target;
      for (auto [slot, b] : w.argSlots)
        argv_[slot] = ptrs_[b];
    }
  }

  HostTensor stepOutput(size_t i) const override {
    KILN_USER_CHECK(i < prog_.outputs.size()) << "output " << i << " requested, the graph has " << prog_.outputs.size();
    int b = prog_.outputs[i];
    HostTensor t(prog_.buffers[b].type);
    std::memcpy(t.bytes(), ptrs_[b], t.byteSize());
    return t;
  }

private:
  int signatureBuffer(const std::string &name) const {
    int b = prog_.findBuffer(name);
    KILN_USER_CHECK(b >= 0) << "graph @" << graph_->name() << " has no input, parameter or state '" << name << "'";
    return b;
  }

  std::unique_ptr<Graph> graph_;
  std::unique_ptr<ThreadPool> pool_;
  Program prog_;
  std::unique_ptr<Jit> jit_;
  void *block_ = nullptr;      ///< the allocation holding the arena
  std::byte *arena_ = nullptr; ///< block_ aligned up to the plan's alignment
  std::vector<void *> ptrs_;
  std::vector<void *> argv_;
  std::vector<Step> steps_;
  std::vector<std::pair<int, int>> copies_; ///< assigns done by copying (target, value)
  std::vector<Swap> swaps_;                 ///< assigns done by exchanging places
  double seconds_ = 0;
  bool profile_ = false;
  int runs_ = 0;
  std::vector<double> launchSeconds_;
  std::vector<double> launchCpuSeconds_; ///< CPU time of the calling thread
};

} // namespace
} // namespace cpu

bool hasCpuBackend() { return true; }

std::unique_ptr<Executable> makeCpuExecutable(const Graph &g, const CompileOptions &opt) {
  return std::make_unique<cpu::CpuExecutable>(prepareGraph(g, opt), opt);
}

} // namespace kiln
