// codegen/cuda/CudaLoss.cpp - softmax_cross_entropy (the mean loss) as one block of 256 threads.
//
// The cpu lowering sums the rows' losses in one serial loop (a reduction
// over all rows, so no parallel loop), which on a GPU is one thread walking
// every row. Here thread t takes rows t, t + 256, ... in order (max, sum of
// exp, log-sum-exp minus the label's logit, as the cpu kernel), then the
// threads' sums combine in a fixed tree (xor shuffles in each warp, then the
// eight warps' sums in order by thread 0), so the loss is bitwise
// reproducible. A label outside [0, C) is reported as on the cpu: the first
// such row (the smallest, found by the same tree) and its label go to the
// status buffer. The kernel IR reference is the cpu kernel.
#include "codegen/cuda/CudaLowerContext.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"

#include <cmath>

namespace kiln::cuda {

using namespace kir;

namespace {

constexpr int kThreads = kGenericBlock;

} // namespace

void lowerCudaCrossEntropy(CudaBuilder &cb, Node &n, const std::string &name) {
  KILN_INTERNAL_CHECK(n.kind() == OpKind::SoftmaxCrossEntropy) << "cuda lowering: not a cross-entropy loss";
  KernelBuilder kb(cb.pb, name);
  lower::softmaxOpKernel(kb, n); // the reference; adds the status buffer and its check
  Value logits = n.operand(0), labels = n.operand(1), y = n.result();
  int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  DType t = logits.dtype();
  std::string T = cudaType(t), R = std::to_string(rows) + "LL", C = std::to_string(classes) + "LL";
  int status = kb.param(cb.pb.prog.checks.back().buffer, true);

  Expr row = kir::var("row"), c = kir::var("c"), lc = kir::var("lc");
  Expr mx = kir::var("mx", {t, 1}), sum = kir::var("sum", {t, 1}), loss = kir::var("loss", {t, 1});
  Expr label = cast(kb.valueAt(labels, {row}), DType::I64);
  Expr logit = kb.valueAt(logits, {row, c});
  Expr term = unary(UnOp::Exp, sub(logit, mx));
  Expr rowLoss = sub(unary(UnOp::Log, sum), sub(kb.valueAt(logits, {row, lc}), mx));
  Stmt st = kb.storeResult(y, {}, div(loss, constant(static_cast<double>(rows), t)));

  KirRenderer rd(kb.kernel, cb.noAlias(kb));
  std::string vrow = rd.varName(row), vc = rd.varName(c), vlc = rd.varName(lc), vmx = rd.varName(mx),
              vsum = rd.varName(sum), sp = rd.bufferName(status);
  // The body is a device function, so that the loss can be a member of a
  // launch group (its one block runs the body alone, barrier included).
  std::string s = bodyOpening(rd, "KILN_KERNEL_NAME");
  s += "  __shared__ " + T + " warpSum[" + std::to_string(kThreads / 32) + "];\n";
  s += "  __shared__ long long warpBad[" + std::to_string(kThreads / 32) + "];\n";
  s += "  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;\n";
  s += "  " + T + " acc = " + cudaLiteral(0, t) + ";\n";
  s += "  long long bad = " + R + ";\n";
  s += "  for (long long " + vrow + " = threadIdx.x; " + vrow + " < " + R + "; " + vrow + " += " +
       std::to_string(kThreads) + ") {\n";
  s += "    const long long lv = " + rd.expr(label, 4, s) + ";\n";
  s += "    if ((lv < 0 || lv >= " + C + ") && bad == " + R + ") bad = " + vrow + ";\n";
  s += "    const long long " + vlc + " = lv < 0 ? 0LL : (lv >= " + C + " ? " + C + " - 1 : lv);\n";
  s += "    " + T + " " + vmx + " = " + cudaLiteral(-INFINITY, t) + ";\n";
  s += "    for (long long " + vc + " = 0; " + vc + " < " + C + "; ++" + vc + ") {\n";
  s += "      " + vmx + " = kiln_max<" + T + ">(" + rd.expr(logit, 6, s) + ", " + vmx + ");\n    }\n";
  s += "    " + T + " " + vsum + " = " + cudaLiteral(0, t) + ";\n";
  s += "    for (long long " + vc + " = 0; " + vc + " < " + C + "; ++" + vc + ") {\n";
  s += "      " + vsum + " = " + vsum + " + " + rd.expr(term, 6, s) + ";\n    }\n";
  s += "    acc = acc + " + rd.expr(rowLoss, 4, s) + ";\n  }\n";
  s += "#pragma unroll\n  for (int off = 16; off > 0; off >>= 1) {\n";
  s += "    acc = acc + kiln_shfl_xor(acc, off);\n";
  s += "    const long long otherBad = kiln_shfl_xor(bad, off);\n";
  s += "    bad = otherBad < bad ? otherBad : bad;\n  }\n";
  s += "  if (lane == 0) { warpSum[warp] = acc; warpBad[warp] = bad; }\n";
  s += "  __syncthreads();\n";
  s += "  if (threadIdx.x != 0) return;\n";
  s += "  " + T + " " + rd.varName(loss) + " = " + cudaLiteral(0, t) + ";\n";
  s += "  for (int w = 0; w < " + std::to_string(kThreads / 32) + "; ++w) {\n";
  s += "    " + rd.varName(loss) + " = " + rd.varName(loss) + " + warpSum[w];\n";
  s += "    bad = warpBad[w] < bad ? warpBad[w] : bad;\n  }\n";
  s += "  if (bad < " + R + " && " + sp + "[0] == 0) {\n";
  s += "    const long long " + vrow + " = bad;\n";
  s += "    " + sp + "[0] = bad + 1;\n";
  s += "    " + sp + "[1] = " + rd.expr(label, 4, s) + ";\n  }\n";
  rd.stmt(st, 1, s);
  s += "}\n" + bodyEntry(rd, "KILN_KERNEL_NAME", kThreads);

  const auto shared = static_cast<int64_t>((dtypeSize(t) + sizeof(long long)) * (kThreads / 32));
  cb.finishSpecial(kb, blockBodyKernel("loss", std::move(s), 1, kThreads, shared));
}

} // namespace kiln::cuda
