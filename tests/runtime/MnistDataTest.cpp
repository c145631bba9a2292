// tests/runtime/MnistDataTest.cpp - the MNIST loader on tiny hand-made files and,
// when $MNIST_DIR holds the real dataset, on the published files.
//
// Oracles for the real data: the first ten training labels and the per-class
// counts of the test set, as published with the dataset.
#include "runtime/Mnist.h"

#include "ir/Error.h"
#include "runtime/Idx.h"
#include "tests/support/TempDir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace kiln {
namespace {

std::string imagesFile(uint32_t n, uint8_t first) {
  std::string s("\x00\x00\x08\x03", 4);
  for (uint32_t d : {n, 28u, 28u})
    for (int sh = 24; sh >= 0; sh -= 8)
      s.push_back(static_cast<char>((d >> sh) & 0xff));
  for (uint32_t i = 0; i < n * 784; ++i)
    s.push_back(static_cast<char>(i == 0 ? first : 255));
  return s;
}

std::string labelsFile(std::string labels) {
  std::string s("\x00\x00\x08\x01\x00\x00\x00", 7);
  s.push_back(static_cast<char>(labels.size()));
  return s + labels;
}

void writeSplit(const test::TempDir &dir, const std::string &prefix, uint32_t nImages, std::string labels) {
  dir.write(prefix + "-images-idx3-ubyte", imagesFile(nImages, 51));
  dir.write(prefix + "-labels-idx1-ubyte", labelsFile(std::move(labels)));
}

TEST(MnistData, LoadsAndScalesSmallFiles) {
  test::TempDir dir;
  writeSplit(dir, "train", 3, std::string("\x05\x00\x04", 3));
  writeSplit(dir, "t10k", 2, "\x07\x02");
  MnistData d = loadMnist(dir.path().string());
  EXPECT_EQ(d.dir, dir.path().string());
  ASSERT_EQ(d.train.x.type(), (TensorType{DType::F32, {3, 1, 28, 28}}));
  ASSERT_EQ(d.train.y.type(), (TensorType{DType::I32, {3}}));
  EXPECT_EQ(d.train.size(), 3);
  EXPECT_FLOAT_EQ(d.train.x.data<float>()[0], 0.2f); // 51 / 255
  EXPECT_FLOAT_EQ(d.train.x.data<float>()[1], 1.0f);
  EXPECT_EQ(d.train.y.data<int32_t>()[0], 5);
  EXPECT_EQ(d.train.y.data<int32_t>()[2], 4);
  EXPECT_EQ(d.test.size(), 2);
  EXPECT_EQ(d.test.y.data<int32_t>()[1], 2);
}

TEST(MnistData, CountMismatchIsAnError) {
  test::TempDir dir;
  writeSplit(dir, "train", 3, std::string("\x05\x00", 2));
  try {
    loadMnistSplit(dir.path().string(), "train");
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), "mnist: " + dir.file("train-images-idx3-ubyte") + " holds 3 images but " +
                                         dir.file("train-labels-idx1-ubyte") + " holds 2 labels");
  }
}

TEST(MnistData, MissingFilesNameTheFolderAndTheScript) {
  test::TempDir dir;
  std::string where = dir.file("nothing-here");
  try {
    loadMnist(where);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()),
              "mnist: train-images-idx3-ubyte.gz not found in " + where +
                  " (the folder does not exist) (the folder is --data DIR, else $MNIST_DIR, else ./data/mnist); "
                  "download the dataset with `scripts/download_mnist.sh " + where + "`");
  }
}

TEST(MnistData, FolderChoiceFollowsFlagThenEnvironmentThenDefault) {
  std::string how;
  EXPECT_EQ(mnistDataDir("/x/y", &how), "/x/y");
  EXPECT_EQ(how, "--data");
  const char *old = std::getenv("MNIST_DIR");
  std::string saved = old ? old : "";
  setenv("MNIST_DIR", "/from/env", 1);
  EXPECT_EQ(mnistDataDir("", &how), "/from/env");
  EXPECT_EQ(how, "$MNIST_DIR");
  unsetenv("MNIST_DIR");
  EXPECT_EQ(mnistDataDir("", &how), "data/mnist");
  EXPECT_EQ(how, "the default");
  if (old)
    setenv("MNIST_DIR", saved.c_str(), 1);
}

TEST(MnistData, RealDatasetMatchesPublishedFigures) {
  const char *env = std::getenv("MNIST_DIR");
  if (!env || !*env)
    GTEST_SKIP() << "MNIST_DIR is not set; run scripts/download_mnist.sh DIR and set MNIST_DIR=DIR to check the "
                    "real dataset";
  MnistData d = loadMnist(env);
  ASSERT_EQ(d.train.x.type(), (TensorType{DType::F32, {60000, 1, 28, 28}}));
  ASSERT_EQ(d.test.x.type(), (TensorType{DType::F32, {10000, 1, 28, 28}}));
  const int32_t first[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(d.train.y.data<int32_t>()[i], first[i]) << "train label " << i;
  int counts[10] = {};
  for (int64_t i = 0; i < 10000; ++i)
    ++counts[d.test.y.data<int32_t>()[i]];
  const int want[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  for (int c = 0; c < 10; ++c)
    EXPECT_EQ(counts[c], want[c]) << "test images of class " << c;
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < d.train.x.numel(); i += 97) {
    lo = std::min(lo, d.train.x.data<float>()[i]);
    hi = std::max(hi, d.train.x.data<float>()[i]);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
}

} // namespace
} // namespace kiln
