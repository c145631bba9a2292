// tests/examples/MnistTrainTest.cpp - end-to-end training on real MNIST (skipped without MNIST_DIR).
//
// Short runs only: the suite must stay fast on two cores. The figures asserted
// are far below what the models reach, but far above chance (10%), so a broken
// gradient, optimizer or data path fails them.
#include "examples/mnist/Models.h"
#include "examples/mnist/Trainer.h"
#include "ir/Error.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
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

/// The loss of every step of the first epoch of `model` on the first `n`
/// training images, each step run and read before the next is written: the
/// oracle of the trainer's pipeline (which begins step k+1 before it reads
/// step k). Same model, order, batches, step keys and backend as trainMnist.
std::vector<double> oneStepAtATime(const TrainOptions &o, const MnistData &data, int64_t n) {
  Model model = makeModel(o.model, o.seed);
  BuiltModel built = model.build(o.batchSize);
  CompileOptions co;
  co.backend = o.device;
  std::unique_ptr<Executable> full = compile(*built.train, co), rest;
  if (n % o.batchSize)
    rest = compile(*model.trainGraph(n % o.batchSize), co);
  for (const auto *init : {&built.initialParams, &built.initialState})
    for (const auto &[name, t] : *init)
      full->set(name, t);
  auto copyWeights = [](Executable &from, Executable &to) {
    for (const auto *list : {&to.graph().params(), &to.graph().states()})
      for (const Node *p : *list)
        to.set(p->name(), from.get(p->name()));
  };
  std::vector<int64_t> order = epochOrder(n, o.seed, 0);
  std::vector<double> losses;
  for (int64_t first = 0, step = 0; first < n; first += o.batchSize, ++step) {
    int64_t count = std::min(o.batchSize, n - first);
    Executable &e = count == o.batchSize ? *full : *rest;
    if (&e == rest.get())
      copyWeights(*full, e);
    HostTensor x(TensorType{DType::F32, Shape{count, 1, 28, 28}}), y(TensorType{DType::I32, Shape{count}});
    for (int64_t i = 0; i < count; ++i) {
      int64_t row = order[static_cast<size_t>(first + i)];
      std::memcpy(x.data<float>() + i * 784, data.train.x.data<float>() + row * 784, 784 * sizeof(float));
      y.data<int32_t>()[i] = data.train.y.data<int32_t>()[row];
    }
    e.set("x", x);
    e.set("y", y);
    if (e.graph().findSignatureNode("key"))
      e.set("key", HostTensor::scalar(DType::I64, static_cast<double>(step)));
    if (e.graph().findSignatureNode("lr"))
      e.set("lr", HostTensor::scalar(DType::F32, built.learningRate));
    e.run();
    losses.push_back(e.output(0).at(0));
    if (&e == rest.get())
      copyWeights(e, *full);
  }
  return losses;
}

/// Trains one epoch of the mlp on `backend` and compares each step's loss in
/// batch_loss.csv with the oracle's (the csv keeps 6 decimals).
void expectEachStepsOwnLoss(const MnistData &data, const std::string &backend) {
  TrainOptions o;
  o.model = "mlp";
  o.device = backend;
  o.epochs = 1;
  o.limitTrain = 1000; // 8 steps, the last one partial (104 images)
  o.limitTest = 1000;
  fs::path dir = freshDir("losses-" + backend);
  o.outDir = dir.string();
  std::ostringstream log;
  trainMnist(o, data, log);
  std::vector<double> want = oneStepAtATime(o, data, o.limitTrain), got;
  std::ifstream csv(dir / "batch_loss.csv");
  std::string line;
  std::getline(csv, line); // header
  while (std::getline(csv, line))
    got.push_back(std::stod(line.substr(line.find(',') + 1)));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-6) << "step " << i + 1 << " of " << want.size();
  fs::remove_all(dir);
}

TEST_F(MnistTrain, EachStepReportsItsOwnLoss) { expectEachStepsOwnLoss(*data, fastBackend()); }

TEST_F(MnistTrain, EachStepReportsItsOwnLossOnCuda) {
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  expectEachStepsOwnLoss(*data, "cuda");
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
