// examples/mnist/Trainer.h - `kiln mnist`: train, evaluate, benchmark and compare
// the report's MNIST models on any backend.
//
// The train step and the eval step of a model are compiled once; a second
// train step is compiled for the last, smaller batch of an epoch (as Keras
// trains 469 steps of 60,000 images at batch 128), sharing parameters and
// optimizer state. Everything is seeded: shuffling is a pure function of
// (seed, epoch) and dropout masks of (seed, global step), so a run resumed
// from an epoch-end checkpoint ends with the same weights, bit for bit.
// Steps are pipelined: step k+1's batch is written and the step begun before
// step k's loss is read (Executable::start/wait), so a GPU computes one step
// while the host prepares the next; the figures are those of running the
// steps one at a time.
#ifndef KILN_EXAMPLES_MNIST_TRAINER_H
#define KILN_EXAMPLES_MNIST_TRAINER_H

#include "runtime/Mnist.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace kiln::mnist {

/// What `kiln mnist` was asked to do.
struct TrainOptions {
  std::string model = "cnn";  ///< cnn | keras-example | mlp | linear
  std::string device = "cpu"; ///< interp | cpu | cuda
  int epochs = 30;
  int64_t batchSize = 128;
  uint64_t seed = 1;
  int threads = 0;            ///< CPU workers, 0 = one per core
  int64_t limitTrain = 0;     ///< train on the first N images only (0: all)
  int64_t limitTest = 0;      ///< evaluate on the first N test images only (0: all)
  std::string outDir;         ///< where outputs go ("" = ./runs/<model>-<timestamp>)
  bool writeOutputs = true;   ///< false: no files at all (benchmarks, comparisons)
  std::string resume;         ///< checkpoint to continue from
  bool interactive = false;   ///< redraw the progress bar in place
  bool verbose = false;
  bool tf32 = false;
  bool checkNumerics = false; ///< fail at the first NaN/Inf, naming the op (--check-numerics)
};

/// One row of metrics.csv.
struct EpochRecord {
  int epoch = 0;
  double loss = 0, acc = 0, valLoss = 0, valAcc = 0, seconds = 0;
};

/// The outcome of a training run, the report's results table in numbers.
struct TrainReport {
  std::string model;
  int64_t params = 0;
  int epochs = 0;
  double trainSeconds = 0; ///< wall time of the training steps and per-epoch evaluation
  double trainAcc = 0;     ///< accuracy on the (limited) training set, eval mode, at the end
  double testAcc = 0;
  std::vector<EpochRecord> history;
  std::string outDir;
};

/// Trains as configured, printing the summary, one bar per epoch and the results table.
TrainReport trainMnist(const TrainOptions &opt, const MnistData &data, std::ostream &out);

/// The order in which epoch `epoch` (from 0) visits the first `n` training
/// images: a pure function of (n, seed, epoch), the same on every platform.
std::vector<int64_t> epochOrder(int64_t n, uint64_t seed, int epoch);

/// Evaluates a checkpoint on the test set; prints and returns the test accuracy.
double evaluateCheckpoint(const TrainOptions &opt, const std::string &checkpoint, const MnistData &data,
                          std::ostream &out);

/// Runs `steps` train steps (after 3 warm-up steps) on real batches and returns
/// the median step time in milliseconds.
double benchmarkTrainStep(const TrainOptions &opt, const MnistData &data, int steps, std::ostream &out);

/// Trains every model for opt.epochs and prints one comparison table.
std::vector<TrainReport> compareModels(const TrainOptions &opt, const MnistData &data, std::ostream &out);

/// The report's results table for one run.
std::string resultsTable(const TrainReport &r);

} // namespace kiln::mnist

#endif // KILN_EXAMPLES_MNIST_TRAINER_H
