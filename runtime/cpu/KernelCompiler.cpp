// runtime/cpu/KernelCompiler.cpp - kernel cache lookups, parallel compilation, dumps.
#include "runtime/cpu/KernelCompiler.h"

#include "codegen/llvm/LLVMBackend.h"
#include "ir/Error.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif

namespace kiln::cpu {

namespace {

/// Part of every cache key: bump it when the LLVM emitter or pipeline changes
/// the code generated for the same kernel text, so stale objects are not reused.
constexpr const char *kEmitterRevision = "3";

struct Unit {
  const kir::Kernel *kernel = nullptr;
  std::string key, symbol;
  std::vector<char> object;
  llvmgen::ObjectCode text; // dumps only
  bool needCompile = true;
};

void writeFile(const std::filesystem::path &p, const std::string &text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  KILN_RUNTIME_CHECK(static_cast<bool>(out)) << "cannot write " << p.string();
}

std::string fileSafe(const std::string &name) {
  std::string s = name;
  for (char &c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      c = '_';
  return s;
}

} // namespace

std::vector<KernelFn> compileKernels(const Program &p, Jit &jit, const KernelCache &cache, const std::string &dumpDir,
                                     int threads, KernelCompileStats &stats) {
  const llvmgen::HostTarget &target = llvmgen::hostTarget();
  bool dump = !dumpDir.empty();
  std::vector<Unit> units;
  std::map<std::string, size_t> byKey;
  std::vector<size_t> unitOf(p.kernels.size());
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    kir::Kernel neutral = p.kernels[i];
    neutral.name = "kernel";
    std::string key = hashHex(printKernel(neutral) + "\n" + target.cpu + "\n" + target.features + "\n" KILN_VERSION +
                              "\n" + kEmitterRevision);
    auto [it, fresh] = byKey.emplace(key, units.size());
    if (fresh) {
      Unit u;
      u.kernel = &p.kernels[i];
      u.key = key;
      u.symbol = "kiln_" + key;
      units.push_back(std::move(u));
    }
    unitOf[i] = it->second;
  }
  stats.unique = static_cast<int>(units.size());
  for (Unit &u : units) {
    if (dump)
      continue;
    if (auto hit = cache.load(u.key)) {
      u.object = std::move(*hit);
      u.needCompile = false;
      ++stats.cacheHits;
    }
  }
  std::vector<Unit *> todo;
  for (Unit &u : units)
    if (u.needCompile)
      todo.push_back(&u);
  stats.compiled = static_cast<int>(todo.size());
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failMu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
      try {
        Unit &u = *todo[i];
        u.text = llvmgen::compileKernel(*u.kernel, u.symbol, dump);
        u.object = std::move(u.text.object);
        cache.store(u.key, u.object);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failMu);
        failure = std::current_exception();
      }
    }
  };
  int n = std::max(1, std::min<int>(threads, static_cast<int>(todo.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
  if (failure)
    std::rethrow_exception(failure);

  if (dump) {
    std::filesystem::create_directories(dumpDir);
    writeFile(std::filesystem::path(dumpDir) / "program.txt", printProgram(p));
    for (size_t i = 0; i < p.kernels.size(); ++i) {
      const Unit &u = units[unitOf[i]];
      std::string base = fileSafe(p.kernels[i].name);
      auto path = std::filesystem::path(dumpDir);
      writeFile(path / (base + ".kir"), printKernel(p.kernels[i]));
      writeFile(path / (base + ".ll"), u.text.llvmIR);
      writeFile(path / (base + ".s"), u.text.assembly);
    }
  }
  for (Unit &u : units)
    jit.addObject(u.object, u.kernel->name);
  std::vector<KernelFn> unitFns;
  for (Unit &u : units)
    unitFns.push_back(jit.lookup(u.symbol));
  std::vector<KernelFn> fns(p.kernels.size());
  for (size_t i = 0; i < p.kernels.size(); ++i)
    fns[i] = unitFns[unitOf[i]];
  return fns;
}

} // namespace kiln::cpu
