// codegen/LowerMatmul.cpp - matmul: the blocked GEMM when it applies, else simple loops.
//
// The simple form keeps one output row in a local accumulator array and
// streams rows of B through it (i, k, j order), so the inner loop is
// contiguous and vectorizes; it is the reference the blocked kernel
// (codegen/LowerGemm.cpp) is tested against and the fallback for odd cases.
#include "codegen/LowerContext.h"
#include "codegen/LowerGemm.h"

namespace kiln::lower {

using namespace kir;

void lowerMatmul(ProgramBuilder &pb, Node &n, const std::string &name) {
  Value a = n.operand(0), b = n.operand(1), c = n.result();
  bool ta = n.attrs().getBool("transpose_a"), tb = n.attrs().getBool("transpose_b");
  int64_t m = c.shape()[0], nn = c.shape()[1], k = ta ? a.shape()[0] : a.shape()[1];
  if (pb.opt.blockedKernels && lowerGemm(pb, n, name))
    return;
  KernelBuilder kb(pb, name);
  DType t = c.dtype();
  int64_t tile = tileOf(nn);
  Expr i = kb.newVar("i"), jt = kb.newVar("jt"), j = kb.newVar("j"), p = kb.newVar("k");
  Expr av = kb.newVar("a", {t, 1});
  Expr col = add(mul(jt, intImm(tile)), j);
  int acc = kb.local("acc", t, tile);
  Expr bv = kb.valueAt(b, tb ? Index{col, p} : Index{p, col});
  Stmt init = forLoop(j, tile, ForKind::Serial, store(acc, j, constant(0, t)));
  Stmt update = forLoop(j, tile, ForKind::Serial, store(acc, j, add(load(acc, t, j), mul(av, bv))));
  Stmt kloop = forLoop(p, k, ForKind::Serial, letStmt(av, kb.valueAt(a, ta ? Index{p, i} : Index{i, p}), update));
  Stmt fin = forLoop(j, tile, ForKind::Serial, kb.storeResult(c, {i, col}, load(acc, t, j)));
  Stmt s = alloc(acc, block({init, kloop, fin}));
  s = forLoop(jt, nn / tile, ForKind::Serial, s);
  kb.kernel.body = kb.makeParallel(forLoop(i, m, ForKind::Serial, s), 2.0 * static_cast<double>(nn * k));
  pb.finish(kb);
}

} // namespace kiln::lower
