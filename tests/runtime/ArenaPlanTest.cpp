// tests/runtime/ArenaPlanTest.cpp - where planArena puts a program's buffers, on hand-built programs.
//
// Temporaries share memory exactly when their live ranges (first to last
// launch touching them) are disjoint; launches given the same time run at
// once (a CUDA launch group), so their temporaries never share; views take
// their target's place; outputs live to the end of the step.
#include "runtime/ArenaPlan.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

/// in -> t0 -> t1 -> t2 (one launch each), f32[256] buffers, t2 the output.
Program chain() {
  Program p;
  TensorType t{DType::F32, Shape{256}};
  p.buffers = {{"in", t, BufferRole::Input}, {"t0", t}, {"t1", t}, {"t2", t}};
  p.launches = {{0, {0, 1}}, {0, {1, 2}}, {0, {2, 3}}};
  p.outputs = {3};
  return p;
}

bool overlap(const Program &p, const ArenaPlan &a, int x, int y) {
  size_t xs = a.offset[x], ys = a.offset[y];
  return xs < ys + p.buffers[y].type.byteSize() && ys < xs + p.buffers[x].type.byteSize();
}

TEST(ArenaPlan, TemporariesWithDisjointLivesShareMemory) {
  Program p = chain();
  ArenaPlan a = planArena(p, 64);
  EXPECT_FALSE(overlap(p, a, 1, 2)); // t0 is read while t1 is written
  EXPECT_FALSE(overlap(p, a, 2, 3));
  EXPECT_EQ(a.offset[1], a.offset[3]) << "t0 is dead when t2 is written";
  EXPECT_FALSE(overlap(p, a, 0, 1)) << "the input has a place of its own";
  EXPECT_EQ(a.offset[0] % 64, 0u);
  EXPECT_EQ(a.offset[1] % 64, 0u);
}

TEST(ArenaPlan, LaunchesAtTheSameTimeShareNoMemory) {
  Program p = chain();
  ArenaPlan a = planArena(p, 64, {}, {0, 1, 1}); // the last two run at once
  EXPECT_FALSE(overlap(p, a, 1, 3)) << "t0 is read by a launch running with the one writing t2";
  EXPECT_FALSE(overlap(p, a, 2, 3));
  EXPECT_FALSE(overlap(p, a, 1, 2));
}

TEST(ArenaPlan, ViewsTakeTheirTargetsPlace) {
  Program p = chain();
  TensorType v{DType::F32, Shape{16, 16}};
  p.buffers.push_back({"view", v, BufferRole::Temp, /*aliasOf=*/2});
  p.launches[2].args[0] = 4; // the last launch reads t1 through the view
  ArenaPlan a = planArena(p, 64);
  EXPECT_EQ(a.offset[4], a.offset[2]);
  EXPECT_FALSE(overlap(p, a, 2, 3)) << "t1 lives while the view is read";
}

} // namespace
} // namespace kiln
