// tests/runtime/CpuConvRandomTest.cpp - random convolution shapes on the cpu backend.
//
// The CPU lowers a convolution along one of several paths chosen by shape
// (outer products along the channels, along output rows, GEMMs), each with
// tiles, tails and parts of its own. Here random shapes aimed at all of them
// (channel counts that are multiples of the vector length or not, 1x1 to 5x5
// filters, stride 1 or 2, valid, same or uneven padding, 1 to 4 images, rows
// 8 or 10 wide now and then; 1 or 2 threads or one per core; every fourth
// case as an AVX2 machine gets it) run forward and both gradients against the
// interpreter; the seed and shapes of a failing case are printed.
#include "ir/Graph.h"
#include "runtime/Backends.h"
#include "tests/support/BackendCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>

namespace kiln::test {
namespace {

TEST(CpuConvRandom, ForwardAndGradientsMatchTheInterpreter) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  constexpr int kCases = 48;
  for (uint32_t seed = 1; seed <= kCases; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    auto channels = [&] { return pick(0, 2) ? 16 * pick(1, 3) : pick(1, 5); };
    const int64_t n = pick(1, 4), c = channels(), o = channels(), kh = pick(1, 5), kw = pick(1, 5);
    const int64_t sh = pick(1, 2), sw = pick(1, 2);
    const int64_t h = kh + pick(0, 8), w = pick(0, 1) ? kw + (sw == 1 ? 7 : 14) + pick(0, 1) * 2 : kw + pick(0, 8);
    std::string pad = "valid";
    Attr padding = pad;
    const int p = static_cast<int>(std::min(kh, kw)) - 1; // explicit padding under the filter size
    switch (pick(0, 2)) {
    case 1: padding = pad = "same"; break;
    case 2:
      padding = std::vector<int64_t>{pick(0, p), pick(0, p), pick(0, p), pick(0, p)};
      pad = "explicit";
      break;
    default: break;
    }
    std::ostringstream what;
    what << "seed " << seed << ": x [" << n << "," << c << "," << h << "," << w << "], w [" << o << "," << c << ","
         << kh << "," << kw << "], stride " << sh << "x" << sw << ", padding " << pad;
    Graph g;
    Value x = g.addInput("x", {DType::F32, {n, c, h, w}});
    Value wt = g.addInput("w", {DType::F32, {o, c, kh, kw}});
    AttrMap a;
    a.set("stride", std::vector<int64_t>{sh, sw});
    a.set("padding", padding);
    Value y = g.build(OpKind::Conv2d, {x, wt}, a);
    Value dy = g.addInput("dy", y.type());
    AttrMap ai = a, af = a;
    ai.set("input_shape", Shape{n, c, h, w});
    af.set("filter_shape", Shape{o, c, kh, kw});
    g.setOutputs({y, g.build(OpKind::Conv2dInputGrad, {dy, wt}, ai), g.build(OpKind::Conv2dFilterGrad, {x, dy}, af)});
    // Sums of up to a few thousand f32 products (dw over N*OH*OW) against float64.
    // Threads 0 (one per core), 1 or 2; every fourth case the kernels of 32-byte vectors.
    const int threads = static_cast<int>(seed % 3), bytes = seed % 4 == 0 ? 32 : 0;
    EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-4, {}, false, seed, threads, bytes))
        << what.str() << ", " << threads << " threads, vector bytes " << bytes;
  }
}

// 3x3 filters with stride 1: mostly the shapes where Winograd's F(2x2, 3x3)
// applies (even sizes, channels a multiple of the vector length), now and then
// an odd size or 8 or 24 channels; valid, same or uneven padding; 1, 2 or one
// thread per core, every fourth case with 32-byte vectors.
TEST(CpuConvRandom, ThreeByThreeLayersMatchTheInterpreter) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  constexpr int kCases = 16;
  for (uint32_t seed = 101; seed < 101 + kCases; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    // Mostly even sizes and multiples of 16 channels (the Winograd shapes).
    auto size = [&] { return 2 * pick(2, 6) + (pick(0, 3) == 0 ? 1 : 0); };
    auto channels = [&] { return pick(0, 3) ? 16 * pick(1, 2) : 8 * pick(1, 3); };
    const int64_t n = pick(1, 4), c = channels(), o = channels(), h = size(), w = size();
    Attr padding = std::string(pick(0, 1) ? "valid" : "same");
    if (pick(0, 3) == 0) // uneven: 0 or 2 on a side keeps the size's parity
      padding = std::vector<int64_t>{2 * pick(0, 1), 2 * pick(0, 1), 2 * pick(0, 1), 2 * pick(0, 1)};
    Graph g;
    Value x = g.addInput("x", {DType::F32, {n, c, h, w}});
    Value wt = g.addInput("w", {DType::F32, {o, c, 3, 3}});
    AttrMap a;
    a.set("stride", std::vector<int64_t>{1, 1});
    a.set("padding", padding);
    Value y = g.build(OpKind::Conv2d, {x, wt}, a);
    Value dy = g.addInput("dy", y.type());
    AttrMap ai = a, af = a;
    ai.set("input_shape", Shape{n, c, h, w});
    af.set("filter_shape", Shape{o, c, 3, 3});
    g.setOutputs({y, g.build(OpKind::Conv2dInputGrad, {dy, wt}, ai), g.build(OpKind::Conv2dFilterGrad, {x, dy}, af)});
    std::ostringstream what;
    what << "seed " << seed << ": x [" << n << "," << c << "," << h << "," << w << "], w [" << o << "," << c
         << ",3,3], y " << shapeString(y.shape());
    const int threads = static_cast<int>(seed % 3), bytes = seed % 4 == 0 ? 32 : 0;
    EXPECT_TRUE(sameAsInterpreter(g, "cpu", 1e-4, {}, false, seed, threads, bytes))
        << what.str() << ", " << threads << " threads, vector bytes " << bytes;
  }
}

} // namespace
} // namespace kiln::test
