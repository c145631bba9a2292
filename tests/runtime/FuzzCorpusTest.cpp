// tests/runtime/FuzzCorpusTest.cpp - replays the fuzzers' seed corpus and every
// past finding on the readers, in every test run.
//
// fuzz/corpus/NAME holds the seeds, fuzz/regressions/NAME the inputs that once
// crashed or broke a check (a fixed finding is copied there, so it stays
// fixed). Each file goes through kiln::fuzz::check (fuzz/FuzzTargets.h), the
// same code the libFuzzer targets run; under scripts/test-sanitize.sh this is
// a memory-error check of the readers on all of them.
#include "fuzz/FuzzTargets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace kiln::test {
namespace {

class FuzzCorpus : public ::testing::TestWithParam<const char *> {};

TEST_P(FuzzCorpus, EveryInputIsHandled) {
  const std::string name = GetParam();
  int files = 0;
  for (const char *kind : {"corpus", "regressions"}) {
    std::filesystem::path dir = std::filesystem::path(KILN_SOURCE_DIR) / "fuzz" / kind / name;
    if (!std::filesystem::exists(dir))
      continue;
    for (const auto &entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file() || entry.path().filename().string().front() == '.' ||
          entry.path().filename() == "README.md")
        continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::string why;
      try {
        why = fuzz::check(name, bytes);
      } catch (const std::exception &e) {
        why = std::string("unexpected exception: ") + e.what();
      }
      EXPECT_EQ(why, "") << entry.path();
      ++files;
    }
  }
  EXPECT_GT(files, 3) << "the seed corpus of fuzz_" << name << " is missing";
}

INSTANTIATE_TEST_SUITE_P(Readers, FuzzCorpus, ::testing::ValuesIn(fuzz::kTargetNames),
                         [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

} // namespace
} // namespace kiln::test
