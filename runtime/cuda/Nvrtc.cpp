// runtime/cuda/Nvrtc.cpp - NVRTC calls, options and error reports.
#include "runtime/cuda/Nvrtc.h"

#include "ir/Error.h"

#include <nvrtc.h>

#include <cctype>
#include <sstream>
#include <string_view>

namespace kiln::cuda {

namespace {

void checkNvrtc(nvrtcResult r, const char *what) {
  KILN_RUNTIME_CHECK(r == NVRTC_SUCCESS) << "nvrtc: " << what << " failed: " << nvrtcGetErrorString(r);
}

/// The generated-source line of each error the log reports, in order: NVRTC
/// writes "kiln.cu(12): error: ..." (or "catastrophic error").
std::vector<int> errorLines(std::string_view log) {
  std::vector<int> out;
  for (size_t close = log.find("): "); close != std::string_view::npos; close = log.find("): ", close + 1)) {
    std::string_view rest = log.substr(close + 3);
    if (!rest.starts_with("error") && !rest.starts_with("catastrophic error"))
      continue;
    size_t open = close;
    while (open > 0 && std::isdigit(static_cast<unsigned char>(log[open - 1])))
      --open;
    if (open == close || open == 0 || log[open - 1] != '(' || close - open > 9)
      continue;
    out.push_back(std::stoi(std::string(log.substr(open, close - open))));
  }
  return out;
}

/// Lines of `text` around each line the log reports as an error, grouped under
/// the kernel that holds them.
std::string offendingLines(const CudaTranslationUnit &tu, const std::string &log) {
  std::vector<std::string> lines;
  std::istringstream is(tu.text);
  for (std::string l; std::getline(is, l);)
    lines.push_back(l);
  std::ostringstream os;
  int shown = 0;
  for (int line : errorLines(log)) {
    if (line < 1 || line > static_cast<int>(lines.size()))
      continue;
    if (shown++ == 8)
      break;
    os << "in kernel " << tu.kernelAt(line) << ", generated line " << line << ":\n";
    for (int l = std::max(1, line - 2); l <= std::min<int>(static_cast<int>(lines.size()), line + 2); ++l)
      os << (l == line ? "  > " : "    ") << l << " | " << lines[l - 1] << "\n";
  }
  return os.str();
}

std::string firstErrorKernel(const CudaTranslationUnit &tu, const std::string &log) {
  std::vector<int> at = errorLines(log);
  return at.empty() ? "(unknown)" : tu.kernelAt(at.front());
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

/// The "XY[s]" of "sm_XY[s]" or "compute_XY[s]"; UserError for anything else.
std::string archSuffix(const std::string &arch) {
  std::string_view a = arch;
  std::string_view rest = a.starts_with("sm_") ? a.substr(3) : a.starts_with("compute_") ? a.substr(8) : "";
  size_t digits = 0;
  while (digits < rest.size() && digits < 4 && std::isdigit(static_cast<unsigned char>(rest[digits])))
    ++digits;
  // Suffixes: "a" (architecture-specific, sm_90a) and "f" (family, sm_100f).
  bool ok = digits > 0 &&
            (rest.size() == digits || (rest.size() == digits + 1 && (rest.back() == 'a' || rest.back() == 'f')));
  KILN_USER_CHECK(ok) << "cuda: bad architecture '" << arch << "' (expected sm_XY or compute_XY, e.g. sm_90)";
  return std::string(rest);
}

} // namespace

std::string virtualArch(const std::string &arch) { return "compute_" + archSuffix(arch); }

int archNumber(const std::string &arch) { return std::stoi(archSuffix(arch)); }

bool isVirtualArch(const std::string &arch) {
  archSuffix(arch); // validates the name
  return arch.starts_with("compute_");
}

NvrtcOutput nvrtcCompile(const CudaTranslationUnit &tu, const std::string &arch, const std::string &unit) {
  bool ptx = isVirtualArch(arch);
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
