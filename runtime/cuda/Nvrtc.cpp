// runtime/cuda/Nvrtc.cpp - NVRTC calls, options and error reports.
#include "runtime/cuda/Nvrtc.h"

#include "ir/Error.h"

#include <nvrtc.h>

#include <regex>
#include <sstream>

namespace kiln::cuda {

namespace {

void checkNvrtc(nvrtcResult r, const char *what) {
  KILN_RUNTIME_CHECK(r == NVRTC_SUCCESS) << "nvrtc: " << what << " failed: " << nvrtcGetErrorString(r);
}

/// Lines of `text` around each line the log reports ("kiln.cu(12): error: ..."),
/// grouped under the kernel that holds them.
std::string offendingLines(const CudaTranslationUnit &tu, const std::string &log) {
  std::vector<std::string> lines;
  std::istringstream is(tu.text);
  for (std::string l; std::getline(is, l);)
    lines.push_back(l);
  std::ostringstream os;
  std::regex at(R"(\((\d+)\): (error|catastrophic error))");
  int shown = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), at); it != std::sregex_iterator() && shown < 8; ++it) {
    int line = std::stoi((*it)[1].str());
    if (line < 1 || line > static_cast<int>(lines.size()))
      continue;
    os << "in kernel " << tu.kernelAt(line) << ", generated line " << line << ":\n";
    for (int l = std::max(1, line - 2); l <= std::min<int>(static_cast<int>(lines.size()), line + 2); ++l)
      os << (l == line ? "  > " : "    ") << l << " | " << lines[l - 1] << "\n";
    ++shown;
  }
  return os.str();
}

std::string firstErrorKernel(const CudaTranslationUnit &tu, const std::string &log) {
  std::smatch m;
  if (std::regex_search(log, m, std::regex(R"(\((\d+)\): (error|catastrophic error))")))
    return tu.kernelAt(std::stoi(m[1].str()));
  return "(unknown)";
}

} // namespace

const std::vector<std::string> &nvrtcOptions() {
  // No fast math: expf/logf keep full precision so results agree with the
  // interpreter to 1e-5; FMA contraction stays on (the default).
  static const std::vector<std::string> opts{"--std=c++17", "-default-device"};
  return opts;
}

std::string nvrtcVersionString() {
  int major = 0, minor = 0;
  checkNvrtc(::nvrtcVersion(&major, &minor), "nvrtcVersion");
  return std::to_string(major) + "." + std::to_string(minor);
}

namespace {

/// The "XY[a]" of "sm_XY[a]" or "compute_XY[a]"; UserError for anything else.
std::string archSuffix(const std::string &arch) {
  std::smatch m;
  KILN_USER_CHECK(std::regex_match(arch, m, std::regex(R"((sm|compute)_(\d+[a-z]?))")))
      << "cuda: bad architecture '" << arch << "' (expected sm_XY or compute_XY, e.g. sm_90)";
  return m[2].str();
}

} // namespace

std::string virtualArch(const std::string &arch) { return "compute_" + archSuffix(arch); }

int archNumber(const std::string &arch) { return std::stoi(archSuffix(arch)); }

NvrtcOutput nvrtcCompile(const CudaTranslationUnit &tu, const std::string &arch, const std::string &unit) {
  virtualArch(arch); // validates the name
  bool ptx = arch.rfind("compute_", 0) == 0;
  nvrtcProgram prog = nullptr;
  checkNvrtc(nvrtcCreateProgram(&prog, tu.text.c_str(), (unit + ".cu").c_str(), 0, nullptr, nullptr),
             "nvrtcCreateProgram");
  std::vector<std::string> opts = nvrtcOptions();
  opts.push_back("--gpu-architecture=" + arch);
  std::vector<const char *> argv;
  for (const std::string &o : opts)
    argv.push_back(o.c_str());
  nvrtcResult r = nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  NvrtcOutput out;
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  out.log.resize(logSize);
  if (logSize)
    nvrtcGetProgramLog(prog, out.log.data());
  while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n'))
    out.log.pop_back();
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    std::string opt;
    for (const std::string &o : opts)
      opt += " " + o;
    KILN_RUNTIME_ERROR() << "nvrtc: cannot compile kernel " << firstErrorKernel(tu, out.log) << " of " << unit
                         << " for " << arch << " (" << nvrtcGetErrorString(r) << "; options:" << opt << ")\n"
                         << out.log << "\n"
                         << offendingLines(tu, out.log);
  }
  size_t size = 0;
  if (ptx) {
    checkNvrtc(nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
    out.ptx.resize(size);
    checkNvrtc(nvrtcGetPTX(prog, out.ptx.data()), "nvrtcGetPTX");
    while (!out.ptx.empty() && out.ptx.back() == '\0')
      out.ptx.pop_back();
  } else {
    checkNvrtc(nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
    out.cubin.resize(size);
    checkNvrtc(nvrtcGetCUBIN(prog, out.cubin.data()), "nvrtcGetCUBIN");
  }
  nvrtcDestroyProgram(&prog);
  return out;
}

} // namespace kiln::cuda
