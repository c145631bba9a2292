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

} // namespace
} // namespace kiln::kir
