// tests/runtime/RowTableTest.cpp - inputs gathered from bound tables (bindRows, selectRows) on every backend.
//
// A table bound to an input [B, d...] is a data set of rows [N, d...]; a step's
// input is then chosen by row numbers. The host backends gather on the host;
// the CUDA backend holds the table in device memory and gathers there after
// uploading the row numbers. Table entries encode their row and column
// (row * 10 + column), so every expected figure is exact and names the row it
// came from. On the CUDA emulator (whose streams run as late as a GPU may) row
// numbers overwritten before their step's upload show as wrong rows.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#if KILN_WITH_CUDA
#include "codegen/cuda/CudaLower.h"
#include "runtime/cuda/CudaInputs.h"
#endif
#include "tests/support/BackendCheck.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace kiln::test {
namespace {

constexpr int64_t kBatch = 4, kWidth = 3, kRows = 10;

/// Outputs 2 x and y + 1 of inputs x f32[4,3] and y i32[4]; adds x to state acc.
std::unique_ptr<Graph> doubling() {
  auto g = std::make_unique<Graph>("doubling");
  Value x = g->addInput("x", f32({kBatch, kWidth}));
  Value y = g->addInput("y", {DType::I32, {kBatch}});
  Value acc = g->addState("acc", f32({kBatch, kWidth}));
  g->create(OpKind::Assign, {acc, g->build(OpKind::Add, {acc, x})});
  g->setOutputs({g->build(OpKind::Mul, {x, g->constant(2, f32({}))}),
                 g->build(OpKind::Add, {y, g->constant(1, {DType::I32, {}})})});
  return g;
}

/// x table: row r is (r * 10 + c + offset) for c < 3; y table: r * 100 + offset.
HostTensor xTable(double offset = 0) {
  HostTensor t(f32({kRows, kWidth}));
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kWidth; ++c)
      t.set(r * kWidth + c, static_cast<double>(r * 10 + c) + offset);
  return t;
}
HostTensor yTable() {
  HostTensor t({DType::I32, {kRows}});
  for (int64_t r = 0; r < kRows; ++r)
    t.set(r, static_cast<double>(r * 100));
  return t;
}

class RowTables : public EveryBackend {
protected:
  /// Expects the outputs of a step whose x and y are rows `rows` (then zeros)
  /// of xTable(offset) and yTable().
  static void expectRows(const Executable &e, const std::vector<int64_t> &rows, const std::string &what,
                         double offset = 0) {
    HostTensor x2 = e.output(0), y1 = e.output(1);
    for (int64_t i = 0; i < kBatch; ++i) {
      bool real = i < static_cast<int64_t>(rows.size());
      for (int64_t c = 0; c < kWidth; ++c)
        ASSERT_EQ(x2.at(i * kWidth + c), real ? 2.0 * (static_cast<double>(rows[i] * 10 + c) + offset) : 0.0)
            << what << ": row " << i << " column " << c;
      ASSERT_EQ(y1.at(i), real ? static_cast<double>(rows[i] * 100 + 1) : 1.0) << what << ": label " << i;
    }
  }
};

TEST_P(RowTables, SelectedRowsAreTheStepsInputs) {
  auto g = doubling();
  for (bool checked : {false, true}) {
    CompileOptions opt;
    opt.checkNumerics = checked && GetParam() != "interp";
    auto e = compileFor(*g, opt);
    HostTensor xs = xTable(), ys = yTable();
    e->bindRows("x", xs);
    e->bindRows("y", ys);
    ASSERT_NE(e->boundRows("x"), nullptr);
    EXPECT_EQ(e->boundRows("x")->bytes(), xs.bytes()) << "the host shares the table";
    EXPECT_EQ(e->boundRows("nothing"), nullptr);
    std::vector<int64_t> rows{7, 2, 9};
    e->selectRows("x", rows);
    e->selectRows("y", rows);
    EXPECT_EQ(e->get("x").at(3), 2 * 10 + 0) << "an input reads back as selected";
    EXPECT_EQ(e->get("x").at(9), 0) << "zeros past the rows selected";
    e->run();
    expectRows(*e, rows, checked ? "numerics checked" : "plain");
    e->selectRows("x", {});
    e->selectRows("y", std::vector<int64_t>{0, 0, 0, 0});
    e->run();
    HostTensor x2 = e->output(0);
    for (int64_t i = 0; i < x2.numel(); ++i)
      ASSERT_EQ(x2.at(i), 0.0) << "no rows selected: all zeros";
    EXPECT_EQ(e->output(1).at(3), 1.0);
  }
}

// Steps in flight each keep their own rows while the next step's are
// selected; an input not selected again keeps its rows; a write through
// set() or inputData() takes over from a selection, and a selection from it.
TEST_P(RowTables, EachStepInFlightKeepsItsOwnRows) {
  auto g = doubling();
  auto e = compileFor(*g);
  e->bindRows("x", xTable());
  e->bindRows("y", yTable());
  const int steps = 7;
  std::vector<std::vector<int64_t>> rowsOf(steps);
  for (int k = 0; k <= steps; ++k) {
    if (k < steps) {
      rowsOf[k] = {k, (k + 3) % kRows, (2 * k + 1) % kRows, 9 - k};
      if (k == 3) { // x not selected again: the rows of step 2
        rowsOf[k] = rowsOf[k - 1];
        e->selectRows("y", rowsOf[k]);
      } else if (k == 4) { // x written: rows 5, 6, 7 and 8 by hand
        rowsOf[k] = {5, 6, 7, 8};
        HostTensor x = xTable();
        HostTensor batch(f32({kBatch, kWidth}));
        std::memcpy(batch.bytes(), x.bytes() + 5 * kWidth * sizeof(float), batch.byteSize());
        if (void *p = e->inputData("x"))
          std::memcpy(p, batch.bytes(), batch.byteSize());
        else
          e->set("x", batch);
        e->selectRows("y", rowsOf[k]);
      } else if (k == 5) { // nothing selected or written: the values of step 4
        rowsOf[k] = rowsOf[k - 1];
      } else {
        e->selectRows("x", rowsOf[k]);
        e->selectRows("y", rowsOf[k]);
      }
      e->start();
    }
    if (k > 0) {
      e->wait();
      expectRows(*e, rowsOf[k - 1], "step " + std::to_string(k - 1));
    }
  }
  // Three steps begun at once: the third selection waits until the first
  // step's rows are uploaded (the third start() then waits for that step).
  e->set("acc", HostTensor(f32({kBatch, kWidth})));
  std::vector<std::vector<int64_t>> three{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 0, 9, 0}};
  for (const auto &rows : three) {
    e->selectRows("x", rows);
    e->selectRows("y", rows);
    e->start();
  }
  e->wait();
  expectRows(*e, three[1], "the second of three");
  e->wait();
  expectRows(*e, three[2], "the third of three");
  HostTensor acc = e->get("acc");
  for (int64_t i = 0; i < kBatch; ++i)
    for (int64_t c = 0; c < kWidth; ++c)
      ASSERT_EQ(acc.at(i * kWidth + c), static_cast<double>((three[0][i] + three[1][i] + three[2][i]) * 10 + 3 * c))
          << "acc row " << i << " column " << c << ": the sum of the three steps' rows";
}

// Binding a table anew gathers from it from then on; an input whose rows
// were selected from the table it replaces keeps the value they had.
TEST_P(RowTables, RebindingKeepsTheValueSelectedBefore) {
  auto g = doubling();
  auto e = compileFor(*g);
  e->bindRows("x", xTable());
  e->bindRows("y", yTable());
  std::vector<int64_t> rows{1, 4, 8, 3};
  e->selectRows("x", rows);
  e->selectRows("y", rows);
  e->start();
  e->bindRows("x", xTable(1000)); // while the step runs
  e->wait();
  expectRows(*e, rows, "step 0, begun before the new table");
  e->run();
  expectRows(*e, rows, "step 1, rows not selected again");
  e->selectRows("x", rows);
  e->run();
  expectRows(*e, rows, "step 2, rows of the new table", 1000);
}

// writeRows() gathers rows of a table that is not bound, on the host, into
// the next step's input: the same inputs as selectRows() of that table; it
// checks the table and the rows as bindRows() and selectRows() do.
TEST_P(RowTables, WrittenRowsNeedNoBoundTable) {
  auto g = doubling();
  auto e = compileFor(*g);
  std::vector<int64_t> rows{3, 0, 6};
  e->writeRows("x", xTable(), rows);
  e->writeRows("y", yTable(), rows);
  EXPECT_EQ(e->boundRows("x"), nullptr);
  e->run();
  expectRows(*e, rows, "written rows");
  e->bindRows("x", xTable(1000));
  e->selectRows("x", rows);
  e->writeRows("x", xTable(), rows); // takes over from the selection
  e->run();
  expectRows(*e, rows, "written after a selection");
  std::string m = userErrorOf([&] { e->writeRows("x", xTable(), std::vector<int64_t>{10}); });
  EXPECT_NE(m.find("writeRows('x'): row 10 (at 0) is outside the table's 10 rows"), std::string::npos) << m;
  m = userErrorOf([&] { e->writeRows("y", xTable(), rows); });
  EXPECT_NE(m.find("writeRows('y'): rows for the input i32[4] are a table i32[N], got f32[10,3]"), std::string::npos)
      << m;
}

TEST_P(RowTables, BadTablesAndRowsAreUserErrors) {
  auto g = doubling();
  auto e = compileFor(*g);
  auto expectError = [&](const std::function<void()> &f, const std::string &want) {
    std::string m = userErrorOf(f);
    EXPECT_NE(m.find(want), std::string::npos) << m;
  };
  expectError([&] { e->selectRows("x", std::vector<int64_t>{0}); },
              "selectRows('x'): no table is bound to it (bindRows)");
  expectError(
      [&] {
        e->bindRows("x", HostTensor(f32({kRows, 4})));
      },
      "bindRows('x'): rows for the input f32[4,3] are a table f32[N,3], got f32[10,4]");
  expectError([&] { e->bindRows("x", HostTensor({DType::F64, {kRows, kWidth}})); }, "got f64[10,3]");
  expectError([&] { e->bindRows("z", xTable()); }, "graph @doubling has no input 'z'");
  e->bindRows("x", xTable());
  expectError(
      [&] {
        e->selectRows("x", std::vector<int64_t>{1, 10});
      },
      "selectRows('x'): row 10 (at 1) is outside the table's 10 rows");
  expectError([&] { e->selectRows("x", std::vector<int64_t>{-1}); }, "row -1 (at 0)");
  expectError([&] { e->selectRows("x", std::vector<int64_t>(5, 0)); }, "selectRows('x'): 5 rows for an input of 4");
  Graph scalar("scalar");
  scalar.setOutputs({scalar.build(OpKind::Neg, {scalar.addInput("s", f32({}))})});
  auto s = compileFor(scalar);
  expectError([&] { s->bindRows("s", HostTensor(f32({kRows}))); },
              "bindRows('s'): the input is f32[], which has no rows to gather");
}

// What a CUDA step uploads, for inputs shaped as the report CNN's batch
// (x f32[128,1,28,28], y i32[128]): a slot holds x's value (401,408 bytes),
// then y's (512), then room for the row numbers of x and y (1,024 each), each
// part aligned to 256 bytes. Written inputs upload their values; selected ones
// only their row numbers (2,048 bytes for the batch instead of 401,920).
TEST(CudaSlotInputs, GatheredInputsUploadOnlyTheirRowNumbers) {
#if KILN_WITH_CUDA
  if (!hasCudaBackend())
    GTEST_SKIP() << "no GPU: the CUDA driver is missing or cuInit failed";
  Graph g("batch");
  Value x = g.addInput("x", f32({128, 1, 28, 28}));
  Value y = g.addInput("y", {DType::I32, {128}});
  g.setOutputs({g.build(OpKind::Neg, {x}), g.build(OpKind::Neg, {y})});
  cuda::CudaProgram p = cuda::lowerCuda(g);
  const int bx = p.program.findBuffer("x"), by = p.program.findBuffer("y");
  cuda::SlotInputs in(p.program);
  ASSERT_EQ(in.bytes(), 401408u + 512 + 1024 + 1024);
  EXPECT_EQ(in.offset(bx), 0u);
  EXPECT_EQ(in.offset(by), 401408u);
  std::vector<std::byte> staging(2 * in.bytes());
  for (int slot = 0; slot < 2; ++slot)
    in.attach(slot, staging.data() + slot * in.bytes(), 0);
  using Ranges = std::vector<std::pair<size_t, size_t>>;
  in.write(bx, 0);
  in.write(by, 0);
  EXPECT_EQ(in.uploadRanges(0), (Ranges{{0, 401920}})) << "both values, 512 bytes apart: one copy";
  in.begin(0, -1);
  in.bind(bx, HostTensor(f32({1000, 1, 28, 28})));
  in.bind(by, HostTensor({DType::I32, {1000}}));
  std::vector<int64_t> rows(128, 999);
  in.select(bx, 1, rows);
  in.select(by, 1, rows);
  EXPECT_EQ(in.uploadRanges(1), (Ranges{{401920, 403968}})) << "the row numbers of both";
  in.begin(1, 0);
  EXPECT_EQ(in.rows(bx, 1), rows);
  in.write(by, 0);
  in.begin(0, 1); // x keeps its rows
  EXPECT_TRUE(in.gathered(bx, 0));
  EXPECT_EQ(in.rows(bx, 0), rows);
  EXPECT_EQ(in.uploadRanges(0), (Ranges{{401408, 402944}})) << "y's value and x's row numbers";
  in.select(bx, 1, std::span(rows).first(3));
  in.begin(1, 0); // y keeps its value
  EXPECT_FALSE(in.gathered(by, 1));
  EXPECT_EQ(in.uploadRanges(1), (Ranges{{401408, 401944}})) << "y's value and x's 3 row numbers";
  in.release();
#else
  GTEST_SKIP() << "built without the CUDA toolkit (no NVRTC)";
#endif
}

INSTANTIATE_TEST_SUITE_P(All, RowTables, ::testing::Values("interp", "cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) { return i.param; });

} // namespace
} // namespace kiln::test
