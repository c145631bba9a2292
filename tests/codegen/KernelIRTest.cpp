// tests/codegen/KernelIRTest.cpp - kernel IR builders, printer, Visitor/Mutator and lowering shape.
#include "codegen/KernelIR.h"
#include "codegen/Lower.h"
#include "ir/Graph.h"

#include <gtest/gtest.h>

namespace kiln::kir {
namespace {

TEST(KernelIR, BuildersFoldIndexArithmetic) {
  Expr i = var("i");
  EXPECT_EQ(add(intImm(0), i), i);
  EXPECT_EQ(mul(i, intImm(1)), i);
  int64_t v = 0;
  EXPECT_TRUE(isConstInt(add(mul(intImm(3), intImm(4)), intImm(5)), &v));
  EXPECT_EQ(v, 17);
  EXPECT_TRUE(isConstInt(mul(i, intImm(0)), &v));
  EXPECT_EQ(v, 0);
  // Float arithmetic is never folded (it must round like the kernel would).
  EXPECT_EQ(printExpr(add(floatImm(1, DType::F32), floatImm(2, DType::F32))), "(1.0f + 2.0f)");
}

TEST(KernelIR, PrintsAKernel) {
  Kernel k;
  k.name = "scale";
  int x = k.addParam("x", DType::F32, 8, true);
  int y = k.addParam("y", DType::F32, 8, false);
  Expr i = var("i0");
  k.body = forLoop(i, 8, ForKind::Serial, store(y, i, mul(load(x, DType::F32, i), floatImm(0.5, DType::F32))));
  EXPECT_EQ(printKernel(k), "kernel @scale(b0: f32[8] in \"x\", b1: f32[8] out \"y\") parallel 1 {\n"
                            "  for i0 in 0 +8 {\n"
                            "    b1[i0] = (b0[i0] * 0.5f)\n"
                            "  }\n"
                            "}\n");
}

TEST(KernelIR, VisitorAndMutator) {
  Expr i = var("i");
  Stmt s = block({store(1, i, load(0, DType::F32, add(i, intImm(1)))), store(1, intImm(0), load(0, DType::F32, i))});
  struct Loads : Visitor {
    int n = 0;
    void visitLoad(const Load &l) override {
      ++n;
      Visitor::visitLoad(l);
    }
  } loads;
  loads.visit(s);
  EXPECT_EQ(loads.n, 2);
  Stmt same = substitute(s, var("other"), intImm(3));
  EXPECT_EQ(same, s) << "a mutator returns the same node when nothing changed";
  Stmt sub = substitute(s, i, intImm(4));
  EXPECT_EQ(printStmt(sub), "b1[4] = b0[5]\nb1[0] = b0[4]\n");
}

// narrowIndexArithmetic rebuilds each largest piece of pure index arithmetic
// over the given variables in i32 (cast back to i64 where one is used) when
// interval arithmetic from the variables' ranges keeps every value of it in
// 32 bits; data loads, random numbers, other variables, immediates and
// products beyond 32 bits keep their 64 bits, and a shared piece stays shared.
TEST(KernelIR, NarrowsIndexArithmeticWhereItsValuesFit) {
  Type i32{DType::I32, 1}, i64{DType::I64, 1};
  Expr i = var("i"), j = var("j"), n = var("n"), ni = var("i", i32), nj = var("j", i32);
  std::vector<IndexVar> vars = {{i, ni, 0, 99}, {j, nj, 0, (int64_t{1} << 20) - 1}};
  auto narrowed = [&](const Expr &e) { return narrowIndexArithmetic(e, vars); };
  // A flat index under a guard: the condition in i32, the index cast once.
  Expr flat = add(mul(div(i, intImm(9)), intImm(32)), mod(j, intImm(3)));
  Expr guarded = select(binary(BinOp::Lt, i, intImm(10)), load(0, DType::F32, flat), floatImm(0, DType::F32));
  Expr g = narrowed(guarded);
  const auto *sel = as<Select>(g);
  ASSERT_NE(sel, nullptr);
  EXPECT_EQ(as<Binary>(sel->c)->a, ni);
  EXPECT_EQ(as<Binary>(sel->c)->b->type, i32);
  const auto *index = as<Cast>(as<Load>(sel->a)->index);
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->type, i64);
  EXPECT_EQ(printExpr(index->a), "(((i / i32(9)) * i32(32)) + (j % i32(3)))");
  // j < 2^20: j * 2048 < 2^31 narrows, j * 4096 may reach 2^32 and stays
  // 64-bit (only j itself is narrowed, then widened).
  EXPECT_EQ(as<Cast>(narrowed(mul(j, intImm(2048))))->a->type, i32);
  Expr wide = narrowed(mul(j, intImm(4096)));
  ASSERT_NE(as<Binary>(wide), nullptr);
  EXPECT_EQ(wide->type, i64);
  EXPECT_EQ(as<Cast>(as<Binary>(wide)->a)->a, nj);
  // A remainder bounds its value: (j * 4096) % 1000 still overflows inside;
  // (j % 1000) * 4096 < 2^22 fits.
  EXPECT_EQ(narrowed(mod(mul(j, intImm(4096)), intImm(1000)))->type, i64);
  EXPECT_EQ(as<Cast>(narrowed(mul(mod(j, intImm(1000)), intImm(4096))))->a->type, i32);
  // Another variable keeps its sum in i64; the piece over i alone narrows.
  Expr mixed = narrowed(add(mul(i, intImm(4)), n));
  EXPECT_EQ(as<Binary>(mixed)->b, n);
  EXPECT_EQ(as<Cast>(as<Binary>(mixed)->a)->a->type, i32);
  // An immediate beyond 32 bits, a load of i64 data and a random number's key
  // stay 64-bit; the index of that random number narrows.
  Expr big = add(i, intImm(int64_t{1} << 40));
  EXPECT_EQ(as<Binary>(narrowed(big))->b, as<Binary>(big)->b);
  EXPECT_EQ(as<Binary>(narrowed(big))->a->type, i64);
  Expr key = load(1, DType::I64, intImm(0));
  Expr r = narrowed(random(7, key, flat));
  EXPECT_EQ(as<Random>(r)->key, key);
  EXPECT_EQ(as<Cast>(as<Random>(r)->index)->a->type, i32);
  // A subexpression used twice is narrowed once.
  Expr t = narrowed(add(load(0, DType::F32, flat), load(2, DType::F32, flat)));
  EXPECT_EQ(as<Load>(as<Binary>(t)->a)->index, as<Load>(as<Binary>(t)->b)->index);
  // Nothing to narrow, or a variable whose range is beyond 32 bits: the same node back.
  Expr plain = load(0, DType::F32, n);
  EXPECT_EQ(narrowed(plain), plain);
  Expr huge = add(i, intImm(1));
  EXPECT_EQ(narrowIndexArithmetic(huge, {{i, ni, 0, int64_t{1} << 33}}), huge);
  // Statements: a store's index narrows.
  Stmt st = narrowIndexArithmetic(store(0, flat, floatImm(1, DType::F32)), vars);
  EXPECT_EQ(printStmt(st), "b0[i64((((i / i32(9)) * i32(32)) + (j % i32(3))))] = 1.0f\n");
}

// In statements, a loop with constant bounds counts with an i32 variable and
// a let of a narrowable value binds one; a loop variable used again by a later
// loop is that loop's own; a loop whose bound passes 2^31 keeps i64.
TEST(KernelIR, NarrowsLoopsAndLetsOfStatements) {
  Expr k = var("k"), t = var("t"), big = var("b");
  Stmt body = letStmt(t, mul(k, intImm(3)), store(0, add(t, intImm(1)), floatImm(1, DType::F32)));
  Stmt s = block({forLoop(k, 10, ForKind::Serial, body), forLoop(k, intImm(5), intImm(4), ForKind::Serial, body),
                  forLoop(big, intImm(0), intImm(int64_t{1} << 31), ForKind::Serial,
                          store(0, mul(big, intImm(2)), floatImm(2, DType::F32)))});
  Stmt narrowed = narrowIndexArithmetic(s, {});
  EXPECT_EQ(printStmt(narrowed), "for k in i32(0) +i32(10) {\n"
                                 "  let t: i32 = (k * i32(3))\n"
                                 "  b0[i64((t + i32(1)))] = 1.0f\n"
                                 "}\n"
                                 "for k in i32(5) +i32(4) {\n"
                                 "  let t: i32 = (k * i32(3))\n"
                                 "  b0[i64((t + i32(1)))] = 1.0f\n"
                                 "}\n"
                                 "for b in 0 +2147483648 {\n"
                                 "  b0[(b * 2)] = 2.0f\n"
                                 "}\n");
  const auto *first = as<For>(as<Block>(narrowed)->stmts[0]);
  EXPECT_EQ(first->var->type, (Type{DType::I32, 1}));
}

// linearForm reads an index as constant + coefficients of variables, the
// coefficients worked out by hand; anything else is no linear form.
TEST(KernelIR, LinearFormsOfIndices) {
  Expr i = var("i"), j = var("j");
  auto form = [](const Expr &e) { return linearForm(e); };
  std::optional<LinearForm> f = form(add(mul(i, intImm(512)), j));
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (LinearForm{0, {{i.get(), 512}, {j.get(), 1}}}));
  // 3 (i + 2) - (j - i) * 2 - 5 = 5 i - 2 j + 1; binary() builds without folding.
  Expr e = binary(BinOp::Sub,
                  binary(BinOp::Sub, binary(BinOp::Mul, intImm(3), binary(BinOp::Add, i, intImm(2))),
                         binary(BinOp::Mul, binary(BinOp::Sub, j, i), intImm(2))),
                  intImm(5));
  ASSERT_TRUE(form(e));
  EXPECT_EQ(*form(e), (LinearForm{1, {{i.get(), 5}, {j.get(), -2}}}));
  // A variable that cancels out is no term of the form.
  EXPECT_EQ(*form(binary(BinOp::Sub, binary(BinOp::Add, i, j), i)), (LinearForm{0, {{j.get(), 1}}}));
  // A widening cast is looked through; a narrowing one could wrap.
  Expr ni = var("n", {DType::I32, 1});
  EXPECT_EQ(*form(cast(binary(BinOp::Mul, ni, intImm(4, DType::I32)), DType::I64)), (LinearForm{0, {{ni.get(), 4}}}));
  EXPECT_FALSE(form(cast(i, DType::I32)));
  EXPECT_FALSE(form(binary(BinOp::Mul, i, j)));
  EXPECT_FALSE(form(binary(BinOp::Div, i, intImm(2))));
  EXPECT_FALSE(form(load(0, DType::I64, i)));
  EXPECT_FALSE(form(binary(BinOp::Mul, binary(BinOp::Mul, i, intImm(int64_t{1} << 40)), intImm(int64_t{1} << 40))));
  EXPECT_FALSE(form(floatImm(1, DType::F32)));
}

TEST(Lowering, OneKernelPerNodeAndViewsForReshape) {
  Graph g;
  Value a = g.addInput("a", {DType::F32, {4, 6}});
  Value r = g.build(OpKind::Relu, {a});
  AttrMap shape;
  shape.set("shape", std::vector<int64_t>{24});
  Value flat = g.build(OpKind::Reshape, {r}, shape);
  g.setOutputs({g.build(OpKind::Exp, {flat})});
  Program p = lowerGraph(g);
  EXPECT_EQ(p.kernels.size(), 2u) << printProgram(p); // relu, exp; the reshape is a view
  ASSERT_EQ(p.outputs.size(), 1u);
  int view = -1;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].aliasOf >= 0)
      view = static_cast<int>(b);
  ASSERT_GE(view, 0) << printProgram(p);
  EXPECT_EQ(p.buffers[p.storageOf(view)].type.shape, (Shape{4, 6}));
}

/// conv2d_filter_grad of a 5x5 filter over x[128,1,side,side], dw fx1x5x5.
std::unique_ptr<Graph> filterGradient(int64_t side, int64_t f = 32) {
  auto g = std::make_unique<Graph>();
  Value x = g->addInput("x", {DType::F32, {128, 1, side, side}});
  Value dy = g->addInput("dy", {DType::F32, {128, f, side - 4, side - 4}});
  AttrMap a;
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("valid"));
  a.set("filter_shape", std::vector<int64_t>{f, 1, 5, 5});
  g->setOutputs({g->build(OpKind::Conv2dFilterGrad, {x, dy}, a)});
  return g;
}

bool hasLocal(const Kernel &k, const std::string &name) {
  for (const BufferDecl &b : k.buffers)
    if (b.local && b.name == name)
      return true;
  return false;
}

// A filter gradient like the report CNN's first but with 20 filters (dw
// 20x1x5x5, K = 128*23*23) has one output block: with two threads its GEMM
// splits K into a partial-product kernel and a sum kernel over a [2, 20, 25]
// scratch buffer; alone it is one kernel.
TEST(Lowering, FilterGradientWithFewBlocksSplitsK) {
  // 23-wide rows: not the row form; 20 filters: not vectors along the filters.
  std::unique_ptr<Graph> g = filterGradient(27, 20);
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(*g, two);
  ASSERT_EQ(p.kernels.size(), 2u) << printProgram(p);
  EXPECT_TRUE(hasLocal(p.kernels[0], "bpack")) << "a GEMM";
  EXPECT_EQ(p.kernels[1].name, p.kernels[0].name + "_sum");
  EXPECT_EQ(p.kernels[0].parallelExtent, 2);
  int parts = -1;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].name == p.kernels[0].name + ".parts")
      parts = static_cast<int>(b);
  ASSERT_GE(parts, 0) << printProgram(p);
  EXPECT_EQ(p.buffers[parts].type.shape, (Shape{2, 20, 25}));
  EXPECT_EQ(p.launches[1].args, (std::vector<int>{parts, p.outputs[0]})) << printProgram(p); // parts -> dw
  LowerOptions one;
  one.threads = 1;
  EXPECT_EQ(lowerGraph(*g, one).kernels.size(), 1u);
}

// The report CNN's own first filter gradient (24-wide rows, 25 taps) is the
// row form: dot products along ow, one part of the images per thread, then
// the same ordered sum of the parts.
TEST(Lowering, SmallFilterGradientIsDotProductsAlongRows) {
  std::unique_ptr<Graph> g = filterGradient(28);
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(*g, two);
  ASSERT_EQ(p.kernels.size(), 2u) << printProgram(p);
  EXPECT_TRUE(hasLocal(p.kernels[0], "accall")) << "the row form";
  EXPECT_FALSE(hasLocal(p.kernels[0], "bpack"));
  EXPECT_EQ(p.kernels[0].parallelExtent, 2);
  EXPECT_EQ(p.kernels[1].name, p.kernels[0].name + "_sum");
  LowerOptions one;
  one.threads = 1;
  Program single = lowerGraph(*g, one);
  ASSERT_EQ(single.kernels.size(), 1u); // one part stores dw itself
  EXPECT_TRUE(hasLocal(single.kernels[0], "accall"));
}

/// conv2d of x[8, c, side, side] with f filters of 3x3, and its filter gradient.
std::unique_ptr<Graph> convAndFilterGradient(int64_t c, int64_t side, int64_t f) {
  auto g = std::make_unique<Graph>();
  Value x = g->addInput("x", {DType::F32, {8, c, side, side}});
  Value w = g->addInput("w", {DType::F32, {f, c, 3, 3}});
  Value dy = g->addInput("dy", {DType::F32, {8, f, side - 2, side - 2}});
  AttrMap a;
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("valid"));
  AttrMap af = a;
  af.set("filter_shape", std::vector<int64_t>{f, c, 3, 3});
  g->setOutputs({g->build(OpKind::Conv2d, {x, w}, a), g->build(OpKind::Conv2dFilterGrad, {x, dy}, af)});
  return g;
}

// The report CNN's second convolution (64 filters, 288 taps, 10-wide rows)
// runs with vectors along the filters: conv2d transposes the filter in a
// `_wt` kernel, then per image sums outer products into a channel-minor
// block; the filter gradient transposes each image's dy and sums per part.
TEST(Lowering, ManyFiltersAreVectorsAlongTheFilters) {
  std::unique_ptr<Graph> g = convAndFilterGradient(32, 12, 64);
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(*g, two);
  ASSERT_EQ(p.kernels.size(), 4u) << printProgram(p);
  EXPECT_EQ(p.kernels[0].name, p.kernels[1].name + "_wt");
  EXPECT_FALSE(hasLocal(p.kernels[1], "bpack")) << "not a GEMM";
  EXPECT_TRUE(hasLocal(p.kernels[1], "cblock"));
  EXPECT_EQ(p.kernels[1].parallelExtent, 8); // one image per iteration
  EXPECT_TRUE(hasLocal(p.kernels[2], "dyt")) << printKernel(p.kernels[2]);
  EXPECT_EQ(p.kernels[2].parallelExtent, 2); // one part per thread
  EXPECT_EQ(p.kernels[3].name, p.kernels[2].name + "_sum");
}

// With 16-wide output rows and 40 taps, conv2d runs along output rows
// (filter values broadcast); 36 filters are no multiple of the vector length,
// so the filter gradient stays a GEMM.
TEST(Lowering, ShortFilterConvolutionRunsAlongRows) {
  std::unique_ptr<Graph> g = convAndFilterGradient(4, 18, 36);
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(*g, two);
  ASSERT_GE(p.kernels.size(), 2u) << printProgram(p);
  EXPECT_TRUE(hasLocal(p.kernels[0], "rowblock")) << printKernel(p.kernels[0]);
  EXPECT_FALSE(hasLocal(p.kernels[0], "bpack"));
  EXPECT_TRUE(hasLocal(p.kernels[1], "bpack")) << printKernel(p.kernels[1]);
}

// An input gradient like the report CNN's second (32 input channels, 64
// filters of 3x3) but with an odd input size (no Winograd) runs with vectors
// along the input channels: a `_wt` kernel rearranges the filter, then one
// kernel per image sums into a channel-minor block.
TEST(Lowering, InputGradientIsVectorsAlongTheInputChannels) {
  Graph g;
  Value dy = g.addInput("dy", {DType::F32, {8, 64, 9, 9}});
  Value w = g.addInput("w", {DType::F32, {64, 32, 3, 3}});
  AttrMap a;
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("valid"));
  a.set("input_shape", std::vector<int64_t>{8, 32, 11, 11});
  g.setOutputs({g.build(OpKind::Conv2dInputGrad, {dy, w}, a)});
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(g, two);
  ASSERT_EQ(p.kernels.size(), 2u) << printProgram(p);
  EXPECT_EQ(p.kernels[0].name, p.kernels[1].name + "_wt");
  EXPECT_TRUE(hasLocal(p.kernels[1], "cblock")) << printKernel(p.kernels[1]);
  EXPECT_FALSE(hasLocal(p.kernels[1], "bpack"));
  EXPECT_EQ(p.kernels[1].parallelExtent, 8);
  EXPECT_FALSE(hasLocal(p.kernels[1], "wino_in"));
}

// The report CNN's second layer (3x3, stride 1, 12x12 -> 10x10, 64 filters)
// runs all three convolutions by Winograd's F(2x2, 3x3): a `_wt` kernel
// transforms the filter; conv2d and the input gradient loop over images, the
// filter gradient over parts of them and ends with a `_sum` kernel.
TEST(Lowering, ThreeByThreeLayerRunsByWinograd) {
  Graph g;
  Value x = g.addInput("x", {DType::F32, {8, 32, 12, 12}});
  Value w = g.addInput("w", {DType::F32, {64, 32, 3, 3}});
  Value dy = g.addInput("dy", {DType::F32, {8, 64, 10, 10}});
  AttrMap a;
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("valid"));
  AttrMap ai = a, af = a;
  ai.set("input_shape", std::vector<int64_t>{8, 32, 12, 12});
  af.set("filter_shape", std::vector<int64_t>{64, 32, 3, 3});
  g.setOutputs({g.build(OpKind::Conv2d, {x, w}, a), g.build(OpKind::Conv2dInputGrad, {dy, w}, ai),
                g.build(OpKind::Conv2dFilterGrad, {x, dy}, af)});
  LowerOptions two;
  two.threads = 2;
  Program p = lowerGraph(g, two);
  std::vector<std::string> names;
  for (const Kernel &k : p.kernels)
    names.push_back(k.name);
  ASSERT_EQ(names.size(), 6u) << printProgram(p);
  for (size_t i : {0u, 2u})
    EXPECT_EQ(names[i], names[i + 1] + "_wt");
  EXPECT_EQ(names[5], names[4] + "_sum");
  for (size_t i : {1u, 3u, 4u})
    EXPECT_TRUE(hasLocal(p.kernels[i], "wino_in") || hasLocal(p.kernels[i], "dypad")) << printKernel(p.kernels[i]);
  EXPECT_TRUE(hasLocal(p.kernels[4], "wino_dy"));
  EXPECT_EQ(p.kernels[1].parallelExtent, 8);
  EXPECT_EQ(p.kernels[4].parallelExtent, 2);
}

// Elementwise kernels over rows shorter than a vector run one loop over all
// elements when every operand is read at the element's own index; a
// broadcast operand keeps the nest. Unravelling and re-linearizing the flat
// index folds back to it.
TEST(Lowering, ShortRowsOfElementwiseOpsBecomeOneLoop) {
  Expr f = var("f");
  EXPECT_EQ(add(mul(div(f, intImm(5)), intImm(5)), mod(f, intImm(5))), f);
  EXPECT_NE(add(mul(div(f, intImm(5)), intImm(4)), mod(f, intImm(5))), f);
  EXPECT_NE(add(mul(div(f, intImm(5)), intImm(5)), mod(var("g"), intImm(5))), f);
  for (bool broadcast : {false, true}) {
    Graph g;
    Value a = g.addInput("a", {DType::F32, {6, 4, 5, 5}});
    Value b = g.addInput("b", {DType::F32, broadcast ? Shape{4} : Shape{6, 4, 5, 5}});
    AttrMap at;
    if (broadcast)
      at.set("broadcast", std::vector<int64_t>{1});
    g.setOutputs({g.build(OpKind::Mul, {a, b}, at)});
    Program p = lowerGraph(g);
    ASSERT_EQ(p.kernels.size(), 1u) << printProgram(p);
    const Kernel &k = p.kernels[0];
    const For *outer = as<For>(k.body);
    ASSERT_TRUE(outer) << printKernel(k);
    int64_t extent = 0;
    ASSERT_TRUE(isConstInt(outer->extent, &extent));
    EXPECT_EQ(extent, broadcast ? 6 : 600) << printKernel(k);
    if (!broadcast) {
      EXPECT_NE(printKernel(k).find("[i0] = (b"), std::string::npos) << printKernel(k);
    }
  }
}

} // namespace
} // namespace kiln::kir
