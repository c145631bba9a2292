// fuzz/FuzzIrParser.cpp - libFuzzer target: the IR text parser.
//
// The check itself (what counts as a finding) is kiln::fuzz::check in
// fuzz/FuzzTargets.h, which tests/runtime/FuzzCorpusTest.cpp also replays on
// fuzz/corpus/ir_parser and fuzz/regressions/ir_parser in every test run.
#include "fuzz/FuzzTargets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return kiln::fuzz::fuzzOne("ir_parser", data, size);
}
