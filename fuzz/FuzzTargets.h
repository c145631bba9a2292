// fuzz/FuzzTargets.h - what each fuzzer checks, shared by the libFuzzer
// targets (fuzz/Fuzz*.cpp) and the corpus replay test
// (tests/runtime/FuzzCorpusTest.cpp).
//
// Each check feeds one input to a reader and returns "" when kiln behaved:
// the input was either rejected with the documented error kind (UserError for
// IR text, RuntimeError for data files) or accepted, in which case writing it
// back and reading it again must give the same thing. A non-empty result says
// what went wrong. Any other exception escapes (a finding too), and memory
// errors are the sanitizers' to catch. Header-only, so the separate fuzz build
// and the test suite compile the same code.
#ifndef KILN_FUZZ_FUZZTARGETS_H
#define KILN_FUZZ_FUZZTARGETS_H

#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "runtime/Idx.h"
#include "runtime/Npy.h"
#include "runtime/Safetensors.h"

#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace kiln::fuzz {

/// The names scripts/fuzz.sh and the corpus folders use.
inline constexpr const char *kTargetNames[] = {"ir_parser", "npy", "idx", "safetensors"};

inline std::span<const std::byte> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte *>(s.data()), s.size()};
}

inline bool sameTensor(const HostTensor &a, const HostTensor &b) {
  return a.type() == b.type() && std::memcmp(a.bytes(), b.bytes(), a.byteSize()) == 0;
}

/// IR text: parse; if accepted, print -> parse -> print must be byte-identical.
inline std::string checkIrParser(std::string_view input) {
  std::unique_ptr<Graph> g;
  try {
    g = parseGraph(input, "fuzz.kir");
  } catch (const UserError &) {
    return "";
  }
  std::string once = toText(*g);
  std::string twice;
  try {
    twice = toText(*parseGraph(once, "printed.kir"));
  } catch (const UserError &e) {
    return std::string("the printed graph does not parse: ") + e.what() + "\n" + once;
  }
  if (once != twice)
    return "print -> parse -> print differs:\n--- first\n" + once + "\n--- second\n" + twice;
  return "";
}

/// .npy: decode; if accepted, encode -> decode must give the same tensor.
inline std::string checkNpy(std::string_view input) {
  HostTensor t;
  try {
    t = parseNpy(asBytes(input), "fuzz.npy");
  } catch (const RuntimeError &) {
    return "";
  }
  std::string again = npyBytes(t);
  if (!sameTensor(parseNpy(asBytes(again), "again.npy"), t))
    return "write -> read changes the tensor " + typeString(t.type());
  return "";
}

/// IDX. The first byte is a control byte: bits 0-1 pick the magic the caller
/// expects (any, images 2051, labels 2049, any), bits 6-7 the path: 0 or 1
/// decode the rest in memory, 2 write the rest as a (usually corrupt) `.gz`
/// file and read it, 3 gzip-compress the rest into a `.gz` file first (a valid
/// stream with a hostile payload). If accepted, encode -> decode must agree.
inline std::string checkIdx(std::string_view input) {
  if (input.empty())
    return "";
  const auto control = static_cast<uint8_t>(input[0]);
  const uint32_t magics[4] = {0, kIdxImagesMagic, kIdxLabelsMagic, 0};
  const uint32_t magic = magics[control & 3];
  const int path = control >> 6;
  input.remove_prefix(1);
  HostTensor t;
  try {
    if (path < 2) {
      t = parseIdx(asBytes(input), "fuzz-idx-ubyte", magic);
    } else {
      static const std::string scratch = "/tmp/kiln-fuzz-idx-" + std::to_string(::getpid()) + ".gz";
      if (path == 3) {
        gzFile f = gzopen(scratch.c_str(), "wb");
        if (!f || (!input.empty() && gzwrite(f, input.data(), static_cast<unsigned>(input.size())) <= 0))
          return "cannot write the scratch file " + scratch;
        gzclose(f);
      } else {
        FILE *f = std::fopen(scratch.c_str(), "wb");
        if (!f || (!input.empty() && std::fwrite(input.data(), 1, input.size(), f) != input.size()))
          return "cannot write the scratch file " + scratch;
        std::fclose(f);
      }
      struct Remove { // the scratch file goes away however readIdx ends
        const std::string &path;
        ~Remove() { std::remove(path.c_str()); }
      } remove{scratch};
      t = readIdx(scratch, magic);
    }
  } catch (const RuntimeError &) {
    return "";
  }
  if (!sameTensor(parseIdx(asBytes(idxBytes(t)), "again"), t))
    return "write -> read changes the tensor " + typeString(t.type());
  return "";
}

/// safetensors: decode; if accepted, encode -> decode must give the same tensors and metadata.
inline std::string checkSafetensors(std::string_view input) {
  SafetensorsFile f;
  try {
    f = parseSafetensors(asBytes(input), "fuzz.safetensors");
  } catch (const RuntimeError &) {
    return "";
  }
  SafetensorsFile back = parseSafetensors(asBytes(safetensorsBytes(f)), "again.safetensors");
  if (back.metadata != f.metadata || back.tensors.size() != f.tensors.size())
    return "write -> read changes the metadata or the tensor count";
  for (const auto &[name, t] : f.tensors) {
    auto it = back.tensors.find(name);
    if (it == back.tensors.end() || !sameTensor(it->second, t))
      return "write -> read changes tensor '" + name + "'";
  }
  return "";
}

/// The check of target `name` (one of kTargetNames).
inline std::string check(std::string_view name, std::string_view input) {
  if (name == "ir_parser")
    return checkIrParser(input);
  if (name == "npy")
    return checkNpy(input);
  if (name == "idx")
    return checkIdx(input);
  return checkSafetensors(input);
}

/// The body of every LLVMFuzzerTestOneInput: run the check, abort on a finding.
inline int fuzzOne(std::string_view name, const uint8_t *data, size_t size) {
  std::string why = check(name, std::string_view(reinterpret_cast<const char *>(data), size));
  if (!why.empty()) {
    std::fprintf(stderr, "kiln fuzz_%.*s: %s\n", static_cast<int>(name.size()), name.data(), why.c_str());
    std::abort();
  }
  return 0;
}

} // namespace kiln::fuzz

#endif // KILN_FUZZ_FUZZTARGETS_H
