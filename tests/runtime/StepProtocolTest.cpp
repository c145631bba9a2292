// tests/runtime/StepProtocolTest.cpp - start() and wait() on every backend.
//
// A step begun with start() may still run while the host writes the next
// step's inputs and begins it (the CUDA backend overlaps them; the host
// backends run each step in start() and keep its outputs). On every backend
// the outputs read after wait() are that step's, inputs written for step k+1
// do not reach step k, an input not written keeps its value, and a step's
// error is thrown for that step. The graph's values are small integers, so the
// expected figures are computed here exactly; on the CUDA emulator (whose
// streams run as late as a GPU may) a missing event or a staging buffer reused
// too early shows as a wrong figure. A profiled executable times every launch
// of every step.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::test {
namespace {

constexpr int64_t kN = 64;


/// acc <- acc + x * y; outputs x * y and the sum of the new acc.
std::unique_ptr<Graph> accumulate() {
  auto g = std::make_unique<Graph>("accumulate");
  Value x = g->addInput("x", f32({kN})), y = g->addInput("y", f32({kN}));
  Value acc = g->addState("acc", f32({kN}));
  Value xy = g->build(OpKind::Mul, {x, y});
  Value next = g->build(OpKind::Add, {acc, xy});
  g->create(OpKind::Assign, {acc, next});
  AttrMap axes;
  axes.set("axes", std::vector<int64_t>{0});
  g->setOutputs({xy, g->build(OpKind::ReduceSum, {next}, axes)});
  return g;
}

/// x of step k: x[i] = i + k.
HostTensor xOf(int k) {
  HostTensor t(f32({kN}));
  for (int64_t i = 0; i < kN; ++i)
    t.data<float>()[i] = static_cast<float>(i + k);
  return t;
}

/// The sum of x_j * y over steps j = 0..k, with y = 2 everywhere.
double accAfter(int k) {
  double s = 0;
  for (int j = 0; j <= k; ++j)
    for (int64_t i = 0; i < kN; ++i)
      s += 2.0 * static_cast<double>(i + j);
  return s;
}

class StepProtocol : public EveryBackend {
protected:
  /// Writes x of step k through inputData() where the backend has it, else set().
  static void writeX(Executable &e, int k, bool inPlace) {
    HostTensor x = xOf(k);
    if (void *p = inPlace ? e.inputData("x") : nullptr)
      std::memcpy(p, x.bytes(), x.byteSize());
    else
      e.set("x", x);
  }
  /// Expects the outputs of step k.
  static void expectStep(const Executable &e, int k) {
    HostTensor xy = e.output(0);
    for (int64_t i = 0; i < kN; ++i)
      ASSERT_EQ(xy.at(i), 2.0 * static_cast<double>(i + k)) << "output 0 element " << i << " of step " << k;
    EXPECT_EQ(e.output(1).at(0), accAfter(k)) << "output 1 of step " << k;
  }
};

TEST_P(StepProtocol, EachWaitGivesItsOwnStepsOutputs) {
  auto g = accumulate();
  auto e = compileFor(*g);
  e->set("y", tensorOf(f32({kN}), std::vector<double>(kN, 2.0)));
  const int steps = 6;
  for (int k = 0; k <= steps; ++k) {
    if (k < steps) {
      writeX(*e, k, k % 2 == 0); // y is written once: it keeps its value
      e->start();
    }
    if (k > 0) {
      e->wait();
      expectStep(*e, k - 1);
    }
  }
  EXPECT_EQ(e->output(1).at(0), accAfter(steps - 1));
  HostTensor acc = e->get("acc");
  for (int64_t i = 0; i < kN; ++i)
    ASSERT_EQ(acc.at(i), 2.0 * (steps * i + steps * (steps - 1) / 2)) << "acc element " << i;
  // run() after pipelined steps: one more step, waited for.
  writeX(*e, steps, true);
  e->run();
  expectStep(*e, steps);
}

TEST_P(StepProtocol, AThirdStartWaitsForTheOldestStep) {
  auto g = accumulate();
  auto e = compileFor(*g);
  e->set("y", tensorOf(f32({kN}), std::vector<double>(kN, 2.0)));
  for (int k = 0; k < 3; ++k) {
    writeX(*e, k, true);
    e->start();
  }
  e->wait(); // step 0 was waited for by the third start(); this is step 1
  expectStep(*e, 1);
  e->wait();
  expectStep(*e, 2);
  e->wait(); // nothing in flight: the outputs stay step 2's
  expectStep(*e, 2);
}

TEST_P(StepProtocol, InputsReadBackAsWrittenAndStateAfterTheStepsInFlight) {
  auto g = accumulate();
  auto e = compileFor(*g);
  e->set("y", tensorOf(f32({kN}), std::vector<double>(kN, 2.0)));
  writeX(*e, 0, true);
  e->start();
  writeX(*e, 1, false);
  EXPECT_EQ(e->get("x").at(5), 6.0) << "an input reads back as written for the next step";
  EXPECT_EQ(e->get("y").at(5), 2.0) << "an input not written reads back as the last step's";
  EXPECT_EQ(e->get("acc").at(5), 2.0 * 5) << "state is read after the step in flight";
  e->start();
  e->wait();
  expectStep(*e, 0);
  e->wait();
  expectStep(*e, 1);
}

TEST_P(StepProtocol, OutputBeforeWaitIsAnError) {
  auto g = accumulate();
  auto e = compileFor(*g);
  e->set("y", tensorOf(f32({kN}), std::vector<double>(kN, 2.0)));
  writeX(*e, 0, true);
  e->start();
  std::string m = userErrorOf([&] { e->output(0); });
  EXPECT_NE(m.find("output 0 of graph @accumulate: a step begun with start() has not been waited for (call "
                   "wait() first)"),
            std::string::npos)
      << m;
  e->wait();
  expectStep(*e, 0);
}

TEST_P(StepProtocol, ABadLabelIsThrownForItsOwnStep) {
  Graph g("xent");
  Value logits = g.addInput("logits", f32({4, 3}));
  Value labels = g.addInput("labels", {DType::I32, {4}});
  g.setOutputs({g.build(OpKind::SoftmaxCrossEntropy, {logits, labels})});
  auto e = compileFor(g);
  e->set("logits", tensorOf(f32({4, 3}), std::vector<double>(12, 0.0)));
  HostTensor good = tensorOf({DType::I32, {4}}, {0, 1, 2, 1}), bad = tensorOf({DType::I32, {4}}, {0, 1, 7, 1});
  e->set("labels", good);
  e->start();
  e->set("labels", bad);
  bool thrownByStart = false; // where the host computes the step, start() meets the label
  try {
    e->start();
  } catch (const RuntimeError &err) {
    thrownByStart = true;
    EXPECT_NE(std::string(err.what()).find("label 7 of row 2 is outside [0,3)"), std::string::npos) << err.what();
  }
  EXPECT_NO_THROW(e->wait()) << "the first step's labels are good";
  EXPECT_NEAR(e->output(0).at(0), std::log(3.0), 1e-6);
  if (!thrownByStart) {
    try {
      e->wait();
      ADD_FAILURE() << "the second step's bad label was not reported";
    } catch (const RuntimeError &err) {
      EXPECT_NE(std::string(err.what()).find("label 7 of row 2 is outside [0,3)"), std::string::npos) << err.what();
    }
  }
  e->set("labels", good);
  e->run();
  EXPECT_NEAR(e->output(0).at(0), std::log(3.0), 1e-6);
}

TEST_P(StepProtocol, CopyFromTakesTheSourcesValuesAfterItsSteps) {
  auto g = accumulate();
  auto a = compileFor(*g), b = compileFor(*g);
  HostTensor two = tensorOf(f32({kN}), std::vector<double>(kN, 2.0));
  a->set("y", two);
  for (int k = 0; k < 3; ++k) {
    writeX(*a, k, true);
    a->start(); // the last one is still in flight when b copies
  }
  b->copyFrom(*a, {"acc", "y"});
  HostTensor acc = b->get("acc");
  for (int64_t i = 0; i < kN; ++i)
    ASSERT_EQ(acc.at(i), 2.0 * (3 * i + 3)) << "acc element " << i;
  writeX(*b, 3, true);
  b->run(); // continues from a's state with a's y
  expectStep(*b, 3);
  a->wait();
  a->wait();
  expectStep(*a, 2);

  Graph other("other");
  other.addState("acc", f32({kN / 2}));
  other.setOutputs({other.build(OpKind::Neg, {other.addInput("x", f32({kN}))})});
  auto c = compileFor(other);
  std::string m = userErrorOf([&] { c->copyFrom(*a, {"acc"}); });
  EXPECT_NE(m.find("'acc' is f32[32]"), std::string::npos) << m;
}

// CompileOptions::profile times every launch of every finished step (on the
// CUDA backend between events, one launch at a time) and changes no result.
// The launches are those the backend's verbose line counts; the interpreter
// has none to time.
TEST_P(StepProtocol, AProfileTimesEveryLaunchOfEveryStep) {
  auto g = accumulate();
  CompileOptions opt;
  opt.backend = GetParam();
  opt.profile = true;
  opt.verbose = true;
  std::ostringstream log;
  opt.log = &log;
  auto e = compile(*g, opt);
  EXPECT_FALSE(compileFor(*g)->profile().has_value()) << "profiled without asking";
  if (GetParam() == "interp") {
    EXPECT_FALSE(e->profile().has_value());
    return;
  }
  // The verbose log says "<backend> backend: N launches ...".
  const std::string text = log.str();
  const std::string head = GetParam() + " backend: ";
  const size_t at = text.find(head);
  ASSERT_NE(at, std::string::npos) << text;
  size_t used = 0;
  const unsigned long launches = std::stoul(text.substr(at + head.size()), &used);
  ASSERT_TRUE(text.substr(at + head.size() + used).starts_with(" launches")) << text;
  e->set("y", tensorOf(f32({kN}), std::vector<double>(kN, 2.0)));
  for (int k = 0; k < 3; ++k) {
    writeX(*e, k, true);
    e->start();
  }
  e->wait();
  expectStep(*e, 1);
  e->wait();
  expectStep(*e, 2);
  std::optional<StepProfile> p = e->profile();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->runs, 3);
  EXPECT_EQ(p->launches.size(), launches) << text;
  for (const LaunchTime &l : p->launches) {
    EXPECT_FALSE(l.kernel.empty());
    EXPECT_GE(l.ms, 0.0) << l.kernel;
  }
  EXPECT_GT(p->totalMs(), 0.0);
  e->run();
  EXPECT_EQ(e->profile()->runs, 4);
}

// printProfile: the header's total is the sum over launches; launches print
// slowest first (ties in launch order), each with its detail.
TEST(StepProfile, PrintsTheLaunchesSlowestFirst) {
  StepProfile p;
  p.clock = "test clock";
  p.runs = 4;
  p.launches = {{"a", 0.5, ""}, {"b", 2.0, "blocks 8"}, {"c", 0.5, "threads 2"}, {"d", 1.25, ""}};
  EXPECT_DOUBLE_EQ(p.totalMs(), 4.25);
  std::ostringstream os;
  printProfile(os, p);
  EXPECT_EQ(os.str(), "kiln profile: 4 runs, 4.25 ms per run in 4 launches (test clock)\n"
                      "  2 ms  blocks 8  b\n"
                      "  1.25 ms  d\n"
                      "  0.5 ms  a\n"
                      "  0.5 ms  threads 2  c\n");
}

INSTANTIATE_TEST_SUITE_P(All, StepProtocol, ::testing::Values("interp", "cpu", "cuda"),
                         [](const auto &info) { return info.param; });

} // namespace
} // namespace kiln::test
