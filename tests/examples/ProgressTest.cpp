// tests/examples/ProgressTest.cpp - the Keras-style progress line and the results table.
#include "examples/mnist/Progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

namespace kiln::test {
namespace {

using ::testing::MatchesRegex;

TEST(Progress, FastStepsAreTimedInMicroseconds) {
  std::ostringstream os;
  mnist::ProgressBar bar(os, 1000, /*interactive=*/false);
  bar.finish(0.5, 0.25, " - val_acc: 0.9000");
  // 1000 steps within a few milliseconds: well under a millisecond each.
  EXPECT_THAT(os.str(), MatchesRegex("1000/1000 \\[=+\\] - 0s [0-9]+us/step - loss: 0\\.5000 - acc: 0\\.2500 "
                                     "- val_acc: 0\\.9000\n"));
}

TEST(Progress, SlowStepsAreTimedInMilliseconds) {
  std::ostringstream os;
  mnist::ProgressBar bar(os, 2, /*interactive=*/false);
  std::this_thread::sleep_for(std::chrono::milliseconds(12));
  bar.finish(1, 0, "");
  EXPECT_THAT(os.str(), MatchesRegex(" ?2/2 \\[=+\\] - 0s [0-9]+ms/step - loss: 1\\.0000 - acc: 0\\.0000\n"));
}

TEST(Progress, TablesAlignNumbersRight) {
  EXPECT_EQ(mnist::formatTable({"model", "seconds"}, {{"cnn", "235.8"}, {"linear", "4.0"}}),
            "model   seconds\n"
            "---------------\n"
            "cnn       235.8\n"
            "linear      4.0\n");
}

} // namespace
} // namespace kiln::test
