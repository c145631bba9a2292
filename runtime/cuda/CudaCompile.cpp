// runtime/cuda/CudaCompile.cpp - cached CUBIN compiles and kernel dumps.
#include "runtime/cuda/CudaCompile.h"

#include "ir/Error.h"
#include "runtime/cuda/Nvrtc.h"

#include <filesystem>
#include <fstream>

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif

namespace kiln::cuda {

namespace {

void writeFile(const std::filesystem::path &p, const std::string &text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  KILN_RUNTIME_CHECK(static_cast<bool>(out)) << "cannot write " << p.string();
}

} // namespace

std::string groupOverlap(const CudaProgram &p, const ArenaPlan &plan) {
  const Program &prog = p.program;
  auto range = [&](int b) { return std::pair{plan.offset[b], plan.offset[b] + prog.buffers[b].type.byteSize()}; };
  size_t first = 0; // the program launch of each GPU launch's first member
  for (const Launch &l : p.launches) {
    auto g = p.groups.find(l.kernel);
    const size_t members = g == p.groups.end() ? 1 : g->second.size();
    for (size_t i = first; i < first + members; ++i)
      for (size_t j = first; j < first + members; ++j) {
        if (i == j)
          continue;
        const Launch &a = prog.launches[i], &b = prog.launches[j];
        size_t arg = 0;
        for (const kir::BufferDecl &d : prog.kernels[a.kernel].buffers) {
          if (d.local)
            continue;
          int written = a.args[arg++];
          if (d.readOnly)
            continue;
          for (int touched : b.args) {
            auto [lo1, hi1] = range(written);
            auto [lo2, hi2] = range(touched);
            if (lo1 < hi2 && lo2 < hi1)
              return prog.kernels[a.kernel].name + " writes " + prog.buffers[written].name + " at [" +
                     std::to_string(lo1) + ", " + std::to_string(hi1) + "), which " + prog.kernels[b.kernel].name +
                     " of the same launch touches as " + prog.buffers[touched].name + " at [" + std::to_string(lo2) +
                     ", " + std::to_string(hi2) + ")";
          }
        }
      }
    first += members;
  }
  return "";
}

ArenaPlan planCudaArena(const CudaProgram &p) {
  ArenaPlan plan = planArena(p.program, /*alignment=*/256, {}, p.launchTimes());
  std::string why = groupOverlap(p, plan);
  KILN_INTERNAL_CHECK(why.empty()) << "cuda arena: " << why;
  return plan;
}

std::vector<char> compileModule(const CudaTranslationUnit &tu, const std::string &arch, const std::string &unit,
                                const KernelCache &cache, bool *fromCache) {
  std::string key = tu.text + "\n" + arch + "\nnvrtc " + nvrtcVersionString();
  for (const std::string &o : nvrtcOptions())
    key += " " + o;
  key = hashHex(key + "\nkiln " KILN_VERSION);
  if (auto hit = cache.load(key)) {
    *fromCache = true;
    return std::move(*hit);
  }
  *fromCache = false;
  NvrtcOutput out = nvrtcCompile(tu, arch, unit);
  std::vector<char> image = isVirtualArch(arch)
                                ? std::vector<char>(out.ptx.c_str(), out.ptx.c_str() + out.ptx.size() + 1)
                                : std::move(out.cubin);
  cache.store(key, image);
  return image;
}

void dumpCudaProgram(const CudaProgram &p, const CudaTranslationUnit &tu, const std::string &arch,
                     const std::string &dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  fs::path d(dir);
  std::string launches = "\n# what the GPU launches (a group runs independent kernels, each on its own blocks)\n";
  for (const Launch &l : p.launches) {
    launches += "cuda launch @" + p.kernels.at(l.kernel).name;
    if (auto g = p.groups.find(l.kernel); g != p.groups.end()) {
      launches += " =";
      for (int k : g->second)
        launches += " @" + p.kernels.at(k).name;
    }
    launches += "\n";
  }
  writeFile(d / "program.txt", printProgram(p.program) + launches);
  writeFile(d / "program.cu", tu.text);
  std::string virt = virtualArch(arch);
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    const CudaKernel &k = p.kernels[i];
    if (i < p.program.kernels.size()) // launch groups have no kernel IR of their own
      writeFile(d / (k.name + ".kir"), kir::printKernel(p.program.kernels[i]));
    std::vector<CudaKernel> unit; // a launch group needs its members' code
    if (auto g = p.groups.find(static_cast<int>(i)); g != p.groups.end())
      for (int m : g->second)
        unit.push_back(p.kernels.at(m));
    unit.push_back(k);
    CudaTranslationUnit one = makeTranslationUnit(unit);
    std::string launch = "// launch: grid [" + std::to_string(k.grid[0]) + "," + std::to_string(k.grid[1]) + "," +
                         std::to_string(k.grid[2]) + "], block [" + std::to_string(k.block[0]) + "," +
                         std::to_string(k.block[1]) + "," + std::to_string(k.block[2]) + "], kind " + k.kind + "\n";
    writeFile(d / (k.name + ".cu"), launch + one.text);
    writeFile(d / (k.name + ".ptx"), nvrtcCompile(one, virt, k.name).ptx);
  }
}

} // namespace kiln::cuda
