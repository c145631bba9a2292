// runtime/cuda/EmulatorImage.cpp - CUDA C++ of a program compiled as host C++ for the emulated driver.
//
// The host source is: a prelude that spells CUDA's keywords, built-in
// variables and intrinsics as host C++ (its structs match Emulator.h's
// emulator::ThreadState and friends), the program's translation unit as the
// GPU compiles it, and a table of entry points that unpack cuLaunchKernel's
// parameter array into each kernel's arguments. The image handed to
// cuModuleLoadData is a short header followed by the shared library's bytes.
#include "runtime/cuda/Emulator.h"

#include "ir/Error.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif
#ifndef KILN_HOST_CXX
#define KILN_HOST_CXX "c++"
#endif

namespace kiln::cuda {

namespace {

const char *const kHostPrelude = R"(// kiln CUDA emulator prelude: CUDA C++ as host C++
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
struct kiln_emu_dim { unsigned x, y, z; };
struct kiln_emu_thread {
  kiln_emu_dim thread_idx, block_idx, block_dim, grid_dim;
  unsigned linear;
  unsigned long long *exchange;
};
struct kiln_emu_hooks { void (*syncthreads)(); void (*syncwarp)(); void (*gridwait)(); };
struct kiln_emu_kernel {
  const char *name;
  void (*entry)(void **);
  int synchronizes;
  unsigned args;
  const unsigned *arg_bytes;
};
// 64-byte alignment for the library's TLS block (the shared arrays, this):
// glibc then allocates it 64-byte aligned, which LeakSanitizer's guess at
// glibc's TLS layout (a block 16 bytes past a page boundary) never mistakes
// for its own, so a sanitized process does not read a bogus block at exit.
alignas(64) static thread_local kiln_emu_thread *kiln_emu_cur = nullptr;
static const kiln_emu_hooks *kiln_emu_host = nullptr;
extern "C" kiln_emu_thread **kiln_emu_current() { return &kiln_emu_cur; }
extern "C" void kiln_emu_bind(const kiln_emu_hooks *h) { kiln_emu_host = h; }
#define threadIdx (kiln_emu_cur->thread_idx)
#define blockIdx (kiln_emu_cur->block_idx)
#define blockDim (kiln_emu_cur->block_dim)
#define gridDim (kiln_emu_cur->grid_dim)
#define KILN_EMULATOR_GRID_WAIT() kiln_emu_host->gridwait()
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __align__(n) __attribute__((aligned(n)))
static inline void __syncthreads() { kiln_emu_host->syncthreads(); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T> static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int mask) {
  static_assert(sizeof(T) <= sizeof(unsigned long long));
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  kiln_emu_thread *t = kiln_emu_cur;
  t->exchange[t->linear * 8] = bits;
  kiln_emu_host->syncwarp();
  unsigned lane = t->linear % 32, other = t->linear - lane + (lane ^ (unsigned)mask);
  unsigned threads = t->block_dim.x * t->block_dim.y * t->block_dim.z;
  bits = t->exchange[(other < threads ? other : t->linear) * 8];
  kiln_emu_host->syncwarp();
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}
// TF32: round to nearest, ties away from zero, on the 13 low mantissa bits.
static inline unsigned kiln_tf32(float x) {
  unsigned u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) // inf stays, NaN stays NaN
    return (u & 0x007fffffu) ? (u | 0x00400000u) & 0xffffe000u : u;
  return (u + 0x1000u) & 0xffffe000u;
}
// mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32 across the warp, by the PTX
// fragment layout (g = lane / 4, t = lane % 4): a[r] = A(g + 8 (r % 2),
// t + 4 (r / 2)), b[r] = B(t + 4 r, g), d[r] = D(g + 8 (r / 2), 2 t + r % 2).
static inline void kiln_mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
  kiln_emu_thread *t = kiln_emu_cur;
  unsigned long long *mine = t->exchange + t->linear * 8;
  for (int r = 0; r < 4; ++r)
    mine[r] = a[r];
  mine[4] = b[0];
  mine[5] = b[1];
  kiln_emu_host->syncwarp();
  unsigned lane = t->linear % 32;
  const unsigned long long *warp = t->exchange + (t->linear - lane) * 8;
  auto value = [](unsigned long long bits) {
    unsigned u = (unsigned)bits;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  };
  float out[4];
  for (int r = 0; r < 4; ++r) {
    unsigned row = lane / 4 + 8 * (r / 2), col = 2 * (lane % 4) + r % 2;
    float sum = d[r];
    for (unsigned k = 0; k < 8; ++k) {
      float av = value(warp[((row % 8) * 4 + k % 4) * 8 + row / 8 + 2 * (k / 4)]);
      float bv = value(warp[(col * 4 + k % 4) * 8 + 4 + k / 4]);
      sum = std::fma(av, bv, sum);
    }
    out[r] = sum;
  }
  kiln_emu_host->syncwarp();
  for (int r = 0; r < 4; ++r)
    d[r] = out[r];
}
// CUDA's 16-byte vector: a misaligned load faults here too (aligned moves).
struct alignas(16) float4 { float x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }
static inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, sizeof i); return i; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, sizeof d); return d; }
static inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, sizeof i); return i; }
template <class A> static A kiln_emu_arg(void *p) { A a; std::memcpy(&a, p, sizeof a); return a; }
template <class... A> static void kiln_emu_invoke(void (*f)(A...), void **p) {
  [&]<std::size_t... I>(std::index_sequence<I...>) { f(kiln_emu_arg<A>(p[I])...); }(std::index_sequence_for<A...>{});
}
template <class F> struct kiln_emu_signature;
template <class... A> struct kiln_emu_signature<void (*)(A...)> {
  static constexpr unsigned count = sizeof...(A);
  static constexpr unsigned bytes[sizeof...(A) + 1] = {static_cast<unsigned>(sizeof(A))..., 0};
};
// ---- the program's translation unit ----
)";

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'E', 'M', 'U', '1'};

/// Whether a kernel's source waits for other threads (then it needs fibers).
bool synchronizes(const std::string &source) {
  return source.find("__syncthreads") != std::string::npos || source.find("_shfl") != std::string::npos ||
         source.find("kiln_mma") != std::string::npos;
}

std::string hostSource(const CudaTranslationUnit &tu, const std::vector<CudaKernel> &kernels) {
  std::ostringstream s;
  s << kHostPrelude << tu.text << "\n// ---- entry points ----\nstatic const kiln_emu_kernel kiln_emu_table[] = {\n";
  std::vector<const CudaKernel *> waiting; // kernels whose own source waits for other threads
  for (const CudaKernel &k : kernels)
    if (synchronizes(k.source))
      waiting.push_back(&k);
  for (const auto &[line, name] : tu.kernelLines) {
    bool sync = false;
    for (const CudaKernel &k : kernels)
      if (k.name == name)
        for (const CudaKernel *w : waiting) // itself, or a launch group calling a member's body
          sync = sync || w == &k || k.source.find(w->name + "_body(") != std::string::npos;
    s << "  {\"" << name << "\", [](void **p) { kiln_emu_invoke(" << name << ", p); }, " << sync
      << ", kiln_emu_signature<decltype(&" << name << ")>::count, kiln_emu_signature<decltype(&" << name
      << ")>::bytes},\n";
  }
  s << "};\nextern \"C\" const kiln_emu_kernel *kiln_emu_kernels(int *count) {\n"
    << "  *count = sizeof kiln_emu_table / sizeof kiln_emu_table[0];\n  return kiln_emu_table;\n}\n";
  return s.str();
}

std::string hostCompiler() {
  const char *e = std::getenv("KILN_EMULATOR_CXX");
  return e && *e ? e : KILN_HOST_CXX;
}

/// The host compiler's options. a * b + c contracts to a fused multiply-add,
/// as NVRTC does by default, where the host has FMA instructions (then the
/// emulator rounds as the GPU does there); -O2 is what contracts in GCC.
std::string compilerFlags() {
  std::string flags = "-std=c++20 -O2 -ffp-contract=fast -fno-strict-aliasing -fPIC -shared -fno-gnu-unique -w";
#if defined(__x86_64__)
  if (__builtin_cpu_supports("fma"))
    flags += " -mfma";
#endif
  return flags;
}

std::string readFile(const std::filesystem::path &p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A temporary folder removed when it goes out of scope.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln-emu-XXXXXX").string();
    KILN_RUNTIME_CHECK(mkdtemp(tmpl.data())) << "cuda emulator: cannot create a folder under "
                                             << std::filesystem::temp_directory_path().string();
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::vector<char> compileLibrary(const std::string &source, const std::string &unit) {
  ScratchDir dir;
  std::filesystem::path src = dir.path / "program.cpp", lib = dir.path / "program.so", log = dir.path / "log.txt";
  {
    std::ofstream out(src, std::ios::binary);
    out << source;
    KILN_RUNTIME_CHECK(static_cast<bool>(out)) << "cuda emulator: cannot write " << src.string();
  }
  std::ostringstream cmd;
  cmd << "'" << hostCompiler() << "' " << compilerFlags() << " '" << src.string() << "' -o '" << lib.string() << "' > '"
      << log.string() << "' 2>&1";
  int rc = std::system(cmd.str().c_str());
  KILN_RUNTIME_CHECK(rc == 0) << "cuda emulator: the host compiler (" << hostCompiler() << ") failed on the kernels of "
                              << unit << ":\n" << readFile(log);
  std::string bytes = readFile(lib);
  KILN_RUNTIME_CHECK(!bytes.empty()) << "cuda emulator: the host compiler wrote no library for " << unit;
  uint64_t size = bytes.size();
  std::vector<char> image(sizeof kMagic + sizeof size + bytes.size());
  std::memcpy(image.data(), kMagic, sizeof kMagic);
  std::memcpy(image.data() + sizeof kMagic, &size, sizeof size);
  std::memcpy(image.data() + sizeof kMagic + sizeof size, bytes.data(), bytes.size());
  return image;
}

} // namespace

bool emulatorRequested() {
  const char *e = std::getenv("KILN_CUDA_EMULATOR");
  return e && *e && std::string(e) != "0";
}

std::vector<char> emulatorImage(const CudaTranslationUnit &tu, const std::vector<CudaKernel> &kernels,
                                const std::string &unit, const KernelCache &cache, bool *fromCache) {
  std::string source = hostSource(tu, kernels);
  std::string key = hashHex("emulator\n" + source + "\n" + hostCompiler() + " " + compilerFlags() + "\nkiln " KILN_VERSION);
  if (auto hit = cache.load(key)) {
    *fromCache = true;
    return std::move(*hit);
  }
  *fromCache = false;
  std::vector<char> image = compileLibrary(source, unit);
  cache.store(key, image);
  return image;
}

namespace emulator {

const char *imageLibrary(const void *image, uint64_t *size) {
  const char *p = static_cast<const char *>(image);
  if (!p || std::memcmp(p, kMagic, sizeof kMagic) != 0)
    return nullptr;
  std::memcpy(size, p + sizeof kMagic, 8);
  return p + sizeof kMagic + 8;
}

} // namespace emulator
} // namespace kiln::cuda
