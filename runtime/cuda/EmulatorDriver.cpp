// runtime/cuda/EmulatorDriver.cpp - the driver API of runtime/cuda/DriverFunctions.def on the host.
//
// Device memory is host memory (a CUdeviceptr is the address). Work on the
// null stream runs at once; work on a created stream waits in its queue until
// the host waits for it (cuStreamSynchronize, cuEventSynchronize) or another
// stream waits for an event of it (cuStreamWaitEvent), which is as late as a
// GPU may run it: host memory read or written by a copy before the program
// has waited for it shows the race a GPU would have. A launch that fails
// reports its error when the stream is waited for, as on a GPU, and the
// stream's later work is dropped. A captured stream records its work and a
// graph replays the record (kernel parameters copied at capture, as CUDA
// does), an event keeps the time its stream reached it (cuEventElapsedTime
// gives the host time the emulated work took), a module is an
// emulator image's shared library (dlopen of a uniquely named file, removed
// once loaded), and a launch runs the grid (EmulatorBlocks.cpp) after
// checking the launch shape against the GPU's limits. A failure's detail is
// what cuGetErrorString returns for it, so KILN_CU's message names the cause.
#include "runtime/cuda/Emulator.h"

#include "ir/Error.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace kiln::cuda {

namespace {

thread_local std::string lastDetail;
thread_local CUresult lastError = CUDA_SUCCESS;

CUresult fail(CUresult r, std::string detail) {
  lastError = r;
  lastDetail = std::move(detail);
  return r;
}

using Op = std::function<CUresult()>;

struct Stream {
  bool capturing = false;
  std::vector<Op> record; ///< work recorded while capturing
  std::deque<Op> queue;   ///< work enqueued and not yet run
  uint64_t issued = 0;    ///< work enqueued so far
  uint64_t done = 0;      ///< work run (or dropped after a failure) so far
  bool running = false;
  CUresult error = CUDA_SUCCESS; ///< the first failure; later work is dropped
  std::string detail;
};
/// When a recorded event was reached: set by the stream's work at the event's
/// point (cuEventElapsedTime reads it).
struct Stamp {
  bool reached = false;
  std::chrono::steady_clock::time_point at;
};
/// A recorded event: the point `at` in the work of `stream` (null: complete),
/// and the stamp its recording set there (null: never recorded).
struct Event {
  Stream *stream = nullptr;
  uint64_t at = 0;
  std::shared_ptr<Stamp> stamp;
  bool timing = true; ///< created without CU_EVENT_DISABLE_TIMING
};
struct GraphOps {
  std::vector<Op> ops;
};
struct Module {
  void *lib = nullptr;
  std::map<std::string, emulator::Function> functions;
};

std::mutex memoryMutex;
std::set<uintptr_t> &allocations() {
  static std::set<uintptr_t> s;
  return s;
}
/// Streams not yet destroyed (an event may outlive its stream).
std::set<Stream *> &liveStreams() {
  static std::set<Stream *> s;
  return s;
}

/// Runs the work of `st` up to (not including) its `until`-th item; returns the
/// stream's first failure, repeating its detail as the current one.
CUresult runUntil(Stream *st, uint64_t until) {
  if (st->running && st->done < until)
    return fail(CUDA_ERROR_INVALID_VALUE, "streams wait for each other's events in a cycle");
  st->running = true;
  while (st->done < until) {
    Op op = std::move(st->queue.front());
    st->queue.pop_front();
    ++st->done;
    if (st->error != CUDA_SUCCESS)
      continue; // dropped: the stream failed earlier
    if (CUresult r = op(); r != CUDA_SUCCESS) {
      st->error = r;
      st->detail = lastDetail;
    }
  }
  st->running = false;
  return st->error == CUDA_SUCCESS ? CUDA_SUCCESS : fail(st->error, st->detail);
}

/// Runs `op` now on the null stream, records it on a stream being captured,
/// and queues it on any other stream.
CUresult enqueue(CUstream s, Op op) {
  auto *st = reinterpret_cast<Stream *>(s);
  if (!st)
    return op();
  if (st->capturing) {
    st->record.push_back(std::move(op));
    return CUDA_SUCCESS;
  }
  st->queue.push_back(std::move(op));
  ++st->issued;
  return CUDA_SUCCESS;
}

void *allocate(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void *p = std::aligned_alloc(256, rounded);
  if (p) {
    std::memset(p, 0xff, rounded); // not zero, as a GPU's fresh memory need not be: NaNs, -1s
    std::lock_guard lock(memoryMutex);
    allocations().insert(reinterpret_cast<uintptr_t>(p));
  }
  return p;
}

CUresult release(void *p, const char *what) {
  std::lock_guard lock(memoryMutex);
  if (!allocations().erase(reinterpret_cast<uintptr_t>(p)))
    return fail(CUDA_ERROR_INVALID_VALUE, std::string(what) + " of a pointer the emulator did not allocate");
  std::free(p);
  return CUDA_SUCCESS;
}

const char *errorName(CUresult r) {
  switch (r) {
  case CUDA_SUCCESS: return "CUDA_SUCCESS";
  case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
  case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
  case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
  case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
  case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
  case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
  default: return nullptr;
  }
}

// ---- the entry points ----

CUresult init(unsigned) { return CUDA_SUCCESS; }

CUresult getErrorName(CUresult r, const char **s) {
  *s = errorName(r);
  return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult getErrorString(CUresult r, const char **s) {
  if (r == lastError && !lastDetail.empty())
    *s = lastDetail.c_str();
  else
    *s = r == CUDA_SUCCESS ? "no error" : "emulated driver error";
  return CUDA_SUCCESS;
}

CUresult deviceGetCount(int *n) {
  *n = 1;
  return CUDA_SUCCESS;
}

CUresult deviceGet(CUdevice *d, int ordinal) {
  if (ordinal != 0)
    return fail(CUDA_ERROR_INVALID_VALUE, "the emulator has one device (0)");
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult deviceGetName(char *name, int len, CUdevice) {
  std::snprintf(name, static_cast<size_t>(len), "%s", "kiln CUDA emulator (host CPU, as sm_90 with 132 SMs)");
  return CUDA_SUCCESS;
}

CUresult deviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) {
  switch (a) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; return CUDA_SUCCESS;
  default: return fail(CUDA_ERROR_INVALID_VALUE, "the emulator does not report device attribute " + std::to_string(a));
  }
}

int contextTag = 0;
CUresult primaryCtxRetain(CUcontext *c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(&contextTag);
  return CUDA_SUCCESS;
}
CUresult primaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }
CUresult ctxSetCurrent(CUcontext) { return CUDA_SUCCESS; }

CUresult moduleLoadData(CUmodule *m, const void *image) {
  uint64_t size = 0;
  const char *lib = emulator::imageLibrary(image, &size);
  if (!lib)
    return fail(CUDA_ERROR_INVALID_IMAGE, "not an emulator image (a CUBIN needs a GPU)");
  // A unique name per load: the dynamic loader would return an earlier
  // library loaded under the same name.
  static std::atomic<unsigned long> counter{0};
  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               ("kiln-emu-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".so");
  {
    std::ofstream out(file, std::ios::binary);
    out.write(lib, static_cast<std::streamsize>(size));
    if (!out)
      return fail(CUDA_ERROR_INVALID_IMAGE, "cannot write " + file.string());
  }
  void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (!h) {
    const char *e = dlerror();
    return fail(CUDA_ERROR_INVALID_IMAGE, std::string("cannot load the kernels: ") + (e ? e : "dlopen failed"));
  }
  using Bind = void (*)(const emulator::HostHooks *);
  using Current = emulator::ThreadState **(*)();
  using Kernels = const emulator::KernelEntry *(*)(int *);
  auto bind = reinterpret_cast<Bind>(dlsym(h, "kiln_emu_bind"));
  auto current = reinterpret_cast<Current>(dlsym(h, "kiln_emu_current"));
  auto kernels = reinterpret_cast<Kernels>(dlsym(h, "kiln_emu_kernels"));
  if (!bind || !current || !kernels) {
    dlclose(h);
    return fail(CUDA_ERROR_INVALID_IMAGE, "the image's library lacks the emulator's entry points");
  }
  bind(&emulator::hostHooks());
  auto *mod = new Module{h, {}};
  int n = 0;
  const emulator::KernelEntry *table = kernels(&n);
  for (int i = 0; i < n; ++i)
    mod->functions[table[i].name] = {table[i], current()};
  *m = reinterpret_cast<CUmodule>(mod);
  return CUDA_SUCCESS;
}

CUresult moduleUnload(CUmodule m) {
  auto *mod = reinterpret_cast<Module *>(m);
  if (!mod)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload of a null module");
  dlclose(mod->lib);
  delete mod;
  return CUDA_SUCCESS;
}

CUresult moduleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  auto *mod = reinterpret_cast<Module *>(m);
  if (!mod)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction in a null module");
  auto it = mod->functions.find(name);
  if (it == mod->functions.end())
    return fail(CUDA_ERROR_NOT_FOUND, std::string("the module has no kernel ") + name);
  *f = reinterpret_cast<CUfunction>(&it->second);
  return CUDA_SUCCESS;
}

CUresult memAlloc(CUdeviceptr *p, size_t bytes) {
  void *q = allocate(bytes);
  if (!q)
    return fail(CUDA_ERROR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
  *p = reinterpret_cast<CUdeviceptr>(q);
  return CUDA_SUCCESS;
}
CUresult memFree(CUdeviceptr p) { return release(reinterpret_cast<void *>(p), "cuMemFree"); }
CUresult memAllocHost(void **p, size_t bytes) {
  *p = allocate(bytes);
  return *p ? CUDA_SUCCESS : fail(CUDA_ERROR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
}
CUresult memFreeHost(void *p) { return release(p, "cuMemFreeHost"); }

void *at(CUdeviceptr p) { return reinterpret_cast<void *>(p); }

CUresult memcpyHtoD(CUdeviceptr d, const void *s, size_t n) {
  std::memcpy(at(d), s, n);
  return CUDA_SUCCESS;
}
CUresult memcpyDtoH(void *d, CUdeviceptr s, size_t n) {
  std::memcpy(d, at(s), n);
  return CUDA_SUCCESS;
}
CUresult memcpyHtoDAsync(CUdeviceptr d, const void *s, size_t n, CUstream st) {
  return enqueue(st, [=] { return memcpyHtoD(d, s, n); });
}
CUresult memcpyDtoHAsync(void *d, CUdeviceptr s, size_t n, CUstream st) {
  return enqueue(st, [=] { return memcpyDtoH(d, s, n); });
}
CUresult memcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) {
  return enqueue(st, [=] {
    std::memmove(at(d), at(s), n);
    return CUDA_SUCCESS;
  });
}
CUresult memsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream st) {
  return enqueue(st, [=] {
    std::memset(at(d), v, n);
    return CUDA_SUCCESS;
  });
}

CUresult streamCreate(CUstream *s, unsigned) {
  auto *st = new Stream;
  liveStreams().insert(st);
  *s = reinterpret_cast<CUstream>(st);
  return CUDA_SUCCESS;
}
CUresult streamDestroy(CUstream s) {
  auto *st = reinterpret_cast<Stream *>(s);
  if (!liveStreams().erase(st))
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy of a stream that does not exist");
  runUntil(st, st->issued); // the queued work completes, as on a GPU
  delete st;
  return CUDA_SUCCESS;
}
CUresult streamSynchronize(CUstream s) {
  auto *st = reinterpret_cast<Stream *>(s);
  if (!st)
    return CUDA_SUCCESS;
  if (st->capturing)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize on a stream being captured");
  return runUntil(st, st->issued);
}

CUresult eventCreate(CUevent *e, unsigned flags) {
  auto *ev = new Event;
  ev->timing = !(flags & CU_EVENT_DISABLE_TIMING);
  *e = reinterpret_cast<CUevent>(ev);
  return CUDA_SUCCESS;
}
CUresult eventDestroy(CUevent e) {
  delete reinterpret_cast<Event *>(e);
  return CUDA_SUCCESS;
}
CUresult eventRecord(CUevent e, CUstream s) {
  auto *ev = reinterpret_cast<Event *>(e);
  auto *st = reinterpret_cast<Stream *>(s);
  if (!ev)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord of a null event");
  if (st && st->capturing)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "the emulator does not capture events");
  auto stamp = std::make_shared<Stamp>();
  auto reached = [stamp] {
    stamp->at = std::chrono::steady_clock::now();
    stamp->reached = true;
    return CUDA_SUCCESS;
  };
  enqueue(s, reached); // runs now on the null stream
  ev->stream = st;
  ev->at = st ? st->issued : 0;
  ev->stamp = stamp;
  return CUDA_SUCCESS;
}
/// Milliseconds between the points two recorded events were reached (both
/// must have been: CUDA_ERROR_NOT_READY otherwise, as on a GPU).
CUresult eventElapsedTime(float *ms, CUevent start, CUevent end) {
  auto *a = reinterpret_cast<Event *>(start), *b = reinterpret_cast<Event *>(end);
  if (!ms || !a || !b)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuEventElapsedTime with a null result or event");
  if (!a->timing || !b->timing)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime of an event created with CU_EVENT_DISABLE_TIMING");
  if (!a->stamp || !b->stamp)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime of an event never recorded");
  if (!a->stamp->reached || !b->stamp->reached)
    return fail(CUDA_ERROR_NOT_READY, "cuEventElapsedTime of an event whose work has not completed");
  *ms = std::chrono::duration<float, std::milli>(b->stamp->at - a->stamp->at).count();
  return CUDA_SUCCESS;
}
/// Runs the work before a recorded event (an event never recorded, or of a
/// destroyed stream, is complete).
CUresult reach(const Event &ev) {
  if (!ev.stream || !liveStreams().count(ev.stream))
    return CUDA_SUCCESS;
  return runUntil(ev.stream, ev.at);
}
CUresult eventSynchronize(CUevent e) {
  auto *ev = reinterpret_cast<Event *>(e);
  return ev ? reach(*ev) : fail(CUDA_ERROR_INVALID_HANDLE, "cuEventSynchronize of a null event");
}
CUresult streamWaitEvent(CUstream s, CUevent e, unsigned) {
  auto *ev = reinterpret_cast<Event *>(e);
  auto *st = reinterpret_cast<Stream *>(s);
  if (!ev)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent on a null event");
  if (st && st->capturing)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "the emulator does not capture event waits");
  Event point = *ev; // the event as recorded now; a later record does not move this wait
  return enqueue(s, [point] { return reach(point); });
}

CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                unsigned shared, CUstream s, void **params, void **extra, bool programmatic) {
  auto *fn = reinterpret_cast<const emulator::Function *>(f);
  std::string name = fn ? fn->kernel.name : "(null)";
  if (!fn)
    return fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel of a null function");
  if (extra)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": the emulator takes kernel parameters, not `extra`");
  if (!gx || !gy || !gz || !bx || !by || !bz || gy > 65535 || gz > 65535 || gx > 0x7fffffffu || bx > 1024 ||
      by > 1024 || bz > 64 || static_cast<unsigned long>(bx) * by * bz > 1024 || shared > 48 * 1024)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": launch shape grid [" + std::to_string(gx) + "," +
                                              std::to_string(gy) + "," + std::to_string(gz) + "] block [" +
                                              std::to_string(bx) + "," + std::to_string(by) + "," +
                                              std::to_string(bz) + "], " + std::to_string(shared) +
                                              " bytes of dynamic shared memory, is over the GPU's limits");
  if (fn->kernel.args && !params)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": no kernel parameters");
  // The parameters' values, copied now (a captured launch keeps them).
  std::vector<std::vector<char>> values(fn->kernel.args);
  for (unsigned i = 0; i < fn->kernel.args; ++i) {
    const char *v = static_cast<const char *>(params[i]);
    values[i].assign(v, v + fn->kernel.argBytes[i]);
  }
  std::array<unsigned, 3> grid{gx, gy, gz}, block{bx, by, bz};
  return enqueue(s, [fn, values, grid, block, programmatic]() mutable {
    std::vector<void *> p;
    for (auto &v : values)
      p.push_back(v.data());
    std::string why = emulator::launch(*fn, grid.data(), block.data(), p.data(), programmatic);
    return why.empty() ? CUDA_SUCCESS : fail(CUDA_ERROR_LAUNCH_FAILED, why);
  });
}

CUresult launchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                      unsigned shared, CUstream s, void **params, void **extra) {
  return launch(f, gx, gy, gz, bx, by, bz, shared, s, params, extra, false);
}

// Of the launch attributes, the emulator takes programmatic stream
// serialization (a programmatic dependent launch): it runs the kernel in
// stream order all the same, and checks that the kernel waits for the grid.
CUresult launchKernelEx(const CUlaunchConfig *c, CUfunction f, void **params, void **extra) {
  if (!c)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx without a launch configuration");
  if (c->numAttrs && !c->attrs)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: numAttrs without attrs");
  bool programmatic = false;
  for (unsigned i = 0; i < c->numAttrs; ++i) {
    if (c->attrs[i].id != CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION)
      return fail(CUDA_ERROR_NOT_SUPPORTED, "cuLaunchKernelEx: the emulator takes no launch attribute but "
                                            "programmatic stream serialization, got attribute " +
                                                std::to_string(static_cast<int>(c->attrs[i].id)));
    programmatic = c->attrs[i].value.programmaticStreamSerializationAllowed != 0;
  }
  return launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ,
                c->sharedMemBytes, c->hStream, params, extra, programmatic);
}

CUresult streamBeginCapture(CUstream s, CUstreamCaptureMode) {
  auto *st = reinterpret_cast<Stream *>(s);
  if (!st || st->capturing)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: no stream, or one already being captured");
  st->capturing = true;
  st->record.clear();
  return CUDA_SUCCESS;
}
CUresult streamEndCapture(CUstream s, CUgraph *g) {
  auto *st = reinterpret_cast<Stream *>(s);
  if (!st || !st->capturing)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamEndCapture on a stream not being captured");
  st->capturing = false;
  *g = reinterpret_cast<CUgraph>(new GraphOps{std::move(st->record)});
  st->record.clear();
  return CUDA_SUCCESS;
}
CUresult graphInstantiate(CUgraphExec *e, CUgraph g, unsigned long long) {
  *e = reinterpret_cast<CUgraphExec>(new GraphOps(*reinterpret_cast<GraphOps *>(g)));
  return CUDA_SUCCESS;
}
CUresult graphLaunch(CUgraphExec e, CUstream s) {
  auto *ops = reinterpret_cast<GraphOps *>(e);
  return enqueue(s, [ops] {
    for (Op &op : ops->ops)
      if (CUresult r = op(); r != CUDA_SUCCESS)
        return r;
    return CUDA_SUCCESS;
  });
}
CUresult graphExecDestroy(CUgraphExec e) {
  delete reinterpret_cast<GraphOps *>(e);
  return CUDA_SUCCESS;
}
CUresult graphDestroy(CUgraph g) {
  delete reinterpret_cast<GraphOps *>(g);
  return CUDA_SUCCESS;
}

DriverApi makeApi() {
  DriverApi a;
  a.cuInit = &init;
  a.cuGetErrorName = &getErrorName;
  a.cuGetErrorString = &getErrorString;
  a.cuDeviceGetCount = &deviceGetCount;
  a.cuDeviceGet = &deviceGet;
  a.cuDeviceGetName = &deviceGetName;
  a.cuDeviceGetAttribute = &deviceGetAttribute;
  a.cuDevicePrimaryCtxRetain = &primaryCtxRetain;
  a.cuDevicePrimaryCtxRelease_v2 = &primaryCtxRelease;
  a.cuCtxSetCurrent = &ctxSetCurrent;
  a.cuModuleLoadData = &moduleLoadData;
  a.cuModuleUnload = &moduleUnload;
  a.cuModuleGetFunction = &moduleGetFunction;
  a.cuMemAlloc_v2 = &memAlloc;
  a.cuMemFree_v2 = &memFree;
  a.cuMemAllocHost_v2 = &memAllocHost;
  a.cuMemFreeHost = &memFreeHost;
  a.cuMemcpyHtoD_v2 = &memcpyHtoD;
  a.cuMemcpyDtoH_v2 = &memcpyDtoH;
  a.cuMemcpyHtoDAsync_v2 = &memcpyHtoDAsync;
  a.cuMemcpyDtoHAsync_v2 = &memcpyDtoHAsync;
  a.cuMemcpyDtoDAsync_v2 = &memcpyDtoDAsync;
  a.cuMemsetD8Async = &memsetD8Async;
  a.cuStreamCreate = &streamCreate;
  a.cuStreamDestroy_v2 = &streamDestroy;
  a.cuStreamSynchronize = &streamSynchronize;
  a.cuStreamWaitEvent = &streamWaitEvent;
  a.cuEventCreate = &eventCreate;
  a.cuEventDestroy_v2 = &eventDestroy;
  a.cuEventRecord = &eventRecord;
  a.cuEventSynchronize = &eventSynchronize;
  a.cuEventElapsedTime_v2 = &eventElapsedTime;
  a.cuLaunchKernel = &launchKernel;
  a.cuLaunchKernelEx = &launchKernelEx;
  a.cuStreamBeginCapture_v2 = &streamBeginCapture;
  a.cuStreamEndCapture = &streamEndCapture;
  a.cuGraphInstantiateWithFlags = &graphInstantiate;
  a.cuGraphLaunch = &graphLaunch;
  a.cuGraphExecDestroy = &graphExecDestroy;
  a.cuGraphDestroy = &graphDestroy;
#define KILN_CUDA_FN(name) KILN_INTERNAL_CHECK(a.name) << "the CUDA emulator lacks " #name;
#include "runtime/cuda/DriverFunctions.def"
  return a;
}

} // namespace

const DriverApi &emulatorDriver() {
  static const DriverApi api = makeApi();
  return api;
}

} // namespace kiln::cuda
