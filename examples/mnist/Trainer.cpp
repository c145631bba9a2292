// examples/mnist/Trainer.cpp - the training loop, evaluation, checkpoints and outputs of `kiln mnist`.
#include "examples/mnist/Trainer.h"

#include "examples/mnist/LossPlot.h"
#include "examples/mnist/Models.h"
#include "examples/mnist/Progress.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "runtime/Executable.h"
#include "runtime/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <type_traits>

namespace kiln::mnist {

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Images per eval step; the last partial batch is padded with zeros.
constexpr int64_t kEvalBatch = 1000;

/// Makes input `name` of `exe`'s next step the rows `rows` of `table` (zeros
/// after them), binding the table first unless it is bound already: a GPU
/// backend then holds the split in device memory and gathers each batch there.
void selectRowsOf(Executable &exe, const std::string &name, const HostTensor &table, std::span<const int64_t> rows) {
  const HostTensor *bound = exe.boundRows(name);
  if (!bound || bound->bytes() != table.bytes())
    exe.bindRows(name, table);
  exe.selectRows(name, rows);
}

/// Makes rows `rows` of split the x (and y) inputs of `exe`'s next step:
/// selected from the split bound to `exe`, or, unless `resident`, written on
/// the host.
void fillBatch(Executable &exe, const MnistSplit &split, std::span<const int64_t> rows, bool labels,
               bool resident = true) {
  auto fill = [&](const std::string &name, const HostTensor &table) {
    if (resident)
      selectRowsOf(exe, name, table, rows);
    else
      exe.writeRows(name, table, rows);
  };
  fill("x", split.x);
  if (labels)
    fill("y", split.y);
}

void setScalarInput(Executable &exe, const std::string &name, DType t, double v) {
  if (exe.graph().findSignatureNode(name))
    exe.set(name, HostTensor::scalar(t, v));
}

/// Copies every parameter and state value `dst` has from `src` (on a GPU,
/// device to device).
void copyWeights(const Executable &src, Executable &dst) {
  std::vector<std::string> names;
  for (const auto *list : {&dst.graph().params(), &dst.graph().states()})
    for (const Node *n : *list)
      names.push_back(n->name());
  dst.copyFrom(src, names);
}

struct Accuracy {
  double loss = 0, acc = 0;
  std::vector<int32_t> preds;
};

/// Evaluates `exe` (an eval step) on the first `limit` images of `split`.
/// Batch k+1 is written and begun before batch k's outputs are read, so a
/// device computes one batch while the host prepares the next.
Accuracy evaluate(Executable &exe, const MnistSplit &split, int64_t limit) {
  int64_t n = limit > 0 ? std::min(limit, split.size()) : split.size();
  Accuracy a;
  a.preds.reserve(static_cast<size_t>(n));
  double lossSum = 0;
  int64_t correct = 0;
  auto consume = [&](int64_t start) { // the outputs of the batch at `start`, once waited for
    int64_t count = std::min(kEvalBatch, n - start);
    HostTensor probs = exe.output(0), preds = exe.output(1);
    const int64_t classes = probs.shape().back();
    for (int64_t i = 0; i < count; ++i) {
      int32_t label = split.y.data<int32_t>()[start + i];
      double p = probs.at(i * classes + label);
      lossSum += -std::log(std::clamp(p, 1e-7, 1.0 - 1e-7)); // Keras clips probabilities the same way
      int32_t pred = static_cast<int32_t>(preds.at(i));
      correct += pred == label;
      a.preds.push_back(pred);
    }
  };
  std::vector<int64_t> rows;
  for (int64_t start = 0; start < n; start += kEvalBatch) {
    rows.resize(static_cast<size_t>(std::min(kEvalBatch, n - start)));
    std::iota(rows.begin(), rows.end(), start);
    fillBatch(exe, split, rows, false);
    exe.start();
    if (start > 0) {
      exe.wait();
      consume(start - kEvalBatch);
    }
  }
  if (n > 0) {
    exe.wait();
    consume((n - 1) / kEvalBatch * kEvalBatch);
  }
  a.loss = n ? lossSum / n : 0;
  a.acc = n ? static_cast<double>(correct) / n : 0;
  return a;
}

std::string defaultOutDir(const std::string &model) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + model + "-" + buf;
}

void writeText(const fs::path &p, const std::string &text) {
  std::ofstream f(p);
  f << text;
  KILN_RUNTIME_CHECK(f.good()) << p.string() << ": cannot write";
}

std::string historyCsv(const std::vector<EpochRecord> &h) {
  std::ostringstream os;
  os << "epoch,loss,acc,val_loss,val_acc,seconds\n";
  for (const EpochRecord &r : h)
    os << r.epoch << "," << fixed(r.loss, 6) << "," << fixed(r.acc, 6) << "," << fixed(r.valLoss, 6) << ","
       << fixed(r.valAcc, 6) << "," << fixed(r.seconds, 3) << "\n";
  return os.str();
}

std::vector<EpochRecord> parseHistory(const std::string &csv) {
  std::vector<EpochRecord> out;
  std::istringstream is(csv);
  std::string line;
  std::getline(is, line); // header
  while (std::getline(is, line)) {
    EpochRecord r;
    if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.loss, &r.acc, &r.valLoss, &r.valAcc,
                    &r.seconds) == 6)
      out.push_back(r);
  }
  return out;
}

/// A model's compiled steps: train (batch B), train for the last partial batch, eval.
class Session {
public:
  Session(const TrainOptions &opt, int64_t trainImages) : opt_(opt), model_(makeModel(opt.model, opt.seed)) {
    KILN_USER_CHECK(opt.batchSize > 0) << "--batch-size must be positive, got " << opt.batchSize;
    CompileOptions co;
    co.backend = opt.device;
    co.threads = opt.threads;
    co.verbose = opt.verbose;
    co.tf32 = opt.tf32;
    co.checkNumerics = opt.checkNumerics;
    auto start = Clock::now();
    built_ = model_.build(opt.batchSize);
    train_ = compile(*built_.train, co);
    int64_t rest = trainImages % opt.batchSize;
    if (rest)
      trainRest_ = compile(*model_.trainGraph(rest), co);
    eval_ = compile(*model_.evalGraph(kEvalBatch), co);
    compileSeconds_ = secondsSince(start);
    for (const auto &[name, t] : built_.initialParams)
      train_->set(name, t);
    for (const auto &[name, t] : built_.initialState)
      train_->set(name, t);
  }

  Model &model() { return model_; }
  BuiltModel &built() { return built_; }
  Executable &train() { return *train_; }
  Executable &eval() { return *eval_; }
  double compileSeconds() const { return compileSeconds_; }

  /// A train step begun and not yet finished.
  struct Begun {
    Executable *exe = nullptr;
    bool partial = false;
  };

  /// Writes the batch `rows` and begins a step on it; a step begun before
  /// may still be running (finish() it after this: steps finish in order).
  Begun begin(const MnistSplit &split, std::span<const int64_t> rows, int64_t globalStep) {
    bool partial = static_cast<int64_t>(rows.size()) != opt_.batchSize;
    Executable &exe = partial ? *trainRest_ : *train_;
    if (partial)
      copyWeights(*train_, exe); // waits for the steps in flight
    // The partial batch's step runs once per epoch: its rows are written on
    // the host rather than from a second copy of the split on the device.
    fillBatch(exe, split, rows, true, !partial);
    setScalarInput(exe, "key", DType::I64, static_cast<double>(globalStep));
    setScalarInput(exe, "lr", DType::F32, built_.learningRate);
    exe.start();
    return {&exe, partial};
  }

  /// Waits for the oldest step begun; returns its (loss, correct count).
  std::pair<double, double> finish(const Begun &b) {
    b.exe->wait();
    std::pair<double, double> r{b.exe->output(0).at(0), b.exe->output(1).at(0)};
    if (b.partial)
      copyWeights(*b.exe, *train_);
    return r;
  }

  /// One step on `rows`, waited for; returns (loss, correct count).
  std::pair<double, double> step(const MnistSplit &split, std::span<const int64_t> rows, int64_t globalStep) {
    return finish(begin(split, rows, globalStep));
  }

  /// Binds the splits to the steps that read them (a GPU uploads them here,
  /// once): the training images and labels to the full-batch train step, the
  /// test images to the eval step.
  void bindData(const MnistData &data) {
    train_->bindRows("x", data.train.x);
    train_->bindRows("y", data.train.y);
    eval_->bindRows("x", data.test.x);
  }

  /// Makes the eval step see the current weights.
  void syncEval() { copyWeights(*train_, *eval_); }

  int64_t paramCount() const {
    int64_t n = 0;
    for (const auto &p : built_.params)
      n += p.type.numel();
    return n;
  }

private:
  TrainOptions opt_;
  Model model_;
  BuiltModel built_;
  std::unique_ptr<Executable> train_, trainRest_, eval_;
  double compileSeconds_ = 0;
};

void saveCheckpoint(const std::string &path, Session &s, const TrainOptions &opt, int epochsDone,
                    const std::vector<EpochRecord> &history) {
  SafetensorsFile f;
  for (const auto *list : {&s.train().graph().params(), &s.train().graph().states()})
    for (const Node *n : *list)
      f.tensors.emplace(n->name(), s.train().get(n->name()));
  f.metadata = {{"format", "kiln-checkpoint-1"}, {"model", opt.model},
                {"epoch", std::to_string(epochsDone)}, {"seed", std::to_string(opt.seed)},
                {"batch_size", std::to_string(opt.batchSize)}, {"history", historyCsv(history)}};
  writeSafetensors(path, f);
}

/// Loads a checkpoint into the session; returns the number of epochs it had done.
int loadCheckpoint(const std::string &path, Session &s, const TrainOptions &opt, std::vector<EpochRecord> *history) {
  SafetensorsFile f = readSafetensors(path);
  auto meta = [&](const std::string &k) {
    auto it = f.metadata.find(k);
    KILN_USER_CHECK(it != f.metadata.end()) << path << ": not a kiln checkpoint (no '" << k << "' in metadata)";
    return it->second;
  };
  KILN_USER_CHECK(meta("model") == opt.model)
      << path << ": checkpoint of model '" << meta("model") << "', but --model is '" << opt.model << "'";
  for (const auto *list : {&s.train().graph().params(), &s.train().graph().states()})
    for (const Node *n : *list) {
      auto it = f.tensors.find(n->name());
      KILN_USER_CHECK(it != f.tensors.end()) << path << ": checkpoint lacks '" << n->name() << "'";
      s.train().set(n->name(), it->second);
    }
  if (history)
    *history = parseHistory(f.metadata.count("history") ? f.metadata.at("history") : "");
  return std::stoi(meta("epoch"));
}

void renderGraph(const fs::path &dir, const Graph &g) {
  std::ofstream dot(dir / "model.dot");
  writeDot(g, dot);
  dot.close();
  std::string cmd = "dot -Tpng '" + (dir / "model.dot").string() + "' -o '" + (dir / "model.png").string() +
                    "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "note: Graphviz 'dot' is not installed; model.png not rendered (model.dot is there)\n");
}
} // namespace

std::vector<int64_t> epochOrder(int64_t n, uint64_t seed, int epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = n - 1; i > 0; --i) { // Fisher-Yates with our own draw, identical on every platform
    int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

std::string resultsTable(const TrainReport &r) {
  // Accuracy rounded once to hundredths of a percent; the error is its
  // complement, so the two columns always add up to 100.
  auto pair = [](double acc) {
    long long hundredths = std::llround(acc * 10000);
    return std::pair{fixed(static_cast<double>(10000 - hundredths) / 100, 2), fixed(static_cast<double>(hundredths) / 100, 2)};
  };
  auto [trainErr, trainAcc] = pair(r.trainAcc);
  auto [testErr, testAcc] = pair(r.testAcc);
  return formatTable({"model", "training seconds", "train error %", "train accuracy %", "test error %",
                      "test accuracy %"},
                     {{r.model, fixed(r.trainSeconds, 1), trainErr, trainAcc, testErr, testAcc}});
}

TrainReport trainMnist(const TrainOptions &opt, const MnistData &data, std::ostream &out) {
  KILN_USER_CHECK(opt.epochs >= 0) << "--epochs must not be negative, got " << opt.epochs;
  const int64_t n = opt.limitTrain > 0 ? std::min(opt.limitTrain, data.train.size()) : data.train.size();
  Session s(opt, n);
  s.bindData(data);
  out << s.model().summary() << "\n";
  if (opt.verbose)
    out << "compiled train and eval steps for '" << opt.device << "' in " << fixed(s.compileSeconds(), 2) << " s\n";

  TrainReport report;
  report.model = opt.model;
  report.params = s.paramCount();
  int firstEpoch = 0;
  if (!opt.resume.empty()) {
    firstEpoch = loadCheckpoint(opt.resume, s, opt, &report.history);
    out << "resumed from " << opt.resume << " after epoch " << firstEpoch << "\n";
  }
  fs::path dir;
  if (opt.writeOutputs) {
    dir = opt.outDir.empty() ? defaultOutDir(opt.model) : opt.outDir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    KILN_RUNTIME_CHECK(!ec) << dir.string() << ": cannot create output folder: " << ec.message();
    writeText(dir / "model.kir", toText(s.train().graph()));
    renderGraph(dir, s.eval().graph());
    report.outDir = dir.string();
  }

  const int64_t steps = (n + opt.batchSize - 1) / opt.batchSize;
  std::vector<float> losses;
  auto trainStart = Clock::now();
  for (int epoch = firstEpoch; epoch < opt.epochs; ++epoch) {
    out << "Epoch " << epoch + 1 << "/" << opt.epochs << "\n";
    auto epochStart = Clock::now();
    std::vector<int64_t> order = epochOrder(n, opt.seed, epoch);
    ProgressBar bar(out, steps, opt.interactive);
    double lossSum = 0, correct = 0;
    int64_t seen = 0;
    auto rowsOf = [&](int64_t st) {
      int64_t first = st * opt.batchSize;
      return std::span(order).subspan(first, std::min(opt.batchSize, n - first));
    };
    // Step st+1 is written and begun before step st is finished and read, so
    // a device computes one step while the host prepares the next.
    Session::Begun running;
    for (int64_t st = 0; st <= steps; ++st) {
      Session::Begun next = st < steps ? s.begin(data.train, rowsOf(st), epoch * steps + st) : Session::Begun{};
      if (st > 0) {
        auto [loss, right] = s.finish(running);
        int64_t count = static_cast<int64_t>(rowsOf(st - 1).size());
        losses.push_back(static_cast<float>(loss));
        lossSum += loss * count;
        correct += right;
        seen += count;
        bar.update(st, lossSum / seen, correct / seen);
      }
      running = next;
    }
    s.syncEval();
    Accuracy val = evaluate(s.eval(), data.test, opt.limitTest);
    EpochRecord rec{epoch + 1, lossSum / std::max<int64_t>(seen, 1), correct / std::max<int64_t>(seen, 1), val.loss,
                    val.acc, secondsSince(epochStart)};
    report.history.push_back(rec);
    bar.finish(rec.loss, rec.acc, " - val_loss: " + fixed(val.loss, 4) + " - val_acc: " + fixed(val.acc, 4));
    if (opt.writeOutputs) {
      writeText(dir / "metrics.csv", historyCsv(report.history));
      saveCheckpoint((dir / "checkpoint.safetensors").string(), s, opt, epoch + 1, report.history);
    }
  }
  report.trainSeconds = secondsSince(trainStart);
  report.epochs = opt.epochs;

  s.syncEval();
  Accuracy test = evaluate(s.eval(), data.test, opt.limitTest);
  int64_t trainEval = opt.limitTrain > 0 ? n : 0;
  report.trainAcc = evaluate(s.eval(), data.train, trainEval).acc;
  report.testAcc = test.acc;
  out << "\n" << resultsTable(report);
  if (opt.writeOutputs) {
    std::string preds;
    for (int32_t p : test.preds)
      preds += std::to_string(p) + "\n";
    writeText(dir / "predictions.txt", preds);
    std::string curve = "step,loss\n";
    for (size_t i = 0; i < losses.size(); ++i)
      curve += std::to_string(i + 1) + "," + fixed(losses[i], 6) + "\n";
    writeText(dir / "batch_loss.csv", curve);
    if (!losses.empty())
      writeLossPlot((dir / "loss.png").string(), losses, static_cast<int>(steps),
                    "training loss per batch (" + opt.model + ")");
    out << "outputs in " << dir.string() << "\n";
  }
  return report;
}

double evaluateCheckpoint(const TrainOptions &opt, const std::string &checkpoint, const MnistData &data,
                          std::ostream &out) {
  Session s(opt, opt.batchSize);
  int epochs = loadCheckpoint(checkpoint, s, opt, nullptr);
  s.syncEval();
  Accuracy a = evaluate(s.eval(), data.test, opt.limitTest);
  out << checkpoint << " (" << opt.model << ", " << epochs << " epochs): test loss " << fixed(a.loss, 4)
      << ", test accuracy " << fixed(100 * a.acc, 2) << "% (error " << fixed(100 * (1 - a.acc), 2) << "%)\n";
  return a.acc;
}

double benchmarkTrainStep(const TrainOptions &opt, const MnistData &data, int steps, std::ostream &out) {
  KILN_USER_CHECK(steps > 0) << "--benchmark needs a positive step count, got " << steps;
  Session s(opt, opt.batchSize);
  out << "compiled " << opt.model << " train step (batch " << opt.batchSize << ") for '" << opt.device << "' in "
      << fixed(s.compileSeconds(), 3) << " s\n";
  std::vector<int64_t> order = epochOrder(data.train.size(), opt.seed, 0);
  const int64_t batches = data.train.size() / opt.batchSize;
  KILN_USER_CHECK(batches > 0) << "the training set has fewer images than one batch";
  auto rowsOf = [&](int64_t i) { return std::span(order).subspan(i % batches * opt.batchSize, opt.batchSize); };
  auto medianOf = [](std::vector<double> &v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  // Each step begun (its batch selected), run and read before the next one begins.
  std::vector<double> ms;
  int64_t done = 0;
  for (int i = -3; i < steps; ++i, ++done) {
    auto t0 = Clock::now();
    s.step(data.train, rowsOf(done), done);
    if (i >= 0)
      ms.push_back(secondsSince(t0) * 1000);
  }
  double median = medianOf(ms);
  out << "steps " << steps << ", min " << fixed(ms.front(), 3) << " ms, max " << fixed(ms.back(), 3) << " ms\n";
  if (opt.device == "cuda") { // the only backend whose start() returns before the step is done
    // As training runs them: step k+1 written and begun before step k is read.
    std::vector<double> piped;
    Session::Begun running = s.begin(data.train, rowsOf(done), done);
    for (int i = 0; i < steps; ++i) {
      ++done;
      auto t0 = Clock::now();
      Session::Begun next = s.begin(data.train, rowsOf(done), done);
      s.finish(running);
      running = next;
      piped.push_back(secondsSince(t0) * 1000);
    }
    s.finish(running);
    out << "pipelined as in training (step k+1 begun before step k is read): median " << fixed(medianOf(piped), 3)
        << " ms per step\n";
  }
  return median;
}

std::vector<TrainReport> compareModels(const TrainOptions &opt, const MnistData &data, std::ostream &out) {
  std::vector<TrainReport> reports;
  std::vector<std::vector<std::string>> rows;
  for (const std::string &name : modelNames()) {
    TrainOptions o = opt;
    o.model = name;
    o.writeOutputs = false;
    out << "=== " << name << "\n";
    TrainReport r = trainMnist(o, data, out);
    rows.push_back({name, std::to_string(r.params), std::to_string(r.epochs), fixed(r.trainSeconds, 1),
                    fixed(100 * (1 - r.trainAcc), 2), fixed(100 * (1 - r.testAcc), 2)});
    reports.push_back(std::move(r));
  }
  out << "\n"
      << formatTable({"model", "parameters", "epochs", "seconds", "train error %", "test error %"}, rows);
  return reports;
}

} // namespace kiln::mnist
