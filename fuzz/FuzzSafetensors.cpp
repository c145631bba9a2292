// fuzz/FuzzSafetensors.cpp - libFuzzer target: the safetensors (checkpoint) reader.
//
// The check itself (what counts as a finding) is kiln::fuzz::check in
// fuzz/FuzzTargets.h, which tests/runtime/FuzzCorpusTest.cpp also replays on
// fuzz/corpus/safetensors and fuzz/regressions/safetensors in every test run.
#include "fuzz/FuzzTargets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return kiln::fuzz::fuzzOne("safetensors", data, size);
}
