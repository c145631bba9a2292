// tests/examples/MnistTrainTest.cpp - end-to-end training on real MNIST (skipped without MNIST_DIR).
//
// Short runs only: the suite must stay fast on two cores. The figures asserted
// are far below what the models reach, but far above chance (10%), so a broken
// gradient, optimizer or data path fails them.
#include "examples/mnist/Trainer.h"
#include "ir/Error.h"
#include "runtime/Executable.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::mnist {
namespace {
namespace fs = std::filesystem;

/// The real data, loaded once; null when MNIST_DIR is not set.
const MnistData *realData() {
  static const MnistData *data = [] () -> const MnistData * {
    const char *dir = std::getenv("MNIST_DIR");
    if (!dir || !*dir)
      return nullptr;
    return new MnistData(loadMnist(dir));
  }();
  return data;
}

/// The fastest backend of this build for whole-model training.
std::string fastBackend() {
  auto b = availableBackends();
  return std::find(b.begin(), b.end(), "cpu") != b.end() ? "cpu" : "interp";
}

fs::path freshDir(const std::string &name) {
  fs::path p = fs::temp_directory_path() / ("kiln-mnist-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

/// Real-data tests: skipped, with the reason, when MNIST_DIR is not set.
class MnistTrain : public ::testing::Test {
protected:
  void SetUp() override {
    data = realData();
    if (!data)
      GTEST_SKIP() << "MNIST_DIR is not set; real-data training tests need the four MNIST files";
  }
  const MnistData *data = nullptr;
};

TEST_F(MnistTrain, LinearLearnsOnInterpreter) {
  TrainOptions o;
  o.model = "linear";
  o.device = "interp";
  o.epochs = 1;
  o.limitTrain = 6000;
  o.limitTest = 2000;
  o.writeOutputs = false;
  std::ostringstream log;
  TrainReport r = trainMnist(o, *data, log);
  EXPECT_GT(r.testAcc, 0.70) << log.str();
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_LT(r.history[0].loss, 1.6) << log.str();
  EXPECT_NE(log.str().find("47/47 ["), std::string::npos) << log.str(); // ceil(6000/128) steps
}

TEST_F(MnistTrain, ResumeEqualsUninterrupted) {
  TrainOptions o;
  o.model = "mlp";
  o.device = fastBackend();
  o.limitTrain = 1000; // 8 steps, the last one partial (1000 = 7*128 + 104)
  o.limitTest = 1000;
  std::ostringstream log;

  fs::path full = freshDir("full"), half = freshDir("half");
  o.epochs = 2;
  o.outDir = full.string();
  trainMnist(o, *data, log);

  o.epochs = 1;
  o.outDir = half.string();
  trainMnist(o, *data, log);
  o.epochs = 2;
  o.resume = (half / "checkpoint.safetensors").string();
  trainMnist(o, *data, log);

  SafetensorsFile a = readSafetensors((full / "checkpoint.safetensors").string());
  SafetensorsFile b = readSafetensors((half / "checkpoint.safetensors").string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  EXPECT_EQ(a.metadata.at("epoch"), "2");
  EXPECT_EQ(b.metadata.at("epoch"), "2");
  for (const auto &[name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name;
    const HostTensor &u = b.tensors.at(name);
    ASSERT_EQ(t.byteSize(), u.byteSize()) << name;
    EXPECT_EQ(std::memcmp(t.bytes(), u.bytes(), t.byteSize()), 0) << name << " differs after resume";
  }
  fs::remove_all(full);
  fs::remove_all(half);
}

TEST_F(MnistTrain, WritesEveryOutputFile) {
  TrainOptions o;
  o.model = "linear";
  o.device = fastBackend();
  o.epochs = 1;
  o.limitTrain = 512;
  fs::path dir = freshDir("outputs");
  o.outDir = dir.string();
  std::ostringstream log;
  trainMnist(o, *data, log);

  for (const char *f : {"metrics.csv", "batch_loss.csv", "loss.png", "model.dot", "model.kir", "predictions.txt", "checkpoint.safetensors"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream png(dir / "loss.png", std::ios::binary);
  char sig[8] = {};
  png.read(sig, 8);
  EXPECT_EQ(std::string(sig, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::ifstream preds(dir / "predictions.txt");
  int lines = 0;
  for (std::string line; std::getline(preds, line); ++lines)
    ASSERT_TRUE(line.size() == 1 && line[0] >= '0' && line[0] <= '9') << "line " << lines << ": " << line;
  EXPECT_EQ(lines, 10000);
  std::ifstream csv(dir / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,loss,acc,val_loss,val_acc,seconds");
  SafetensorsFile ck = readSafetensors((dir / "checkpoint.safetensors").string());
  EXPECT_EQ(ck.metadata.at("model"), "linear");
  EXPECT_EQ(ck.tensors.at("dense.kernel").shape(), (Shape{784, 10}));
  fs::remove_all(dir);
}

TEST_F(MnistTrain, ResumeRejectsOtherModel) {
  TrainOptions o;
  o.model = "linear";
  o.device = "interp";
  o.epochs = 1;
  o.limitTrain = 256;
  o.limitTest = 1000;
  fs::path dir = freshDir("other");
  o.outDir = dir.string();
  std::ostringstream log;
  trainMnist(o, *data, log);
  o.model = "mlp";
  o.resume = (dir / "checkpoint.safetensors").string();
  try {
    trainMnist(o, *data, log);
    FAIL() << "resuming an mlp from a linear checkpoint should fail";
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint of model 'linear'"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// The results table rounds each accuracy once; its error column is the
// complement, so 59,990 of 60,000 right reads 99.98 and 0.02 (not 0.01 from
// rounding the error on its own).
TEST(ResultsTable, ErrorAndAccuracyAddUpTo100) {
  TrainReport r;
  r.model = "cnn";
  r.trainSeconds = 12.34;
  r.trainAcc = 59990.0 / 60000;
  r.testAcc = 9933.0 / 10000;
  std::string t = resultsTable(r);
  EXPECT_NE(t.find("0.02"), std::string::npos) << t;
  EXPECT_NE(t.find("99.98"), std::string::npos) << t;
  EXPECT_NE(t.find("0.67"), std::string::npos) << t;
  EXPECT_NE(t.find("99.33"), std::string::npos) << t;
  EXPECT_NE(t.find("12.3"), std::string::npos) << t;
  r.trainAcc = 59991.0 / 60000; // 99.985%: rounds to 99.99 and 0.01 together, or to 99.98 and 0.02
  t = resultsTable(r);
  EXPECT_TRUE((t.find("99.99") != std::string::npos && t.find("0.01") != std::string::npos) ||
              (t.find("99.98") != std::string::npos && t.find("0.02") != std::string::npos))
      << t;
}

} // namespace
} // namespace kiln::mnist
