// fuzz/FuzzIdx.cpp - libFuzzer target: the IDX reader (plain and gzip).
//
// The check itself (what counts as a finding) is kiln::fuzz::check in
// fuzz/FuzzTargets.h, which tests/runtime/FuzzCorpusTest.cpp also replays on
// fuzz/corpus/idx and fuzz/regressions/idx in every test run.
#include "fuzz/FuzzTargets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return kiln::fuzz::fuzzOne("idx", data, size);
}
