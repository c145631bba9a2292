// codegen/LowerSoftmax.cpp - softmax, log_softmax, cross-entropy and one_hot.
//
// Each row along the axis is three passes: max, sum of exp(x - max), write.
// Cross-entropy checks its labels: a label outside [0, C) sets the program's
// status buffer (row + 1, label), which the runtime turns into a RuntimeError
// after the step; the kernel itself reads a clamped, safe address.
#include "codegen/LowerContext.h"

#include "ir/Error.h"
#include "ir/ops/OpUtil.h"

#include <cmath>

namespace kiln::lower {

using namespace kir;

namespace {

/// Emits max and sum-of-exp over `extent` elements elem(a) into locals mx, sum.
Stmt rowStats(KernelBuilder &kb, int mx, int sum, DType t, int64_t extent,
              const std::function<Expr(const Expr &)> &elem) {
  Expr a = kb.newVar("a"), zero = intImm(0);
  Expr m = load(mx, t, zero);
  Stmt findMax = forLoop(a, extent, ForKind::Serial, store(mx, zero, max(elem(a), load(mx, t, zero))));
  Stmt addExp = forLoop(a, extent, ForKind::Serial,
                        store(sum, zero, add(load(sum, t, zero), unary(UnOp::Exp, sub(elem(a), m)))));
  return block({store(mx, zero, floatImm(-INFINITY, t)), findMax, store(sum, zero, constant(0, t)), addExp});
}

void softmaxKernel(KernelBuilder &kb, Node &node, bool logarithm) {
  Value x = node.operand(0), y = node.result();
  const Shape &s = x.shape();
  int64_t axis = normalizeAxis(node.attrs().getInt("axis"), static_cast<int64_t>(s.size()), node.mnemonic());
  DType t = y.dtype();
  Shape outer = s;
  outer[axis] = 1;
  kb.kernel.body = kb.loopNest(
      outer,
      [&](const Index &base) {
        int mx = kb.local("max", t, 1), sum = kb.local("sum", t, 1);
        auto at = [&](const Expr &a) {
          Index idx = base;
          idx[axis] = a;
          return idx;
        };
        Stmt stats = rowStats(kb, mx, sum, t, s[axis], [&](const Expr &a) { return kb.valueAt(x, at(a)); });
        Expr a = kb.newVar("a"), zero = intImm(0);
        Expr shifted = sub(kb.valueAt(x, at(a)), load(mx, t, zero));
        Expr v = logarithm ? sub(shifted, unary(UnOp::Log, load(sum, t, zero)))
                           : div(unary(UnOp::Exp, shifted), load(sum, t, zero));
        Stmt write = forLoop(a, s[axis], ForKind::Serial, kb.storeResult(y, at(a), v));
        return alloc(mx, alloc(sum, block({stats, write})));
      },
      true, 3.0 * static_cast<double>(s[axis]));
}

/// The label of row n as i64, a bounds check that records a bad one in the
/// status buffer, and the clamped label.
struct Label {
  Expr clamped;
  Stmt check;
};
Label checkedLabel(KernelBuilder &kb, Value labels, const Expr &n, int64_t classes, const std::string &op) {
  Expr lv = cast(kb.valueAt(labels, {n}), DType::I64);
  ProgramBuilder &pb = kb.pb;
  int status = pb.addBuffer(op + "_status", TensorType{DType::I64, {2}}, BufferRole::Temp);
  pb.prog.checks.push_back({status, op, classes});
  int sp = kb.param(status, true);
  Expr bad = binary(BinOp::Eq, inRange(lv, classes), constant(0, DType::Bool));
  Expr first = binary(BinOp::Eq, load(sp, DType::I64, intImm(0)), intImm(0));
  Stmt record = block({store(sp, intImm(0), add(n, intImm(1))), store(sp, intImm(1), lv)});
  return {clampIndex(lv, classes), ifThen(binary(BinOp::And, bad, first), record)};
}

void crossEntropyKernel(KernelBuilder &kb, Node &node, bool grad) {
  Value logits = node.operand(0), labels = node.operand(1), y = node.result();
  int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  DType t = logits.dtype();
  Expr n = kb.newVar("n"), zero = intImm(0);
  int mx = kb.local("max", t, 1), sum = kb.local("sum", t, 1);
  Label label = checkedLabel(kb, labels, n, classes, std::string(node.mnemonic()));
  Stmt stats = rowStats(kb, mx, sum, t, classes, [&](const Expr &c) { return kb.valueAt(logits, {n, c}); });
  Expr lse = unary(UnOp::Log, load(sum, t, zero));
  Expr m = load(mx, t, zero);
  if (!grad) {
    int total = kb.local("total", t, 1);
    Expr picked = sub(kb.valueAt(logits, {n, label.clamped}), m);
    Stmt row = alloc(mx, alloc(sum, block({label.check, stats,
                                           store(total, zero, add(load(total, t, zero), sub(lse, picked)))})));
    Stmt s = block({store(total, zero, constant(0, t)), forLoop(n, rows, ForKind::Serial, row),
                    kb.storeResult(y, {}, div(load(total, t, zero), constant(static_cast<double>(rows), t)))});
    kb.kernel.body = alloc(total, s);
    return;
  }
  Value dloss = node.operand(2);
  Expr c = kb.newVar("c");
  Expr scale = div(kb.valueAt(dloss, {}), constant(static_cast<double>(rows), t));
  Expr prob = unary(UnOp::Exp, sub(sub(kb.valueAt(logits, {n, c}), m), lse));
  Expr onehot = select(binary(BinOp::Eq, c, label.clamped), constant(1, t), constant(0, t));
  Stmt write = forLoop(c, classes, ForKind::Serial, kb.storeResult(y, {n, c}, mul(sub(prob, onehot), scale)));
  Stmt row = alloc(mx, alloc(sum, block({label.check, stats, write})));
  kb.kernel.body = kb.makeParallel(forLoop(n, rows, ForKind::Serial, row), 4.0 * static_cast<double>(classes));
}

void oneHotKernel(KernelBuilder &kb, Node &node) {
  Value labels = node.operand(0), y = node.result();
  DType t = y.dtype();
  kb.kernel.body = kb.loopNest(y.shape(), [&](const Index &idx) {
    Index li(idx.begin(), idx.end() - 1);
    Expr hit = binary(BinOp::Eq, cast(kb.valueAt(labels, li), DType::I64), idx.back());
    return kb.storeResult(y, idx, select(hit, constant(1, t), constant(0, t)));
  });
}

} // namespace

void softmaxOpKernel(KernelBuilder &kb, Node &n) {
  switch (n.kind()) {
  case OpKind::Softmax: softmaxKernel(kb, n, false); break;
  case OpKind::LogSoftmax: softmaxKernel(kb, n, true); break;
  case OpKind::SoftmaxCrossEntropy: crossEntropyKernel(kb, n, false); break;
  case OpKind::SoftmaxCrossEntropyGrad: crossEntropyKernel(kb, n, true); break;
  case OpKind::OneHot: oneHotKernel(kb, n); break;
  default: KILN_USER_ERROR() << "cpu backend: cannot lower " << n.mnemonic();
  }
}

void lowerSoftmax(ProgramBuilder &pb, Node &n, const std::string &name) {
  KernelBuilder kb(pb, name);
  softmaxOpKernel(kb, n);
  pb.finish(kb);
}

} // namespace kiln::lower
