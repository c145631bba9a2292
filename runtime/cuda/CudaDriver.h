// runtime/cuda/CudaDriver.h - the CUDA driver API, loaded at run time with dlopen.
//
// kiln never links libcuda: every binary starts on a machine without a GPU
// driver, and only code that needs a device asks for one. The driver library
// (libcuda.so.1) is opened on first use and each entry point is looked up by
// the versioned symbol that cuda.h maps its name to (cuMemAlloc_v2, ...).
// cuda.h is included for types and enums only. Calls go through KILN_CU,
// which turns a failure into a RuntimeError naming the call and the driver's
// error name and text.
#ifndef KILN_RUNTIME_CUDA_CUDADRIVER_H
#define KILN_RUNTIME_CUDA_CUDADRIVER_H

#include <cuda.h>

#include <string>

namespace kiln::cuda {

/// Entry points of the driver API that kiln uses.
struct DriverApi {
#define KILN_CUDA_FN(name) decltype(&::name) name = nullptr;
#define KILN_CUDA_OPTIONAL_FN(name) decltype(&::name) name = nullptr;
#include "runtime/cuda/DriverFunctions.def"
};

/// The loaded driver after a successful cuInit(0), or null; `why` receives one
/// sentence saying why there is none (no libcuda.so.1, cuInit failed, no device).
const DriverApi *tryDriver(std::string *why = nullptr);

/// The loaded driver, or a RuntimeError with the sentence of tryDriver.
const DriverApi &driver();

/// True when the driver is the CUDA emulator (KILN_CUDA_EMULATOR was set
/// when the driver was first asked for; runtime/cuda/Emulator.h).
bool driverIsEmulator();

/// Throws RuntimeError "what: NAME (text)" when `r` is not CUDA_SUCCESS.
void checkCu(CUresult r, const char *what);

/// The primary context of device 0, made current on the calling thread; its
/// compute capability as "sm_XY" and its name.
struct DeviceInfo {
  CUdevice device = 0;
  CUcontext context = nullptr;
  std::string arch; ///< "sm_90" on H100/H200
  std::string name;
  int smCount = 0;
};
const DeviceInfo &currentDevice();

} // namespace kiln::cuda

/// Calls driver function `fn` with the arguments and checks its result.
#define KILN_CU(fn, ...) ::kiln::cuda::checkCu(::kiln::cuda::driver().fn(__VA_ARGS__), #fn)

#endif // KILN_RUNTIME_CUDA_CUDADRIVER_H
