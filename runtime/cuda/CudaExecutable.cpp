// runtime/cuda/CudaExecutable.cpp - the CUDA backend behind the Executable interface.
//
// compile: backend passes -> lowerCuda (one CUDA kernel per launch) -> one
// translation unit -> CUBIN for the device's arch (disk cache) -> module.
// Memory: one device arena holds every buffer but the inputs (parameters and
// optimizer state stay resident). A step runs in one of two slots, in turn;
// a slot has its inputs (pinned staging the host writes, and their device
// copy), its pinned read-back (label statuses and outputs) and its own
// captured CUDA graph. start() copies the slot's inputs to the device on an
// upload stream and replays the slot's graph on the compute stream after that
// copy (an event orders them), so the host writes step k+1's inputs into the
// other slot and its copy runs while step k computes; wait() waits for the
// oldest step and checks its labels. The graph holds the whole step: status
// resets, kernels, the read-back, assigns. KILN_CUDA_GRAPH=0 launches on the
// stream instead. Every kernel but a step's first is a programmatic dependent
// launch of the one before it on sm_90+ (KILN_CUDA_PDL=0: plain launches), so
// the GPU schedules it while that one runs; its threads wait in
// kiln_pdl_enter (the prelude) until it has finished. No sum depends on
// timing (the only atomics, counters of a split-K tile's slices or of a
// reduction's chunks, pick which block sums, not the order), so a step is
// bitwise reproducible. An input gathered from a
// bound table (selectRows) uploads its row numbers only: a gather kernel on
// the upload stream writes its rows into the slot's device inputs.
// Nothing is allocated, compiled or captured in a step. Profiling
// (KILN_PROFILE=1) launches one kernel at a time between timing events.
#include "codegen/cuda/CudaLower.h"
#include "ir/Error.h"
#include "runtime/ArenaPlan.h"
#include "runtime/Backends.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDriver.h"
#include "runtime/cuda/CudaInputs.h"
#include "runtime/cuda/Emulator.h"
#include "runtime/cuda/Nvrtc.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>

namespace kiln {

namespace cuda {
namespace {

struct Step {
  CUfunction fn = nullptr;
  const CudaKernel *kernel = nullptr;
  std::vector<CUdeviceptr> args;
  std::vector<void *> params; ///< pointers into args, for cuLaunchKernel
};

/// One of the two slots steps run in, in turn.
struct Slot {
  std::byte *back = nullptr;    ///< pinned: label statuses and outputs, copied back within the step
  std::vector<Step> steps;      ///< the launches, with this slot's input pointers
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  CUevent uploaded = nullptr; ///< the inputs' copy is done (staging may be written again)
  CUevent computed = nullptr; ///< the step is done
  std::vector<CUevent> marks; ///< profiling: before each launch, and after the last
};

/// True unless environment variable `name` is "0".
bool enabled(const char *name) {
  const char *e = std::getenv(name);
  return !(e && std::string(e) == "0");
}

/// Programmatic dependent launches: on unless KILN_CUDA_PDL=0, and only for
/// kernels compiled for sm_90 or later (their kiln_pdl_enter waits for the
/// kernel before them) with a driver that has cuLaunchKernelEx.
bool programmaticLaunches(const std::string &arch) {
  return enabled("KILN_CUDA_PDL") && driver().cuLaunchKernelEx && archNumber(arch) >= 90;
}


class CudaExecutable final : public Executable {
public:
  CudaExecutable(std::unique_ptr<Graph> g, const CompileOptions &opt) : graph_(std::move(g)) {
    auto t0 = std::chrono::steady_clock::now();
    std::string why;
    const DriverApi *api = tryDriver(&why);
    compileOnly_ = opt.compileOnly;
    KILN_RUNTIME_CHECK(api || compileOnly_) << "backend 'cuda' is not available: " << why;
    CudaLowerOptions lo;
    lo.tf32 = opt.tf32;
    lo.prefetch = enabled("KILN_CUDA_PREFETCH");
    std::string arch = opt.cudaArch;
    if (!compileOnly_) {
      const DeviceInfo &dev = currentDevice();
      lo.smCount = dev.smCount;
      if (arch.empty())
        arch = dev.arch;
      deviceName_ = dev.name;
    }
    if (arch.empty())
      arch = "sm_90";
    prog_ = lowerCuda(*graph_, lo);
    std::vector<CudaKernel> kernels = prog_.kernels; // and the runtime's own
    kernels.insert(kernels.end(), rowGatherKernels().begin(), rowGatherKernels().end());
    CudaTranslationUnit tu = makeTranslationUnit(kernels);
    if (!opt.dumpDir.empty())
      dumpCudaProgram(prog_, tu, arch, opt.dumpDir);
    bool fromCache = false;
    // The emulated driver (KILN_CUDA_EMULATOR) loads host code instead of a CUBIN or PTX.
    std::vector<char> image =
        driverIsEmulator() && !compileOnly_
            ? emulatorImage(tu, kernels, graph_->name(), KernelCache::fromEnvironment(), &fromCache)
            : compileModule(tu, arch, graph_->name(), KernelCache::fromEnvironment(), &fromCache);
    Program &p = prog_.program;
    layout_ = planCudaArena(prog_);
    if (!compileOnly_) {
      profile_ = profileRequested(opt);
      KILN_RUNTIME_CHECK(!profile_ || driver().cuEventElapsedTime_v2)
          << "cuda backend: profiling (KILN_PROFILE) needs cuEventElapsedTime_v2, which this CUDA driver lacks "
             "(a driver for CUDA 12.8 or later has it)";
      pdl_ = !profile_ && programmaticLaunches(arch);
      load(image);
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opt.verbose) {
      std::ostream &os = opt.log ? *opt.log : std::cerr;
      os << "cuda backend: " << prog_.launches.size() << " launches (" << p.launches.size() << " kernels, "
         << prog_.groups.size() << " launch groups), " << tu.kernelLines.size() << " kernels for " << arch << " ("
         << (driverIsEmulator() && !compileOnly_ ? "emulator library "
             : isVirtualArch(arch)               ? "PTX "
                                                 : "cubin ")
         << (fromCache ? "from cache" : "compiled") << "), arena " << layout_.bytes << " bytes";
      if (!compileOnly_)
        os << ", inputs 2 x " << in_->bytes() << " bytes, device " << deviceName_
           << (useGraph_ ? ", graph replay" : ", stream launches") << (pdl_ ? ", programmatic dependent launches" : "")
           << (profile_ ? ", profiled" : "");
      os << ", " << seconds_ << " s\n";
    }
  }

  ~CudaExecutable() override {
    if (compileOnly_ || !tryDriver())
      return;
    const DriverApi &d = driver();
    d.cuCtxSetCurrent(currentDevice().context);
    for (CUstream s : {upload_, stream_})
      if (s)
        d.cuStreamSynchronize(s);
    if (profile_ && runs_ > 0)
      printProfile(std::cerr, *profile());
    for (Slot &s : slots_) {
      if (s.exec)
        d.cuGraphExecDestroy(s.exec);
      if (s.graph)
        d.cuGraphDestroy(s.graph);
      for (CUevent e : s.marks)
        if (e)
          d.cuEventDestroy_v2(e);
      for (CUevent e : {s.uploaded, s.computed})
        if (e)
          d.cuEventDestroy_v2(e);
    }
    for (CUstream s : {upload_, stream_})
      if (s)
        d.cuStreamDestroy_v2(s);
    if (module_)
      d.cuModuleUnload(module_);
    for (CUdeviceptr p : {arena_, inputMemory_})
      if (p)
        d.cuMemFree_v2(p);
    if (in_)
      in_->release();
    if (pinned_)
      d.cuMemFreeHost(pinned_);
  }

  const Graph &graph() const override { return *graph_; }

  void set(const std::string &name, const HostTensor &t) override {
    int b = signatureBuffer(name);
    const TensorType &want = prog_.program.buffers[b].type;
    KILN_USER_CHECK(want == t.type()) << "'" << name << "' is " << typeString(want) << ", got " << typeString(t.type());
    if (isInput(b)) {
      std::memcpy(nextInput(b), t.bytes(), t.byteSize());
      return;
    }
    drain();
    KILN_CU(cuMemcpyHtoD_v2, deviceAt(b, 0), t.bytes(), t.byteSize());
  }

  HostTensor get(const std::string &name) const override {
    int b = signatureBuffer(name);
    HostTensor t(prog_.program.buffers[b].type);
    if (isInput(b)) { // the value the next step will read
      int slot = in_->written(b) || last_ < 0 ? next_ : last_;
      in_->read(b, slot, in_->gathered(b, slot) ? *boundRows(name) : HostTensor(), t.bytes());
      return t;
    }
    drain();
    KILN_CU(cuMemcpyDtoH_v2, t.bytes(), deviceAt(b, 0), t.byteSize());
    return t;
  }

  void *inputData(const std::string &name) override {
    int b = signatureBuffer(name);
    return isInput(b) ? nextInput(b) : nullptr;
  }

  void bindRows(const std::string &name, const HostTensor &table) override {
    HostTensor old = boundRows(name) ? *boundRows(name) : HostTensor();
    Executable::bindRows(name, table); // checks the table's type
    int b = signatureBuffer(name);
    if (!isInput(b))
      return; // an input of no bytes
    // If the next step would gather from the table replaced, its rows are
    // gathered here, on the host, so that the input keeps its value.
    int slot = in_->written(b) || last_ < 0 ? next_ : last_;
    if (in_->gathered(b, slot)) {
      std::vector<int64_t> rows = in_->rows(b, slot);
      gatherRows(static_cast<std::byte *>(nextInput(b)), prog_.program.buffers[b].type, old, rows);
    }
    drain();
    in_->bind(b, table);
  }

  void selectRows(const std::string &name, std::span<const int64_t> rows) override {
    rowsToSelect(name, rows); // checks the rows
    int b = signatureBuffer(name);
    if (!isInput(b))
      return;
    KILN_CU(cuEventSynchronize, slots_[next_].uploaded); // the copy that last read the staging
    in_->select(b, next_, rows);
  }

  void copyFrom(const Executable &from, const std::vector<std::string> &names) override {
    const auto *src = dynamic_cast<const CudaExecutable *>(&from);
    if (!src)
      return Executable::copyFrom(from, names);
    src->drain();
    drain();
    for (const std::string &name : names) {
      int b = signatureBuffer(name), sb = src->signatureBuffer(name);
      const TensorType &want = prog_.program.buffers[b].type, &have = src->prog_.program.buffers[sb].type;
      KILN_USER_CHECK(want == have) << "'" << name << "' is " << typeString(want) << ", the source's is "
                                    << typeString(have);
      if (isInput(b) || src->isInput(sb))
        set(name, src->get(name)); // inputs are host memory
      else
        KILN_CU(cuMemcpyDtoDAsync_v2, deviceAt(b, 0), src->deviceAt(sb, 0), want.byteSize(), stream_);
    }
    KILN_CU(cuStreamSynchronize, stream_); // before either executable's next step
  }

  double compileSeconds() const override { return seconds_; }
  std::string backend() const override { return "cuda"; }

  /// Mean GPU time per launch, from events recorded around each launch.
  std::optional<StepProfile> profile() const override {
    if (!profile_)
      return std::nullopt;
    StepProfile p;
    p.clock = "GPU events, one launch at a time";
    p.runs = runs_;
    double runs = std::max(1, runs_);
    for (size_t l = 0; l < prog_.launches.size(); ++l) {
      const CudaKernel &k = prog_.kernels.at(prog_.launches[l].kernel);
      p.launches.push_back(
          {k.name, launchMs_[l] / runs, "blocks " + std::to_string(k.grid[0] * k.grid[1] * k.grid[2])});
    }
    return p;
  }

protected:
  void runStep() override {
    beginStep();
    while (!inFlight_.empty())
      waitStep();
  }

  void beginStep() override {
    requireDevice();
    if (inFlight_.size() == 2)
      waitStep(); // its slot's read-back is about to be reused
    // The slot's previous step has been waited for (at most two are in flight),
    // so its staging, device inputs and read-back are free.
    Slot &s = slots_[next_];
    // Inputs not written for this step keep the value the last step read
    // (gathered ones: the same rows).
    in_->begin(next_, last_);
    if (in_->bytes()) {
      in_->upload(next_, upload_);
      KILN_CU(cuEventRecord, s.uploaded, upload_);
      KILN_CU(cuStreamWaitEvent, stream_, s.uploaded, 0);
    }
    if (useGraph_)
      KILN_CU(cuGraphLaunch, s.exec, stream_);
    else
      enqueue(next_);
    KILN_CU(cuEventRecord, s.computed, stream_);
    inFlight_.push_back(next_);
    last_ = next_;
    next_ ^= 1;
  }

  void waitStep() override {
    if (inFlight_.empty())
      return;
    int slot = inFlight_.front();
    inFlight_.pop_front();
    KILN_CU(cuEventSynchronize, slots_[slot].computed);
    current_ = slot;
    if (profile_) {
      const std::vector<CUevent> &m = slots_[slot].marks;
      for (size_t l = 0; l + 1 < m.size(); ++l) {
        float ms = 0;
        KILN_CU(cuEventElapsedTime_v2, &ms, m[l], m[l + 1]);
        launchMs_[l] += ms;
      }
      ++runs_;
    }
    for (size_t i = 0; i < prog_.program.checks.size(); ++i) {
      const LabelCheck &c = prog_.program.checks[i];
      const auto *st = reinterpret_cast<const int64_t *>(slots_[slot].back + 16 * i);
      KILN_RUNTIME_CHECK(st[0] == 0) << c.op << ": label " << st[1] << " of row " << st[0] - 1 << " is outside [0,"
                                     << c.classes << ")";
    }
  }

  HostTensor stepOutput(size_t i) const override {
    requireDevice();
    const Program &p = prog_.program;
    KILN_USER_CHECK(i < p.outputs.size()) << "output " << i << " requested, the graph has " << p.outputs.size();
    HostTensor t(p.buffers[p.outputs[i]].type);
    std::memcpy(t.bytes(), slots_[current_].back + outputAt_[i], t.byteSize());
    return t;
  }

private:
  /// Module, functions, arena, slots, streams, launch arguments.
  void load(const std::vector<char> &image) {
    const Program &p = prog_.program;
    KILN_CU(cuModuleLoadData, &module_, image.data());
    KILN_CU(cuMemAlloc_v2, &arena_, layout_.bytes);
    in_ = std::make_unique<SlotInputs>(p);
    in_->load(module_);
    // A slot's read-back: 16 bytes of status per label check, then the outputs.
    size_t backBytes = aligned256(16 * p.checks.size());
    for (int o : p.outputs) {
      outputAt_.push_back(static_cast<int64_t>(backBytes));
      backBytes += aligned256(p.buffers[o].type.byteSize());
    }
    const size_t inputBytes = in_->bytes(), slotBytes = inputBytes + backBytes;
    KILN_CU(cuMemAllocHost_v2, reinterpret_cast<void **>(&pinned_), std::max<size_t>(2 * slotBytes, 1));
    std::memset(pinned_, 0, 2 * slotBytes); // zero inputs and outputs, as the zeroed arena
    if (inputBytes)
      KILN_CU(cuMemAlloc_v2, &inputMemory_, 2 * inputBytes);
    KILN_CU(cuStreamCreate, &stream_, CU_STREAM_NON_BLOCKING);
    KILN_CU(cuStreamCreate, &upload_, CU_STREAM_NON_BLOCKING);
    KILN_CU(cuMemsetD8Async, arena_, 0, layout_.bytes, stream_);
    KILN_CU(cuStreamSynchronize, stream_);
    for (int i = 0; i < 2; ++i) {
      Slot &s = slots_[i];
      in_->attach(i, pinned_ + i * slotBytes, inputMemory_ ? inputMemory_ + i * inputBytes : 0);
      s.back = pinned_ + i * slotBytes + inputBytes;
      KILN_CU(cuEventCreate, &s.uploaded, CU_EVENT_DISABLE_TIMING);
      KILN_CU(cuEventCreate, &s.computed, CU_EVENT_DISABLE_TIMING);
      if (profile_) {
        s.marks.assign(prog_.launches.size() + 1, nullptr);
        for (CUevent &e : s.marks)
          KILN_CU(cuEventCreate, &e, CU_EVENT_DEFAULT);
      }
      s.steps.resize(prog_.launches.size());
      for (size_t l = 0; l < prog_.launches.size(); ++l) {
        Step &st = s.steps[l];
        st.kernel = &prog_.kernels.at(prog_.launches[l].kernel);
        KILN_CU(cuModuleGetFunction, &st.fn, module_, st.kernel->name.c_str());
        for (int b : prog_.launches[l].args)
          st.args.push_back(deviceAt(b, i));
        for (CUdeviceptr &a : st.args)
          st.params.push_back(&a);
      }
    }
    launchMs_.assign(prog_.launches.size(), 0.0);
    useGraph_ = enabled("KILN_CUDA_GRAPH") && !profile_;
    if (useGraph_) // each slot's step, captured once
      for (int i = 0; i < 2; ++i) {
        KILN_CU(cuStreamBeginCapture_v2, stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        enqueue(i);
        KILN_CU(cuStreamEndCapture, stream_, &slots_[i].graph);
        KILN_CU(cuGraphInstantiateWithFlags, &slots_[i].exec, slots_[i].graph, 0);
      }
  }

  /// One step's work in slot `slot` on the compute stream (the inputs are there).
  void enqueue(int slot) {
    const Program &p = prog_.program;
    Slot &s = slots_[slot];
    for (const LabelCheck &c : p.checks)
      KILN_CU(cuMemsetD8Async, deviceAt(c.buffer, slot), 0, 2 * sizeof(int64_t), stream_);
    for (size_t l = 0; l < s.steps.size(); ++l) {
      Step &st = s.steps[l];
      const CudaKernel &k = *st.kernel;
      if (profile_)
        KILN_CU(cuEventRecord, s.marks[l], stream_);
      if (!pdl_ || l == 0) {
        KILN_CU(cuLaunchKernel, st.fn, static_cast<unsigned>(k.grid[0]), static_cast<unsigned>(k.grid[1]),
                static_cast<unsigned>(k.grid[2]), k.block[0], k.block[1], k.block[2], k.sharedBytes, stream_,
                st.params.data(), nullptr);
        continue;
      }
      // A programmatic dependent of the kernel before it: scheduled while that
      // one runs, its threads wait in kiln_pdl_enter until it has finished.
      CUlaunchAttribute attr{};
      attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      attr.value.programmaticStreamSerializationAllowed = 1;
      CUlaunchConfig c{};
      c.gridDimX = static_cast<unsigned>(k.grid[0]);
      c.gridDimY = static_cast<unsigned>(k.grid[1]);
      c.gridDimZ = static_cast<unsigned>(k.grid[2]);
      c.blockDimX = k.block[0];
      c.blockDimY = k.block[1];
      c.blockDimZ = k.block[2];
      c.sharedMemBytes = k.sharedBytes;
      c.hStream = stream_;
      c.attrs = &attr;
      c.numAttrs = 1;
      checkCu(driver().cuLaunchKernelEx(&c, st.fn, st.params.data(), nullptr),
              "cuLaunchKernelEx (a programmatic dependent launch; KILN_CUDA_PDL=0 launches without)");
    }
    if (profile_)
      KILN_CU(cuEventRecord, s.marks.back(), stream_);
    for (size_t i = 0; i < p.checks.size(); ++i)
      KILN_CU(cuMemcpyDtoHAsync_v2, s.back + 16 * i, deviceAt(p.checks[i].buffer, slot), 2 * sizeof(int64_t),
              stream_);
    for (size_t i = 0; i < p.outputs.size(); ++i)
      if (size_t n = p.buffers[p.outputs[i]].type.byteSize())
        KILN_CU(cuMemcpyDtoHAsync_v2, s.back + outputAt_[i], deviceAt(p.outputs[i], slot), n, stream_);
    for (auto [t, v] : p.assigns)
      KILN_CU(cuMemcpyDtoDAsync_v2, deviceAt(t, slot), deviceAt(v, slot), p.buffers[t].type.byteSize(), stream_);
  }

  /// Staging of input `b` for the next step, once the copy that last read it
  /// (the upload of a step still in flight) is done.
  void *nextInput(int b) {
    KILN_CU(cuEventSynchronize, slots_[next_].uploaded);
    return in_->write(b, next_);
  }
  /// Waits for every step in flight (they stay to be waited for).
  void drain() const {
    if (!inFlight_.empty())
      KILN_CU(cuEventSynchronize, slots_[inFlight_.back()].computed);
  }

  int signatureBuffer(const std::string &name) const {
    requireDevice();
    int b = prog_.program.findBuffer(name);
    KILN_USER_CHECK(b >= 0) << "graph @" << graph_->name() << " has no input, parameter or state '" << name << "'";
    return b;
  }
  /// Throws for a compile-only executable; makes the device's context current on this thread.
  void requireDevice() const {
    KILN_RUNTIME_CHECK(!compileOnly_) << "cuda backend: graph @" << graph_->name()
                                      << " was compiled only (no device); it cannot run";
    currentDevice();
  }
  bool isInput(int b) const { return in_->has(b); }
  /// Where buffer `b` (or the input it views) is on the device in slot `slot`.
  CUdeviceptr deviceAt(int b, int slot) const {
    int s = prog_.program.storageOf(b);
    return isInput(s) ? in_->device(s, slot) : arena_ + layout_.offset[b];
  }

  std::unique_ptr<Graph> graph_;
  CudaProgram prog_;
  ArenaPlan layout_;
  bool compileOnly_ = false, useGraph_ = false, pdl_ = false, profile_ = false;
  int runs_ = 0;                   ///< profiled steps waited for
  std::vector<double> launchMs_;   ///< profiling: each launch's milliseconds, summed over runs_
  std::string deviceName_;
  CUmodule module_ = nullptr;
  CUdeviceptr arena_ = 0, inputMemory_ = 0; ///< the arena; both slots' device inputs
  std::byte *pinned_ = nullptr;     ///< both slots' staging and read-back
  std::unique_ptr<SlotInputs> in_;  ///< both slots' inputs (with a device)
  std::vector<int64_t> outputAt_;   ///< offset of output i in a slot's read-back
  Slot slots_[2];
  int next_ = 0, last_ = -1;        ///< the slot of the next step, of the last one begun
  int current_ = 0;                 ///< the slot whose outputs output() gives
  std::deque<int> inFlight_;        ///< slots of the steps begun and not waited for, oldest first
  CUstream stream_ = nullptr, upload_ = nullptr;
  double seconds_ = 0;
};

} // namespace
} // namespace cuda

bool hasCudaBackend() { return cuda::tryDriver() != nullptr; }

std::unique_ptr<Executable> makeCudaExecutable(const Graph &g, const CompileOptions &opt) {
  if (!opt.compileOnly) {
    std::string why;
    KILN_RUNTIME_CHECK(cuda::tryDriver(&why)) << "backend 'cuda' is not available: " << why;
  }
  return std::make_unique<cuda::CudaExecutable>(prepareGraph(g, opt), opt);
}

} // namespace kiln
