// fuzz/FuzzIrParser.cpp - libFuzzer target: the IR text parser.
//
// Any input must either parse (and then verify, print, and re-parse to the
// same text: the round trip the printer promises) or be rejected with a
// UserError. Any other exception, a crash, a hang or a sanitizer report is a
// finding; it goes to fuzz/regressions/ir_parser/ and is replayed by
// tests/runtime/FuzzCorpusTest.cpp.
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  std::unique_ptr<kiln::Graph> g;
  try {
    g = kiln::parseGraph(text, "fuzz.kir");
  } catch (const kiln::UserError &) {
    return 0; // rejected with a message: the expected outcome for bad input
  }
  // Accepted: the printed form must parse back and print identically.
  std::string once = kiln::toText(*g);
  std::string twice;
  try {
    twice = kiln::toText(*kiln::parseGraph(once, "printed.kir"));
  } catch (const kiln::UserError &e) {
    std::fprintf(stderr, "printed graph does not parse: %s\n%s\n", e.what(), once.c_str());
    std::abort();
  }
  if (once != twice) {
    std::fprintf(stderr, "round trip differs:\n--- first\n%s\n--- second\n%s\n", once.c_str(), twice.c_str());
    std::abort();
  }
  return 0;
}
