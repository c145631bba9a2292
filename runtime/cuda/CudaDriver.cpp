// runtime/cuda/CudaDriver.cpp - dlopen of libcuda.so.1, entry points, device 0's context.
#include "runtime/cuda/CudaDriver.h"

#include "ir/Error.h"
#include "runtime/cuda/Emulator.h"

#include <dlfcn.h>

#include <mutex>

namespace kiln::cuda {

namespace {

struct Loaded {
  DriverApi api;
  bool ok = false, emulated = false;
  std::string why;
};

std::string cuErrorText(const DriverApi &api, CUresult r) {
  const char *name = nullptr, *text = nullptr;
  if (api.cuGetErrorName)
    api.cuGetErrorName(r, &name);
  if (api.cuGetErrorString)
    api.cuGetErrorString(r, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(static_cast<int>(r));
  if (text)
    s.append(" (").append(text).append(")");
  return s;
}

Loaded load() {
  Loaded l;
  if (emulatorRequested()) {
    l.api = emulatorDriver();
    l.ok = l.emulated = true;
    return l;
  }
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *err = dlerror();
    l.why = std::string("no CUDA driver: cannot load libcuda.so.1 (") + (err ? err : "unknown reason") + ")";
    return l;
  }
#define KILN_CUDA_FN(name)                                                                         \
  l.api.name = reinterpret_cast<decltype(l.api.name)>(dlsym(lib, #name));                          \
  if (!l.api.name) {                                                                               \
    l.why = "the CUDA driver is too old: libcuda.so.1 lacks " #name;                               \
    return l;                                                                                      \
  }
#define KILN_CUDA_OPTIONAL_FN(name) l.api.name = reinterpret_cast<decltype(l.api.name)>(dlsym(lib, #name));
#include "runtime/cuda/DriverFunctions.def"
  CUresult r = l.api.cuInit(0);
  if (r != CUDA_SUCCESS) {
    l.why = "no usable GPU: cuInit failed with " + cuErrorText(l.api, r);
    return l;
  }
  int count = 0;
  r = l.api.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    l.why = "no GPU: the CUDA driver sees no device";
    return l;
  }
  l.ok = true;
  return l;
}

const Loaded &loaded() {
  static const Loaded l = load();
  return l;
}

} // namespace

const DriverApi *tryDriver(std::string *why) {
  const Loaded &l = loaded();
  if (!l.ok && why)
    *why = l.why;
  return l.ok ? &l.api : nullptr;
}

bool driverIsEmulator() { return loaded().emulated; }

const DriverApi &driver() {
  std::string why;
  const DriverApi *api = tryDriver(&why);
  KILN_RUNTIME_CHECK(api) << "backend 'cuda' is not available: " << why;
  return *api;
}

void checkCu(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return;
  KILN_RUNTIME_ERROR() << "cuda: " << what << " failed: " << cuErrorText(loaded().api, r);
}

const DeviceInfo &currentDevice() {
  static std::once_flag once;
  static DeviceInfo info;
  std::call_once(once, [] {
    KILN_CU(cuDeviceGet, &info.device, 0);
    KILN_CU(cuDevicePrimaryCtxRetain, &info.context, info.device);
    int major = 0, minor = 0;
    KILN_CU(cuDeviceGetAttribute, &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, info.device);
    KILN_CU(cuDeviceGetAttribute, &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, info.device);
    KILN_CU(cuDeviceGetAttribute, &info.smCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, info.device);
    info.arch = "sm_" + std::to_string(major * 10 + minor);
    char name[256] = {};
    KILN_CU(cuDeviceGetName, name, sizeof name, info.device);
    info.name = name;
  });
  KILN_CU(cuCtxSetCurrent, info.context);
  return info;
}

} // namespace kiln::cuda
