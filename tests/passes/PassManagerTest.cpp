// tests/passes/PassManagerTest.cpp - the pass registry, pipelines and the
// PassManager's instrumentation (dumps, verify-each, stop-after, timings, stats).
#include "ir/Error.h"
#include "ir/Graph.h"
#include "passes/Pass.h"
#include "tests/support/OpCheck.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <sstream>

namespace kiln {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using test::f32;

/// exp(neg(neg(x))) plus a dead tanh: simplify and dce each change it once.
std::unique_ptr<Graph> sample() {
  auto g = std::make_unique<Graph>("sample");
  Value x = g->addInput("x", f32({4}));
  Value n = g->build(OpKind::Neg, {g->build(OpKind::Neg, {x})});
  g->build(OpKind::Tanh, {x});
  g->addOutput(g->build(OpKind::Exp, {n}));
  return g;
}

TEST(PassRegistry, NamesAreUniqueKebabCaseWithHelp) {
  std::set<std::string_view> names;
  for (const PassInfo &p : allPasses()) {
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate pass " << p.name;
    EXPECT_FALSE(p.help.empty()) << p.name;
    EXPECT_NE(p.run, nullptr) << p.name;
    for (char c : p.name)
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || c == '-') << p.name;
    EXPECT_EQ(findPass(p.name), &p);
  }
  for (const char *want : {"autodiff", "simplify", "cse", "constant-fold", "dce"})
    EXPECT_TRUE(names.count(want)) << want;
  EXPECT_EQ(findPass("no-such-pass"), nullptr);
}

TEST(PassManager, UnknownPassListsTheKnownOnes) {
  PassManager pm;
  try {
    pm.add("fold-everything");
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown pass 'fold-everything'"));
    EXPECT_THAT(e.what(), HasSubstr("cse"));
    EXPECT_THAT(e.what(), HasSubstr("constant-fold"));
  }
}

TEST(PassManager, PipelineTextIsSplitOnCommas) {
  PassManager pm;
  pm.addPipeline(" simplify, cse,,dce ");
  ASSERT_EQ(pm.passes().size(), 3u);
  EXPECT_EQ(pm.passes()[0]->name, "simplify");
  EXPECT_EQ(pm.passes()[1]->name, "cse");
  EXPECT_EQ(pm.passes()[2]->name, "dce");
}

TEST(PassManager, DefaultPipelinesUseKnownPasses) {
  for (const char *backend : {"interp", "cpu", "cuda"}) {
    PassManager pm;
    pm.addPipeline(defaultPipeline(backend));
    EXPECT_GE(pm.passes().size(), 4u) << backend;
  }
  EXPECT_THROW(defaultPipeline("tpu"), UserError);
}

TEST(PassManager, RunReportsChangeAndStats) {
  auto g = sample();
  PassContext ctx;
  PassManager pm;
  pm.addPipeline("simplify,dce");
  EXPECT_TRUE(pm.run(*g, ctx));
  EXPECT_EQ(g->nodes().size(), 1u); // exp(x)
  EXPECT_EQ(ctx.stats["simplify.neg-neg"], 1);
  EXPECT_EQ(ctx.stats["dce.removed"], 1);
  PassContext again;
  EXPECT_FALSE(pm.run(*g, again));
  EXPECT_TRUE(again.stats.empty());
}

TEST(PassManager, PrintAfterAllAndAfterChange) {
  std::ostringstream all, changed;
  {
    auto g = sample();
    PassContext ctx;
    PassInstrumentation in;
    in.printAfterAll = true;
    in.out = &all;
    PassManager pm(in);
    pm.addPipeline("cse,simplify");
    pm.run(*g, ctx);
  }
  EXPECT_THAT(all.str(), HasSubstr("// -----// IR Dump After cse //----- //\ngraph @sample("));
  EXPECT_THAT(all.str(), HasSubstr("// -----// IR Dump After simplify //----- //\ngraph @sample("));
  {
    auto g = sample();
    PassContext ctx;
    PassInstrumentation in;
    in.printAfterChange = true;
    in.out = &changed;
    PassManager pm(in);
    pm.addPipeline("cse,simplify");
    pm.run(*g, ctx);
  }
  EXPECT_THAT(changed.str(), Not(HasSubstr("After cse")));
  EXPECT_THAT(changed.str(), HasSubstr("// -----// IR Dump After simplify //----- //"));
}

TEST(PassManager, PrintBeforeShowsTheInput) {
  std::ostringstream os;
  auto g = sample();
  PassContext ctx;
  PassInstrumentation in;
  in.printBefore = {"dce"};
  in.out = &os;
  PassManager pm(in);
  pm.addPipeline("dce");
  pm.run(*g, ctx);
  EXPECT_THAT(os.str(), HasSubstr("// -----// IR Dump Before dce //----- //"));
  EXPECT_THAT(os.str(), HasSubstr("tanh(%x)")); // still there before dce
  EXPECT_THAT(os.str(), Not(HasSubstr("After")));
}

TEST(PassManager, StopAfterRunsOnlyTheFirstPasses) {
  auto g = sample();
  PassContext ctx;
  PassInstrumentation in;
  in.stopAfter = 1;
  PassManager pm(in);
  pm.addPipeline("dce,simplify");
  pm.run(*g, ctx);
  EXPECT_EQ(ctx.stats.count("dce.removed"), 1u);
  EXPECT_EQ(ctx.stats.count("simplify.neg-neg"), 0u);
}

TEST(PassManager, VerifyEachCatchesABrokenGraph) {
  // A result type that disagrees with inference makes the graph invalid; the
  // verifier after the (innocent) pass reports it as an internal error.
  auto g = sample();
  g->nodes().back()->setResultTypes({f32({5})});
  PassContext ctx;
  PassManager pm;
  pm.add("cse");
  try {
    pm.run(*g, ctx);
    FAIL() << "expected an InternalError";
  } catch (const InternalError &e) {
    EXPECT_THAT(e.what(), HasSubstr("after pass 'cse'"));
  }
  PassInstrumentation off;
  off.verifyEach = false;
  PassManager quiet(off);
  quiet.add("cse");
  EXPECT_NO_THROW(quiet.run(*g, ctx));
}

TEST(PassManager, TimePassesPrintsASortedTable) {
  std::ostringstream os;
  auto g = sample();
  PassContext ctx;
  PassInstrumentation in;
  in.timePasses = true;
  in.out = &os;
  PassManager pm(in);
  pm.addPipeline("cse,simplify,dce,cse");
  pm.run(*g, ctx);
  std::string text = os.str();
  EXPECT_THAT(text, HasSubstr("Pass execution timing report"));
  EXPECT_THAT(text, HasSubstr("Total Execution Time:"));
  // One row per pass name (cse twice is one row), slowest first, then Total.
  std::istringstream lines(text);
  std::string line;
  std::vector<double> secs;
  std::vector<std::string> names;
  while (std::getline(lines, line)) {
    double s = 0, pct = 0;
    char name[64] = {0};
    if (std::sscanf(line.c_str(), " %lf (%lf%%) %63s", &s, &pct, name) == 3) {
      secs.push_back(s);
      names.push_back(name);
    }
  }
  ASSERT_EQ(names.size(), 4u) << text;
  EXPECT_EQ(names.back(), "Total");
  for (size_t i = 0; i + 2 < secs.size(); ++i)
    EXPECT_GE(secs[i], secs[i + 1]) << text;
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end() - 1),
            (std::set<std::string>{"cse", "simplify", "dce"}));
}

TEST(PassManager, StatsTableIsSortedByName) {
  PassContext ctx;
  ctx.bump("dce.removed", 12);
  ctx.bump("cse.merged");
  std::ostringstream os;
  printStats(ctx, os);
  std::string text = os.str();
  EXPECT_THAT(text, HasSubstr("Statistics Collected"));
  size_t cse = text.find(" 1 cse.merged\n"), dce = text.find("12 dce.removed\n");
  ASSERT_NE(cse, std::string::npos) << text;
  ASSERT_NE(dce, std::string::npos) << text;
  EXPECT_LT(cse, dce);
}

} // namespace
} // namespace kiln
