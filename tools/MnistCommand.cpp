// tools/MnistCommand.cpp - `kiln mnist`: the flagship, training the report's MNIST models.
#include "tools/Command.h"

#include "examples/mnist/Models.h"
#include "examples/mnist/Trainer.h"
#include "runtime/Mnist.h"

#include <iostream>
#include <memory>
#include <unistd.h>

namespace kiln::tools {
namespace {

struct MnistArgs {
  mnist::TrainOptions train;
  std::string data;
  std::string evaluate;
  bool compare = false;
  int benchmark = 0;
  bool noOutputs = false;
};

int runMnist(MnistArgs &a) {
  a.train.interactive = ::isatty(STDOUT_FILENO) != 0;
  a.train.writeOutputs = !a.noOutputs;
  MnistData data = loadMnist(a.data);
  if (a.benchmark > 0) {
    double ms = mnist::benchmarkTrainStep(a.train, data, a.benchmark, std::cout);
    std::cout << "train_step_ms_median=" << formatNumber(ms) << std::endl;
    return 0;
  }
  if (!a.evaluate.empty()) {
    mnist::evaluateCheckpoint(a.train, a.evaluate, data, std::cout);
    return 0;
  }
  if (a.compare) {
    mnist::compareModels(a.train, data, std::cout);
    return 0;
  }
  mnist::trainMnist(a.train, data, std::cout);
  return 0;
}

CommandAction setupMnist(CLI::App &sub) {
  auto a = std::make_shared<MnistArgs>();
  std::string models;
  for (const std::string &m : mnist::modelNames())
    models += (models.empty() ? "" : "|") + m;
  sub.description(
      "Train one of the report's MNIST models (default: the 911,664-parameter CNN with Adadelta, 30 epochs,\n"
      "batch 128), printing the model summary, a progress bar per epoch and the results table. Outputs go to\n"
      "--out: metrics.csv, batch_loss.csv, loss.png, model.dot/model.png, model.kir, predictions.txt, checkpoint.safetensors.\n"
      "Data: the four MNIST IDX .gz files from --data, else $MNIST_DIR, else ./data/mnist\n"
      "(scripts/download_mnist.sh DIR fetches them).");
  sub.add_option("--model", a->train.model, "model to train: " + models)->capture_default_str();
  sub.add_option("--device", a->train.device, "backend: cpu (LLVM JIT), cuda (NVRTC) or interp (reference)")
      ->capture_default_str();
  sub.add_option("--epochs", a->train.epochs, "number of epochs")->capture_default_str();
  sub.add_option("--batch-size", a->train.batchSize, "images per train step")->capture_default_str();
  sub.add_option("--seed", a->train.seed, "seed of initial weights, shuffling and dropout")->capture_default_str();
  sub.add_option("--threads", a->train.threads, "CPU worker threads (0: one per core)")->capture_default_str();
  sub.add_option("--data", a->data, "folder holding the four MNIST .gz files");
  sub.add_option("--out", a->train.outDir, "output folder (default ./runs/<model>-<timestamp>)");
  sub.add_flag("--no-outputs", a->noOutputs, "write no output files");
  sub.add_option("--resume", a->train.resume, "continue training from this checkpoint (safetensors)");
  sub.add_option("--evaluate", a->evaluate, "evaluate this checkpoint on the test set and exit");
  sub.add_flag("--compare", a->compare, "train every model for --epochs and print one comparison table");
  sub.add_option("--benchmark", a->benchmark,
                 "time N train steps (after 3 warm-up steps); prints train_step_ms_median=<ms> last");
  sub.add_option("--limit-train", a->train.limitTrain, "train on the first N training images only (0: all)");
  sub.add_option("--limit-test", a->train.limitTest, "evaluate on the first N test images only (0: all)");
  sub.add_flag("--tf32", a->train.tf32, "CUDA: allow TF32 tensor-core math (off by default)");
  sub.add_flag("--check-numerics", a->train.checkNumerics,
               "after every step verify that no NaN or infinity appeared; the error names the first op producing "
               "one (slower)");
  sub.add_flag("-v,--verbose", a->train.verbose, "report compile times");
  return [a] { return runMnist(*a); };
}

} // namespace

KILN_REGISTER_COMMAND(mnist, CommandSpec{"mnist", "train the report's MNIST models (the flagship)", 35, setupMnist});

} // namespace kiln::tools
