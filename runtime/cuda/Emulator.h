// runtime/cuda/Emulator.h - the CUDA backend on the host CPU: a driver that runs kernels as host code.
//
// With KILN_CUDA_EMULATOR=1 the CUDA backend runs without a GPU: driver()
// returns an implementation of the driver API (DriverApi) on host memory,
// and a program's translation unit is compiled by the host C++ compiler
// (with a prelude that defines CUDA's keywords, threadIdx/blockIdx and its
// intrinsics as host C++) into a shared library that the emulated
// cuModuleLoadData loads. Everything else in the backend is unchanged: the
// same lowering, kernels, launch shapes, arena, staging and graph capture.
//
// Execution model: the blocks of a grid run one after another, the last
// first (a GPU promises no order; emulator::Order reverses it); the threads
// of a block run on fibers (one stack each, switched on one OS thread), each
// until it finishes or reaches __syncthreads or a warp shuffle, so shared
// memory, barriers and shuffles behave as on a GPU. Kernels with neither run
// their threads as plain calls. What a GPU leaves undefined is an error
// here: a __syncthreads that some threads of the block never reach, a full-
// mask shuffle with lanes that exited or wait elsewhere, a launch shape over
// the hardware's limits, a programmatic dependent launch of a kernel whose
// threads do not all wait for the grid before it. It is as an sm_90 device
// with 132 multiprocessors, so kernels are lowered exactly as for an H100.
// Its fresh device memory holds 0xff bytes (NaNs, -1s), not zeros.
//
// This is for testing the backend without a GPU (the test suite runs the
// CUDA tests on it); it is slow (every thread is a function call) and its
// math library is the host's (ULPs may differ from the GPU's expf or logf).
#ifndef KILN_RUNTIME_CUDA_EMULATOR_H
#define KILN_RUNTIME_CUDA_EMULATOR_H

#include "codegen/cuda/CudaSource.h"
#include "runtime/KernelCache.h"
#include "runtime/cuda/CudaDriver.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cuda {

/// True when KILN_CUDA_EMULATOR is set to something other than "0".
bool emulatorRequested();

/// The emulated driver (cuInit succeeds; one device).
const DriverApi &emulatorDriver();

/// The module image of `kernels` for the emulated driver: `tu` compiled by
/// the host C++ compiler (KILN_EMULATOR_CXX, else the compiler kiln was built
/// with) into a shared library, cached in `cache`. A failed compile throws a
/// RuntimeError with the compiler's output. *fromCache tells whether it was cached.
std::vector<char> emulatorImage(const CudaTranslationUnit &tu, const std::vector<CudaKernel> &kernels,
                                const std::string &unit, const KernelCache &cache, bool *fromCache);

namespace emulator {

/// What a kernel of an emulator image exports (the image's ABI; the prelude
/// of the host source declares the same layout).
struct Dim {
  unsigned x, y, z;
};
struct ThreadState {
  Dim threadIdx, blockIdx, blockDim, gridDim;
  unsigned linear;              ///< index of the thread within its block
  unsigned long long *exchange; ///< 8 slots per thread of the block (shuffles, mma fragments)
};
struct HostHooks {
  void (*syncthreads)();
  void (*syncwarp)();
  void (*gridwait)(); ///< a thread ran kiln_pdl_enter (griddepcontrol.wait on a GPU)
};
struct KernelEntry {
  const char *name;
  void (*entry)(void **params); ///< unpacks cuLaunchKernel's parameters and calls the kernel
  int synchronizes;             ///< uses __syncthreads or shuffles (needs fibers)
  unsigned args;                ///< number of parameters
  const unsigned *argBytes;     ///< size of each parameter
};

/// A loaded kernel and where to reach its image's thread state.
struct Function {
  KernelEntry kernel;
  ThreadState **current; ///< the image's pointer to the running thread's state (thread-local)
};

/// The library inside an emulator image and its size, or nullptr when
/// `image` is not one (a CUBIN, say).
const char *imageLibrary(const void *image, uint64_t *size);

/// The functions an image's __syncthreads and shuffles call.
const HostHooks &hostHooks();

/// The order in which a launch runs its blocks and the threads of a block
/// (each thread until it finishes or waits at a barrier). A GPU promises
/// none, so a race (a thread or block that reads what another writes, with
/// no barrier or launch between them) shows as wrong values in one order or
/// the other: forward runs the blocks from the last, the threads from the
/// first; reverse runs the blocks from the first, the threads from the last.
enum class Order { Forward, Reverse };

/// Sets the order of the launches that follow; std::nullopt (and until it
/// is set): KILN_CUDA_EMULATOR_ORDER's ("forward", the default, or "reverse").
void setOrder(std::optional<Order> order);

/// Runs `f` over the grid in the order set; returns "" or why the launch
/// failed (a barrier not every thread reaches, a shuffle with missing lanes,
/// an order KILN_CUDA_EMULATOR_ORDER does not name). A `programmatic`
/// launch (a programmatic dependent launch on a GPU, which may start before
/// the kernel before it has finished) fails unless every thread ran the
/// grid-dependency wait (kiln_pdl_enter), the contract a GPU relies on.
std::string launch(const Function &f, const unsigned grid[3], const unsigned block[3], void **params,
                   bool programmatic = false);

} // namespace emulator
} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_EMULATOR_H
