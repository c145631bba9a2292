// tests/runtime/CudaEmulatorTest.cpp - the CUDA emulator's driver on hand-written kernels.
//
// Each kernel is compiled for the emulator (runtime/cuda/Emulator.h) and
// launched through the emulated driver's entry points, as CudaExecutable
// launches kernels: shared memory with barriers, a barrier left out (in both
// orders of threads), the two orders of blocks, warp shuffles,
// multi-dimensional blocks and grids, what a GPU leaves undefined (a barrier
// some threads never reach, a shuffle with an exited lane, a launch shape over
// the limits), fresh memory that is not zero, graph capture and replay,
// streams that run their work only when waited for, events ordering two
// streams and timing work, a launch failure reported at the wait, a
// programmatic dependent launch that must wait for the kernel before it, a
// CUBIN and a host-compiler error.
// Expected values are computed here by hand.
#include "ir/Error.h"
#include "runtime/KernelCache.h"

#if KILN_WITH_CUDA
#include "runtime/cuda/Emulator.h"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <vector>

namespace kiln::test {
namespace {

#if KILN_WITH_CUDA

const cuda::DriverApi &api() { return cuda::emulatorDriver(); }

std::string detail(CUresult r) {
  const char *s = nullptr;
  api().cuGetErrorString(r, &s);
  return s ? s : "";
}

#define EXPECT_CU_OK(call)                                                                         \
  do {                                                                                             \
    CUresult r_ = (call);                                                                          \
    EXPECT_EQ(r_, CUDA_SUCCESS) << #call << ": " << detail(r_);                                    \
  } while (0)

/// One kernel, compiled for the emulator and loaded as a module.
class Kernel {
public:
  Kernel(const std::string &name, const std::string &source) {
    cuda::CudaKernel k;
    k.name = name;
    k.source = source;
    bool cached = false;
    image_ = cuda::emulatorImage(cuda::makeTranslationUnit({k}), {k}, "emulator test", KernelCache(""), &cached);
    EXPECT_CU_OK(api().cuModuleLoadData(&module_, image_.data()));
    EXPECT_CU_OK(api().cuModuleGetFunction(&fn_, module_, name.c_str()));
  }
  ~Kernel() { api().cuModuleUnload(module_); }

  CUresult launch(std::array<unsigned, 3> grid, std::array<unsigned, 3> block, std::vector<CUdeviceptr> args,
                  CUstream stream = nullptr) {
    std::vector<void *> params;
    for (CUdeviceptr &a : args)
      params.push_back(&a);
    return api().cuLaunchKernel(fn_, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, stream,
                                params.data(), nullptr);
  }

  /// cuLaunchKernelEx with the attributes `attrs`.
  CUresult launchEx(std::array<unsigned, 3> grid, std::array<unsigned, 3> block, std::vector<CUdeviceptr> args,
                    CUstream stream, std::vector<CUlaunchAttribute> attrs) {
    std::vector<void *> params;
    for (CUdeviceptr &a : args)
      params.push_back(&a);
    CUlaunchConfig c{};
    c.gridDimX = grid[0], c.gridDimY = grid[1], c.gridDimZ = grid[2];
    c.blockDimX = block[0], c.blockDimY = block[1], c.blockDimZ = block[2];
    c.hStream = stream;
    c.attrs = attrs.data();
    c.numAttrs = static_cast<unsigned>(attrs.size());
    return api().cuLaunchKernelEx(&c, fn_, params.data(), nullptr);
  }

private:
  std::vector<char> image_;
  CUmodule module_ = nullptr;
  CUfunction fn_ = nullptr;
};

/// Device memory holding `n` values of T.
template <class T> class Buffer {
public:
  explicit Buffer(size_t n, T fill = T()) : n_(n) {
    EXPECT_CU_OK(api().cuMemAlloc_v2(&ptr_, n * sizeof(T)));
    set(std::vector<T>(n, fill));
  }
  ~Buffer() { api().cuMemFree_v2(ptr_); }
  void set(const std::vector<T> &v) { EXPECT_CU_OK(api().cuMemcpyHtoD_v2(ptr_, v.data(), n_ * sizeof(T))); }
  std::vector<T> get() const {
    std::vector<T> v(n_);
    EXPECT_CU_OK(api().cuMemcpyDtoH_v2(v.data(), ptr_, n_ * sizeof(T)));
    return v;
  }
  CUdeviceptr ptr() const { return ptr_; }

private:
  size_t n_;
  CUdeviceptr ptr_ = 0;
};

std::string reverseKernel(bool barrier) {
  return std::string("extern \"C\" __global__ void reverse(const float *in, float *out) {\n"
                     "  __shared__ float s[256];\n"
                     "  unsigned t = threadIdx.x, base = blockIdx.x * 256;\n"
                     "  s[t] = in[base + t];\n") +
         (barrier ? "  __syncthreads();\n" : "") + "  out[base + t] = s[255 - t];\n}\n";
}

TEST(CudaEmulator, SharedMemoryIsSharedWithinABlockAndBarriersOrderIt) {
  std::vector<float> in(3 * 256);
  std::iota(in.begin(), in.end(), 1.0f);
  Buffer<float> x(in.size()), y(in.size());
  x.set(in);
  Kernel k("reverse", reverseKernel(true));
  EXPECT_CU_OK(k.launch({3, 1, 1}, {256, 1, 1}, {x.ptr(), y.ptr()}));
  std::vector<float> out = y.get();
  for (size_t b = 0; b < 3; ++b)
    for (size_t t = 0; t < 256; ++t)
      ASSERT_EQ(out[b * 256 + t], in[b * 256 + 255 - t]) << "block " << b << " thread " << t;
}

/// Launches in `order` while it lives, then in KILN_CUDA_EMULATOR_ORDER's again.
class InOrder {
public:
  explicit InOrder(cuda::emulator::Order order) { cuda::emulator::setOrder(order); }
  ~InOrder() { cuda::emulator::setOrder(std::nullopt); }
  InOrder(const InOrder &) = delete;
  InOrder &operator=(const InOrder &) = delete;
};

TEST(CudaEmulator, AMissingBarrierShowsAsWrongValuesInOneOrderOrTheOther) {
  // Without the barrier, thread t reads s[255 - t] whether or not that thread
  // has written it, as a GPU race may. Forward (threads from the first),
  // thread 0 reads s[255] before thread 255 writes it; reverse (from the
  // last), thread 255 reads s[0] before thread 0 writes it.
  std::vector<float> in(256);
  std::iota(in.begin(), in.end(), 1.0f);
  Buffer<float> x(in.size()), y(in.size());
  x.set(in);
  Kernel k("reverse", reverseKernel(false));
  for (auto order : {cuda::emulator::Order::Forward, cuda::emulator::Order::Reverse}) {
    InOrder scope(order);
    bool forward = order == cuda::emulator::Order::Forward;
    Buffer<float> fresh(in.size(), -1.0f);
    std::vector<float> once = in; // new values: s[] holds what the launch before left there
    for (float &v : once)
      v += forward ? 1000.0f : 2000.0f;
    x.set(once);
    EXPECT_CU_OK(k.launch({1, 1, 1}, {256, 1, 1}, {x.ptr(), fresh.ptr()}));
    std::vector<float> out = fresh.get();
    unsigned early = forward ? 0 : 255; // the thread that runs first
    EXPECT_NE(out[early], once[255 - early])
        << (forward ? "forward" : "reverse") << ": thread " << early << " read a value not yet written";
    unsigned late = 255 - early; // its partner ran after it had written
    EXPECT_EQ(out[late], once[early]) << (forward ? "forward" : "reverse");
  }
}

TEST(CudaEmulator, BlocksRunFromTheLastOrInReverseFromTheFirst) {
  // Block b adds what block b - 1 stored, with no launch between them: a
  // race. Run from the last, each block finds its predecessor's 0; run from
  // the first, each finds the sum of those before it.
  std::string src = "extern \"C\" __global__ void chain(const float *in, float *out) {\n"
                    "  unsigned b = blockIdx.x;\n"
                    "  out[b] = in[b] + (b > 0 ? out[b - 1] : 0.0f);\n}\n";
  Kernel k("chain", src);
  std::vector<float> in{1, 2, 3, 4, 5};
  Buffer<float> x(in.size());
  x.set(in);
  {
    InOrder scope(cuda::emulator::Order::Forward);
    Buffer<float> y(in.size(), 0.0f);
    EXPECT_CU_OK(k.launch({5, 1, 1}, {1, 1, 1}, {x.ptr(), y.ptr()}));
    EXPECT_EQ(y.get(), (std::vector<float>{1, 2, 3, 4, 5}));
  }
  {
    InOrder scope(cuda::emulator::Order::Reverse);
    Buffer<float> y(in.size(), 0.0f);
    EXPECT_CU_OK(k.launch({5, 1, 1}, {1, 1, 1}, {x.ptr(), y.ptr()}));
    EXPECT_EQ(y.get(), (std::vector<float>{1, 3, 6, 10, 15}));
  }
}

TEST(CudaEmulator, AnOrderTheEnvironmentDoesNotNameFailsTheLaunch) {
  const char *was = std::getenv("KILN_CUDA_EMULATOR_ORDER");
  std::string saved = was ? was : "";
  setenv("KILN_CUDA_EMULATOR_ORDER", "sideways", 1);
  cuda::emulator::setOrder(std::nullopt);
  Buffer<float> x(256), y(256);
  Kernel k("reverse", reverseKernel(true));
  CUresult r = k.launch({1, 1, 1}, {256, 1, 1}, {x.ptr(), y.ptr()});
  std::string why = detail(r);
  if (was)
    setenv("KILN_CUDA_EMULATOR_ORDER", saved.c_str(), 1);
  else
    unsetenv("KILN_CUDA_EMULATOR_ORDER");
  EXPECT_NE(r, CUDA_SUCCESS);
  EXPECT_NE(why.find("KILN_CUDA_EMULATOR_ORDER='sideways' names no order"), std::string::npos) << why;
}

TEST(CudaEmulator, WarpShufflesExchangeWithinEachWarp) {
  Kernel k("warpsum", "extern \"C\" __global__ void warpsum(const float *in, float *out) {\n"
                      "  unsigned i = blockIdx.x * 64 + threadIdx.x;\n"
                      "  float v = in[i];\n"
                      "  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);\n"
                      "  out[i] = v;\n}\n");
  std::vector<float> in(128);
  std::iota(in.begin(), in.end(), 0.0f);
  Buffer<float> x(in.size()), y(in.size());
  x.set(in);
  EXPECT_CU_OK(k.launch({2, 1, 1}, {64, 1, 1}, {x.ptr(), y.ptr()}));
  std::vector<float> out = y.get();
  for (size_t i = 0; i < in.size(); ++i) {
    size_t first = i / 32 * 32; // the sum of 32 consecutive integers from `first`
    ASSERT_EQ(out[i], static_cast<float>(32 * first + 496)) << "lane " << i;
  }
}

TEST(CudaEmulator, FreshDeviceMemoryHoldsNaNsNotZeros) {
  // A GPU's cuMemAlloc leaves memory as it was; here every byte is 0xff (a
  // float NaN, an integer -1), so a kernel that reads what nothing wrote
  // shows it rather than finding a lucky zero.
  for (size_t n : {size_t{1}, size_t{1000}, size_t{1} << 20}) {
    CUdeviceptr p = 0;
    EXPECT_CU_OK(api().cuMemAlloc_v2(&p, n * sizeof(float)));
    std::vector<float> v(n);
    EXPECT_CU_OK(api().cuMemcpyDtoH_v2(v.data(), p, n * sizeof(float)));
    EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](float x) { return std::isnan(x); })) << n << " floats";
    std::vector<int32_t> i(n);
    EXPECT_CU_OK(api().cuMemcpyDtoH_v2(i.data(), p, n * sizeof(int32_t)));
    EXPECT_EQ(std::count(i.begin(), i.end(), -1), static_cast<long>(n)) << n << " ints";
    EXPECT_CU_OK(api().cuMemFree_v2(p));
  }
}

TEST(CudaEmulator, ThreadAndBlockIndicesInThreeDimensions) {
  Kernel k("where", "extern \"C\" __global__ void where(int *out) {\n"
                    "  unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);\n"
                    "  unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);\n"
                    "  out[b * 16 + t] = 1000 * (int)b + 100 * (int)threadIdx.z + 10 * (int)threadIdx.y + "
                    "(int)threadIdx.x;\n}\n");
  Buffer<int> y(6 * 16, -1);
  EXPECT_CU_OK(k.launch({1, 2, 3}, {4, 2, 2}, {y.ptr()}));
  std::vector<int> out = y.get();
  for (int b = 0; b < 6; ++b)
    for (int z = 0; z < 2; ++z)
      for (int yy = 0; yy < 2; ++yy)
        for (int x = 0; x < 4; ++x)
          ASSERT_EQ(out[b * 16 + x + 4 * (yy + 2 * z)], 1000 * b + 100 * z + 10 * yy + x);
}

TEST(CudaEmulator, ABarrierThatSomeThreadsNeverReachIsAnError) {
  Kernel k("early_exit", "extern \"C\" __global__ void early_exit(float *out) {\n"
                         "  if (threadIdx.x < 16) return;\n"
                         "  __syncthreads();\n"
                         "  out[threadIdx.x] = 1;\n}\n");
  Buffer<float> y(64);
  CUresult r = k.launch({1, 1, 1}, {64, 1, 1}, {y.ptr()});
  EXPECT_EQ(r, CUDA_ERROR_LAUNCH_FAILED);
  std::string why = detail(r);
  EXPECT_NE(why.find("kernel early_exit, block (0,0,0)"), std::string::npos) << why;
  EXPECT_NE(why.find("48 wait at __syncthreads, 0 at a warp shuffle, 16 have exited"), std::string::npos) << why;
}

TEST(CudaEmulator, AShuffleWithAnExitedLaneIsAnError) {
  Kernel k("lonely", "extern \"C\" __global__ void lonely(float *out) {\n"
                     "  if (threadIdx.x == 3) return;\n"
                     "  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);\n}\n");
  Buffer<float> y(32);
  CUresult r = k.launch({1, 1, 1}, {32, 1, 1}, {y.ptr()});
  EXPECT_EQ(r, CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_NE(detail(r).find("31 at a warp shuffle, 1 have exited"), std::string::npos) << detail(r);
}

TEST(CudaEmulator, LaunchShapesOverTheLimitsAreRejected) {
  Kernel k("nothing", "extern \"C\" __global__ void nothing(float *out) { out[0] = 0; }\n");
  Buffer<float> y(1);
  CUresult big = k.launch({1, 1, 1}, {2048, 1, 1}, {y.ptr()});
  EXPECT_EQ(big, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(detail(big).find("nothing: launch shape grid [1,1,1] block [2048,1,1]"), std::string::npos)
      << detail(big);
  EXPECT_EQ(k.launch({1, 70000, 1}, {32, 1, 1}, {y.ptr()}), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(k.launch({0, 1, 1}, {32, 1, 1}, {y.ptr()}), CUDA_ERROR_INVALID_VALUE);
  EXPECT_CU_OK(k.launch({1, 1, 1}, {1024, 1, 1}, {y.ptr()}));
}

TEST(CudaEmulator, AGraphReplaysItsCaptureReadingHostMemoryAtEachReplay) {
  Kernel k("twice", "extern \"C\" __global__ void twice(const float *in, float *out) {\n"
                    "  out[threadIdx.x] = 2 * in[threadIdx.x];\n}\n");
  Buffer<float> x(8), y(8), other(8, 100.0f);
  void *host = nullptr;
  EXPECT_CU_OK(api().cuMemAllocHost_v2(&host, 8 * sizeof(float)));
  auto *h = static_cast<float *>(host);
  std::fill(h, h + 8, 1.0f);
  CUstream s = nullptr;
  EXPECT_CU_OK(api().cuStreamCreate(&s, 0));
  EXPECT_CU_OK(api().cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  EXPECT_CU_OK(api().cuMemcpyHtoDAsync_v2(x.ptr(), host, 8 * sizeof(float), s));
  CUdeviceptr in = x.ptr();
  EXPECT_CU_OK(k.launch({1, 1, 1}, {8, 1, 1}, {in, y.ptr()}, s));
  CUgraph g = nullptr;
  CUgraphExec e = nullptr;
  EXPECT_CU_OK(api().cuStreamEndCapture(s, &g));
  EXPECT_EQ(y.get()[0], 0.0f) << "a captured stream runs nothing";
  EXPECT_CU_OK(api().cuGraphInstantiateWithFlags(&e, g, 0));
  for (float v : {3.0f, 5.0f}) {
    std::fill(h, h + 8, v);
    EXPECT_CU_OK(api().cuGraphLaunch(e, s));
    EXPECT_CU_OK(api().cuStreamSynchronize(s));
    EXPECT_EQ(y.get()[7], 2 * v);
  }
  EXPECT_EQ(other.get()[0], 100.0f);
  api().cuGraphExecDestroy(e);
  api().cuGraphDestroy(g);
  api().cuStreamDestroy_v2(s);
  api().cuMemFreeHost(host);
}

/// Pinned host memory of `n` floats.
class Pinned {
public:
  explicit Pinned(size_t n) {
    EXPECT_CU_OK(api().cuMemAllocHost_v2(&p_, n * sizeof(float)));
    std::fill(data(), data() + n, 0.0f);
  }
  ~Pinned() { api().cuMemFreeHost(p_); }
  float *data() { return static_cast<float *>(p_); }

private:
  void *p_ = nullptr;
};

/// A created stream.
class Stream {
public:
  Stream() { EXPECT_CU_OK(api().cuStreamCreate(&s_, CU_STREAM_NON_BLOCKING)); }
  ~Stream() { api().cuStreamDestroy_v2(s_); }
  operator CUstream() const { return s_; }

private:
  CUstream s_ = nullptr;
};

/// A created event.
class Event {
public:
  explicit Event(unsigned flags = CU_EVENT_DISABLE_TIMING) { EXPECT_CU_OK(api().cuEventCreate(&e_, flags)); }
  ~Event() { api().cuEventDestroy_v2(e_); }
  operator CUevent() const { return e_; }

private:
  CUevent e_ = nullptr;
};

const char *kTwice = "extern \"C\" __global__ void twice(const float *in, float *out) {\n"
                     "  out[threadIdx.x] = 2 * in[threadIdx.x];\n}\n";

TEST(CudaEmulator, AStreamRunsItsWorkWhenTheHostWaitsForIt) {
  // As late as a GPU may: a copy reads its host memory and writes its
  // destination when the stream is waited for, not when it is enqueued.
  Kernel k("twice", kTwice);
  Buffer<float> x(8), y(8);
  Pinned up(8), down(8);
  Stream s;
  std::fill(up.data(), up.data() + 8, 1.0f);
  EXPECT_CU_OK(api().cuMemcpyHtoDAsync_v2(x.ptr(), up.data(), 8 * sizeof(float), s));
  EXPECT_CU_OK(k.launch({1, 1, 1}, {8, 1, 1}, {x.ptr(), y.ptr()}, s));
  EXPECT_CU_OK(api().cuMemcpyDtoHAsync_v2(down.data(), y.ptr(), 8 * sizeof(float), s));
  EXPECT_EQ(x.get()[0], 0.0f) << "the upload ran before the stream was waited for";
  std::fill(up.data(), up.data() + 8, 4.0f); // a race on a GPU; here the copy sees it
  EXPECT_EQ(down.data()[0], 0.0f);
  EXPECT_CU_OK(api().cuStreamSynchronize(s));
  EXPECT_EQ(down.data()[0], 8.0f);
  EXPECT_EQ(down.data()[7], 8.0f);
}

TEST(CudaEmulator, AnEventOrdersOneStreamAfterAnother) {
  Kernel k("twice", kTwice);
  Buffer<float> x(8), y(8), z(8);
  Pinned up(8);
  Stream copy, compute;
  Event copied;
  std::fill(up.data(), up.data() + 8, 3.0f);
  EXPECT_CU_OK(api().cuMemcpyHtoDAsync_v2(x.ptr(), up.data(), 8 * sizeof(float), copy));
  EXPECT_CU_OK(api().cuEventRecord(copied, copy));
  EXPECT_CU_OK(api().cuMemsetD8Async(x.ptr(), 0, 8 * sizeof(float), copy)); // after the event
  EXPECT_CU_OK(api().cuStreamWaitEvent(compute, copied, 0));
  EXPECT_CU_OK(k.launch({1, 1, 1}, {8, 1, 1}, {x.ptr(), y.ptr()}, compute));
  EXPECT_CU_OK(api().cuStreamSynchronize(compute)); // runs the copy up to the event, then the kernel
  EXPECT_EQ(y.get()[5], 6.0f);
  EXPECT_EQ(x.get()[5], 3.0f) << "work after the event ran";
  EXPECT_CU_OK(api().cuStreamSynchronize(copy));
  EXPECT_EQ(x.get()[5], 0.0f);
  // Without the wait the kernel runs first and reads what the copy has not written.
  std::fill(up.data(), up.data() + 8, 5.0f);
  EXPECT_CU_OK(api().cuMemcpyHtoDAsync_v2(x.ptr(), up.data(), 8 * sizeof(float), copy));
  EXPECT_CU_OK(k.launch({1, 1, 1}, {8, 1, 1}, {x.ptr(), z.ptr()}, compute));
  EXPECT_CU_OK(api().cuStreamSynchronize(compute));
  EXPECT_EQ(z.get()[5], 0.0f);
  EXPECT_CU_OK(api().cuEventSynchronize(copied)); // recorded before the second copy: nothing to run
  EXPECT_EQ(x.get()[5], 0.0f);
  EXPECT_CU_OK(api().cuStreamSynchronize(copy));
  EXPECT_EQ(x.get()[5], 5.0f);
}

// An event keeps the time its stream reached it: cuEventElapsedTime gives the
// time of the work between two events once both are reached (it runs while the
// host waits, so that wait bounds it), CUDA_ERROR_NOT_READY before, and an
// error for an event created without timing or never recorded, as on a GPU.
TEST(CudaEmulator, EventsTimeTheWorkBetweenThem) {
  Kernel k("twice", kTwice);
  Buffer<float> x(256), y(256);
  Stream s;
  Event before(CU_EVENT_DEFAULT), after(CU_EVENT_DEFAULT), never(CU_EVENT_DEFAULT), untimed;
  float ms = -1;
  EXPECT_CU_OK(api().cuEventRecord(before, s));
  for (int i = 0; i < 50; ++i)
    EXPECT_CU_OK(k.launch({1, 1, 1}, {256, 1, 1}, {x.ptr(), y.ptr()}, s));
  EXPECT_CU_OK(api().cuEventRecord(after, s));
  EXPECT_CU_OK(api().cuEventRecord(untimed, s));
  EXPECT_EQ(api().cuEventElapsedTime_v2(&ms, before, after), CUDA_ERROR_NOT_READY);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_CU_OK(api().cuEventSynchronize(after));
  double waited = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_CU_OK(api().cuEventElapsedTime_v2(&ms, before, after));
  EXPECT_GT(ms, 0.0f);
  EXPECT_LE(ms, waited);
  CUresult r = api().cuEventElapsedTime_v2(&ms, before, never);
  EXPECT_EQ(r, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_NE(detail(r).find("never recorded"), std::string::npos) << detail(r);
  EXPECT_CU_OK(api().cuStreamSynchronize(s));
  r = api().cuEventElapsedTime_v2(&ms, before, untimed);
  EXPECT_EQ(r, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_NE(detail(r).find("CU_EVENT_DISABLE_TIMING"), std::string::npos) << detail(r);
  // Recorded on the null stream, an event is reached at once.
  EXPECT_CU_OK(api().cuEventRecord(never, nullptr));
  EXPECT_CU_OK(api().cuEventElapsedTime_v2(&ms, after, never));
  EXPECT_GE(ms, 0.0f);
}

TEST(CudaEmulator, AFailedLaunchIsReportedWhenItsStreamIsWaitedFor) {
  Kernel k("early_exit", "extern \"C\" __global__ void early_exit(float *out) {\n"
                         "  if (threadIdx.x < 16) return;\n"
                         "  __syncthreads();\n"
                         "  out[threadIdx.x] = 1;\n}\n");
  Buffer<float> y(64, 7.0f);
  Stream s;
  EXPECT_CU_OK(k.launch({1, 1, 1}, {64, 1, 1}, {y.ptr()}, s)); // as on a GPU: the launch is only queued
  EXPECT_CU_OK(api().cuMemsetD8Async(y.ptr(), 0, 64 * sizeof(float), s));
  CUresult r = api().cuStreamSynchronize(s);
  EXPECT_EQ(r, CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_NE(detail(r).find("kernel early_exit, block (0,0,0)"), std::string::npos) << detail(r);
  EXPECT_EQ(y.get()[0], 7.0f) << "the stream's work after the failure ran";
  EXPECT_EQ(api().cuStreamSynchronize(s), CUDA_ERROR_LAUNCH_FAILED) << "the failure is sticky";
}

// A programmatic dependent launch may start before the kernel before it has
// finished; only a kernel whose every thread waits for that one first
// (kiln_pdl_enter: griddepcontrol.wait) may be launched so. The emulator
// runs it in stream order and checks the wait; other attributes it rejects.
TEST(CudaEmulator, AProgrammaticLaunchMustWaitForTheKernelBeforeIt) {
  CUlaunchAttribute pdl{};
  pdl.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  pdl.value.programmaticStreamSerializationAllowed = 1;
  Kernel first("fill", "extern \"C\" __global__ void fill(float *out) { out[threadIdx.x] = threadIdx.x; }\n");
  Kernel waits("twice", "extern \"C\" __global__ void twice(float *out) {\n  kiln_pdl_enter();\n"
                        "  out[threadIdx.x] *= 2;\n}\n");
  Kernel racy("racy", "extern \"C\" __global__ void racy(float *out) {\n  if (threadIdx.x) kiln_pdl_enter();\n"
                      "  out[threadIdx.x] *= 2;\n}\n");
  Buffer<float> y(64, 7.0f);
  {
    Stream s;
    EXPECT_CU_OK(first.launch({1, 1, 1}, {64, 1, 1}, {y.ptr()}, s));
    EXPECT_CU_OK(waits.launchEx({1, 1, 1}, {64, 1, 1}, {y.ptr()}, s, {pdl}));
    EXPECT_CU_OK(api().cuStreamSynchronize(s));
    std::vector<float> out = y.get();
    for (unsigned t = 0; t < 64; ++t)
      ASSERT_EQ(out[t], 2.0f * t) << "thread " << t;
  }
  {
    Stream s;
    EXPECT_CU_OK(racy.launchEx({2, 1, 1}, {64, 1, 1}, {y.ptr()}, s, {pdl}));
    CUresult r = api().cuStreamSynchronize(s);
    EXPECT_EQ(r, CUDA_ERROR_LAUNCH_FAILED);
    EXPECT_NE(detail(r).find("racy: launched as a programmatic dependent of the kernel before it, but 2 of its 128 "
                             "threads never waited"),
              std::string::npos)
        << detail(r);
  }
  {
    Stream s; // the same kernel as a plain launch needs no wait
    EXPECT_CU_OK(racy.launchEx({1, 1, 1}, {64, 1, 1}, {y.ptr()}, s, {}));
    EXPECT_CU_OK(api().cuStreamSynchronize(s));
  }
  CUlaunchAttribute other{};
  other.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  other.value.cooperative = 1;
  CUresult r = waits.launchEx({1, 1, 1}, {64, 1, 1}, {y.ptr()}, nullptr, {other});
  EXPECT_EQ(r, CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_NE(detail(r).find("programmatic stream serialization"), std::string::npos) << detail(r);
}

TEST(CudaEmulator, ACubinIsNotAnEmulatorImage) {
  std::vector<char> elf = {'\x7f', 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CUmodule m = nullptr;
  CUresult r = api().cuModuleLoadData(&m, elf.data());
  EXPECT_EQ(r, CUDA_ERROR_INVALID_IMAGE);
  EXPECT_NE(detail(r).find("not an emulator image"), std::string::npos) << detail(r);
}

TEST(CudaEmulator, AHostCompilerErrorNamesTheUnitAndShowsTheLog) {
  cuda::CudaKernel k;
  k.name = "broken";
  k.source = "extern \"C\" __global__ void broken(float *p) { p[0] = undefined_y; }\n";
  bool cached = false;
  try {
    cuda::emulatorImage(cuda::makeTranslationUnit({k}), {k}, "unit_x", KernelCache(""), &cached);
    ADD_FAILURE() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cuda emulator: the host compiler"), std::string::npos) << m;
    EXPECT_NE(m.find("failed on the kernels of unit_x"), std::string::npos) << m;
    EXPECT_NE(m.find("undefined_y"), std::string::npos) << m;
  }
}

#else

TEST(CudaEmulator, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (no cuda.h)"; }

#endif

} // namespace
} // namespace kiln::test
