// runtime/cuda/CudaExecutable.cpp - the CUDA backend behind the Executable interface.
//
// compile: backend passes -> lowerCuda (one CUDA kernel per launch) -> one
// translation unit -> CUBIN for the device's arch (disk cache) -> module.
// Memory: one device arena holds every buffer (parameters and optimizer state
// stay resident); inputs are staged in pinned host memory and copied
// asynchronously at the start of each step. run(): the whole step (input
// copies, status resets, kernels, the read-back of label statuses and of
// outputs up to 1 MB into pinned memory, assigns) is captured once as a
// CUDA graph and replayed; KILN_CUDA_GRAPH=0 launches on
// the stream instead. Kernels use no atomics, so a step is bitwise
// reproducible. Nothing is allocated or compiled in run().
#include "codegen/cuda/CudaLower.h"
#include "ir/Error.h"
#include "runtime/Backends.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDriver.h"
#include "runtime/cuda/Emulator.h"
#include "runtime/ArenaPlan.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
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

bool graphsEnabled() {
  const char *e = std::getenv("KILN_CUDA_GRAPH");
  return !(e && std::string(e) == "0");
}

/// Outputs up to this size are copied back within each step (see load()).
constexpr size_t kMirroredOutputBytes = size_t{1} << 20;

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
    CudaTranslationUnit tu = makeTranslationUnit(prog_.kernels);
    if (!opt.dumpDir.empty())
      dumpCudaProgram(prog_, tu, arch, opt.dumpDir);
    bool fromCache = false;
    // The emulated driver (KILN_CUDA_EMULATOR) loads host code instead of a CUBIN.
    std::vector<char> cubin =
        driverIsEmulator() && !compileOnly_
            ? emulatorImage(tu, prog_.kernels, graph_->name(), KernelCache::fromEnvironment(), &fromCache)
            : compileCubin(tu, arch, graph_->name(), KernelCache::fromEnvironment(), &fromCache);
    Program &p = prog_.program;
    layout_ = planArena(p, /*alignment=*/256);
    if (!compileOnly_)
      load(cubin);
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opt.verbose) {
      std::ostream &os = opt.log ? *opt.log : std::cerr;
      os << "cuda backend: " << prog_.launches.size() << " launches (" << p.launches.size() << " kernels, "
         << prog_.groups.size() << " launch groups), " << tu.kernelLines.size() << " kernels for " << arch
         << " (" << (driverIsEmulator() && !compileOnly_ ? "emulator library " : "cubin ")
         << (fromCache ? "from cache" : "compiled") << "), arena " << layout_.bytes << " bytes";
      if (!compileOnly_)
        os << ", device " << deviceName_ << (useGraph_ ? ", graph replay" : ", stream launches");
      os << ", " << seconds_ << " s\n";
    }
  }

  ~CudaExecutable() override {
    if (compileOnly_ || !tryDriver())
      return;
    const DriverApi &d = driver();
    d.cuCtxSetCurrent(currentDevice().context);
    if (exec_)
      d.cuGraphExecDestroy(exec_);
    if (cuGraph_)
      d.cuGraphDestroy(cuGraph_);
    if (stream_)
      d.cuStreamSynchronize(stream_), d.cuStreamDestroy_v2(stream_);
    if (module_)
      d.cuModuleUnload(module_);
    if (arena_)
      d.cuMemFree_v2(arena_);
    if (host_)
      d.cuMemFreeHost(host_);
    if (outputs_)
      d.cuMemFreeHost(outputs_);
  }

  const Graph &graph() const override { return *graph_; }

  void set(const std::string &name, const HostTensor &t) override {
    int b = signatureBuffer(name);
    const TensorType &want = prog_.program.buffers[b].type;
    KILN_USER_CHECK(want == t.type()) << "'" << name << "' is " << typeString(want) << ", got " << typeString(t.type());
    if (prog_.program.buffers[b].role == BufferRole::Input)
      std::memcpy(hostAt(b), t.bytes(), t.byteSize());
    else
      KILN_CU(cuMemcpyHtoD_v2, deviceAt(b), t.bytes(), t.byteSize());
  }

  HostTensor get(const std::string &name) const override {
    int b = signatureBuffer(name);
    HostTensor t(prog_.program.buffers[b].type);
    if (prog_.program.buffers[b].role == BufferRole::Input)
      std::memcpy(t.bytes(), hostAt(b), t.byteSize());
    else
      KILN_CU(cuMemcpyDtoH_v2, t.bytes(), deviceAt(b), t.byteSize());
    return t;
  }

  void *inputData(const std::string &name) override {
    int b = signatureBuffer(name);
    return prog_.program.buffers[b].role == BufferRole::Input ? hostAt(b) : nullptr;
  }

  void run() override {
    requireDevice();
    const Program &p = prog_.program;
    if (useGraph_) {
      if (!exec_) {
        KILN_CU(cuStreamBeginCapture_v2, stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        enqueue();
        KILN_CU(cuStreamEndCapture, stream_, &cuGraph_);
        KILN_CU(cuGraphInstantiateWithFlags, &exec_, cuGraph_, 0);
      }
      KILN_CU(cuGraphLaunch, exec_, stream_);
    } else {
      enqueue();
    }
    KILN_CU(cuStreamSynchronize, stream_);
    for (const LabelCheck &c : p.checks) {
      const auto *st = static_cast<const int64_t *>(hostAt(c.buffer));
      KILN_RUNTIME_CHECK(st[0] == 0) << c.op << ": label " << st[1] << " of row " << st[0] - 1 << " is outside [0,"
                                     << c.classes << ")";
    }
  }

  HostTensor output(size_t i) const override {
    requireDevice();
    const Program &p = prog_.program;
    KILN_USER_CHECK(i < p.outputs.size()) << "output " << i << " requested, the graph has " << p.outputs.size();
    HostTensor t(p.buffers[p.outputs[i]].type);
    if (outputAt_[i] >= 0) // copied into pinned memory at the end of the step
      std::memcpy(t.bytes(), static_cast<std::byte *>(outputs_) + outputAt_[i], t.byteSize());
    else
      KILN_CU(cuMemcpyDtoH_v2, t.bytes(), deviceAt(p.outputs[i]), t.byteSize());
    return t;
  }

  double compileSeconds() const override { return seconds_; }
  std::string backend() const override { return "cuda"; }

private:
  /// Module, functions, arena, pinned staging, stream, launch arguments.
  void load(const std::vector<char> &cubin) {
    const Program &p = prog_.program;
    KILN_CU(cuModuleLoadData, &module_, cubin.data());
    KILN_CU(cuMemAlloc_v2, &arena_, layout_.bytes);
    // Pinned host mirror of the arena's layout: staging for inputs and the
    // read-back of label statuses (other places are unused).
    KILN_CU(cuMemAllocHost_v2, &host_, layout_.bytes);
    std::memset(host_, 0, layout_.bytes);
    // Small outputs (a loss, an accuracy, predictions) come back within the
    // step, into pinned memory of their own: output() then needs no transfer.
    outputAt_.assign(p.outputs.size(), -1);
    size_t outputBytes = 0;
    for (size_t i = 0; i < p.outputs.size(); ++i)
      if (size_t n = p.buffers[p.outputs[i]].type.byteSize(); n > 0 && n <= kMirroredOutputBytes) {
        outputAt_[i] = static_cast<int64_t>(outputBytes);
        outputBytes += (n + 255) / 256 * 256;
      }
    if (outputBytes) {
      KILN_CU(cuMemAllocHost_v2, &outputs_, outputBytes);
      std::memset(outputs_, 0, outputBytes); // as the zeroed arena, before the first step
    }
    KILN_CU(cuStreamCreate, &stream_, CU_STREAM_NON_BLOCKING);
    KILN_CU(cuMemsetD8Async, arena_, 0, layout_.bytes, stream_);
    KILN_CU(cuStreamSynchronize, stream_);
    steps_.resize(prog_.launches.size());
    for (size_t i = 0; i < prog_.launches.size(); ++i) {
      Step &s = steps_[i];
      s.kernel = &prog_.kernels.at(prog_.launches[i].kernel);
      KILN_CU(cuModuleGetFunction, &s.fn, module_, s.kernel->name.c_str());
      for (int b : prog_.launches[i].args)
        s.args.push_back(deviceAt(b));
      for (CUdeviceptr &a : s.args)
        s.params.push_back(&a);
    }
    useGraph_ = graphsEnabled();
  }

  /// One step's work on the stream.
  void enqueue() {
    const Program &p = prog_.program;
    for (size_t b = 0; b < p.buffers.size(); ++b)
      if (p.buffers[b].role == BufferRole::Input && p.buffers[b].type.byteSize())
        KILN_CU(cuMemcpyHtoDAsync_v2, deviceAt(b), hostAt(b), p.buffers[b].type.byteSize(), stream_);
    for (const LabelCheck &c : p.checks)
      KILN_CU(cuMemsetD8Async, deviceAt(c.buffer), 0, 2 * sizeof(int64_t), stream_);
    for (Step &s : steps_) {
      const CudaKernel &k = *s.kernel;
      KILN_CU(cuLaunchKernel, s.fn, static_cast<unsigned>(k.grid[0]), static_cast<unsigned>(k.grid[1]),
              static_cast<unsigned>(k.grid[2]), k.block[0], k.block[1], k.block[2], k.sharedBytes, stream_,
              s.params.data(), nullptr);
    }
    for (const LabelCheck &c : p.checks)
      KILN_CU(cuMemcpyDtoHAsync_v2, hostAt(c.buffer), deviceAt(c.buffer), 2 * sizeof(int64_t), stream_);
    for (size_t i = 0; i < p.outputs.size(); ++i)
      if (outputAt_[i] >= 0)
        KILN_CU(cuMemcpyDtoHAsync_v2, static_cast<std::byte *>(outputs_) + outputAt_[i], deviceAt(p.outputs[i]),
                p.buffers[p.outputs[i]].type.byteSize(), stream_);
    for (auto [t, v] : p.assigns)
      KILN_CU(cuMemcpyDtoDAsync_v2, deviceAt(t), deviceAt(v), p.buffers[t].type.byteSize(), stream_);
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
  CUdeviceptr deviceAt(int b) const { return arena_ + layout_.offset[b]; }
  void *hostAt(int b) const { return static_cast<std::byte *>(host_) + layout_.offset[b]; }

  std::unique_ptr<Graph> graph_;
  CudaProgram prog_;
  ArenaPlan layout_;
  bool compileOnly_ = false, useGraph_ = false;
  std::string deviceName_;
  CUmodule module_ = nullptr;
  CUdeviceptr arena_ = 0;
  void *host_ = nullptr;
  void *outputs_ = nullptr;          ///< pinned copies of the small outputs
  std::vector<int64_t> outputAt_;    ///< offset of output i in outputs_, or -1 (fetched on demand)
  CUstream stream_ = nullptr;
  CUgraph cuGraph_ = nullptr;
  CUgraphExec exec_ = nullptr;
  std::vector<Step> steps_;
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
