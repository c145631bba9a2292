// codegen/cuda/CudaPoolGrad.cpp - max_pool2d_grad and avg_pool2d_grad as gathers.
//
// The CPU lowering scatters each window's gradient into a plane per (n, c);
// on the GPU each thread owns one input element (n, c, ih, iw) and sums the
// gradients of the windows that contain it: a window (oh, ow) contains it when
// oh = (ih + pt - kh) / sh divides exactly for some kernel row kh (likewise
// columns). For max pooling a window's gradient goes to its FIRST maximal
// element in row-major window order (padding never wins), so the thread
// rescans the window and takes the gradient only if that element is itself.
// Written in kernel IR and rendered generically: one thread per element.
#include "codegen/cuda/CudaLowerContext.h"

#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

namespace kiln::cuda {

using namespace kir;

void lowerCudaPoolGrad(CudaBuilder &cb, Node &node, const std::string &name) {
  bool isMax = node.kind() == OpKind::MaxPool2dGrad;
  Value dy = node.operand(0), dx = node.result();
  Value x = isMax ? node.operand(1) : Value{};
  const Shape &xs = dx.shape();
  const std::vector<int64_t> &kernel = node.attrs().getInts("kernel");
  KILN_USER_CHECK(kernel.size() == 2) << node.mnemonic() << ": kernel needs 2 values";
  Window2d g = windowGeometry(node.mnemonic(), node.attrs(), xs[2], xs[3], kernel[0], kernel[1]);
  DType t = dx.dtype();
  KernelBuilder kb(cb.pb, name);
  kb.kernel.body = kb.loopNest(xs, [&](const Index &idx) {
    const Expr &n = idx[0], &c = idx[1], &ih = idx[2], &iw = idx[3];
    Expr kh = kb.newVar("kh"), kw = kb.newVar("kw"), zero = intImm(0);
    int acc = kb.local("acc", t, 1);
    Expr th = sub(add(ih, intImm(g.pad.top)), kh), tw = sub(add(iw, intImm(g.pad.left)), kw);
    Expr oh = div(th, intImm(g.strideH)), ow = div(tw, intImm(g.strideW));
    auto fits = [](const Expr &tt, int64_t stride, const Expr &q, int64_t extent) {
      return binary(BinOp::And, binary(BinOp::And, binary(BinOp::Le, intImm(0), tt), binary(BinOp::Lt, q, intImm(extent))),
                    binary(BinOp::Eq, mod(tt, intImm(stride)), intImm(0)));
    };
    Expr inWindow = binary(BinOp::And, fits(th, g.strideH, oh, g.outH), fits(tw, g.strideW, ow, g.outW));
    Expr gy = kb.valueAt(dy, {n, c, oh, ow});
    Stmt take;
    if (isMax) {
      // Rescan window (oh, ow) for its first maximum.
      Expr a = kb.newVar("a"), b = kb.newVar("b");
      int best = kb.local("best", t, 1), arg = kb.local("arg", DType::I64, 1);
      Expr r = add(mul(oh, intImm(g.strideH)), sub(a, intImm(g.pad.top)));
      Expr s = add(mul(ow, intImm(g.strideW)), sub(b, intImm(g.pad.left)));
      Expr inside = binary(BinOp::And, lower::inRange(r, g.inH), lower::inRange(s, g.inW));
      Expr xv = kb.valueAt(x, {n, c, lower::clampIndex(r, g.inH), lower::clampIndex(s, g.inW)});
      Expr better = binary(BinOp::Or, binary(BinOp::Lt, load(arg, DType::I64, zero), zero),
                           binary(BinOp::Lt, load(best, t, zero), xv));
      Stmt scan = forLoop(a, g.kernelH, ForKind::Serial,
                          forLoop(b, g.kernelW, ForKind::Serial,
                                  ifThen(binary(BinOp::And, inside, better),
                                         block({store(best, zero, xv), store(arg, zero, add(mul(r, intImm(g.inW)), s))}))));
      Expr self = add(mul(ih, intImm(g.inW)), iw);
      Stmt give = ifThen(binary(BinOp::Eq, load(arg, DType::I64, zero), self),
                         store(acc, zero, add(load(acc, t, zero), gy)));
      take = alloc(best, alloc(arg, block({store(arg, zero, intImm(-1)), store(best, zero, constant(0, t)), scan, give})));
    } else {
      Expr r0 = sub(mul(oh, intImm(g.strideH)), intImm(g.pad.top));
      Expr c0 = sub(mul(ow, intImm(g.strideW)), intImm(g.pad.left));
      Expr rows = sub(min(add(r0, intImm(g.kernelH)), intImm(g.inH)), max(r0, intImm(0)));
      Expr cols = sub(min(add(c0, intImm(g.kernelW)), intImm(g.inW)), max(c0, intImm(0)));
      take = store(acc, zero, add(load(acc, t, zero), div(gy, cast(mul(rows, cols), t))));
    }
    Stmt windows = forLoop(kh, g.kernelH, ForKind::Serial,
                           forLoop(kw, g.kernelW, ForKind::Serial, ifThen(inWindow, take)));
    return alloc(acc, block({store(acc, zero, constant(0, t)), windows, kb.storeResult(dx, idx, load(acc, t, zero))}));
  });
  cb.pb.finish(kb);
}

} // namespace kiln::cuda
