// codegen/cuda/CudaReduce.cpp - reduce_sum, reduce_mean, reduce_max and argmax: a warp or a block per output.
//
// Output element o (kept dims, row-major) and reduced position r (reduced
// dims, row-major) are two flat indices; lane l of o's warp folds the
// elements r = l, l + 32, ... in order, then five xor-shuffle steps combine
// the lanes and lane 0 stores through KernelBuilder::storeResult (so a fused
// epilogue applies). A few outputs of long reductions take a block each, or
// several when there are too few outputs to give every SM one (a chunk of r
// each): its 256 threads fold r = t, t + 256, ..., each warp combines its
// lanes, and thread 0 combines the 8 warps' results in order. Of an output's
// chunks, the block that stores its partial result last (a counter per output
// in a workspace buffer, left at 0 for the next step) adds the partials in
// chunk order and stores the result. The order of operations is fixed, so
// results are bitwise reproducible. argmax keeps (value, position) pairs and prefers the
// smaller position on ties: the first maximum, as the interpreter defines it.
#include "codegen/cuda/CudaLowerContext.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"
#include "ir/ops/OpUtil.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::cuda {

using namespace kir;

namespace {

constexpr int kWarpsPerBlock = 8;

double lowestOf(DType t) {
  switch (t) {
  case DType::F32:
  case DType::F64: return -INFINITY;
  case DType::I32: return std::numeric_limits<int32_t>::min();
  case DType::I64: return static_cast<double>(std::numeric_limits<int64_t>::min());
  default: return 0;
  }
}

} // namespace

void lowerCudaReduction(CudaBuilder &cb, Node &n, const std::string &name) {
  KernelBuilder kb(cb.pb, name);
  Value in = n.operand(0), out = n.result();
  const Shape &is = in.shape();
  auto rank = static_cast<int64_t>(is.size());
  bool argmax = n.kind() == OpKind::Argmax, isMax = argmax || n.kind() == OpKind::ReduceMax;
  std::vector<int64_t> axes =
      argmax ? std::vector<int64_t>{normalizeAxis(n.attrs().getInt("axis"), rank, "argmax")}
             : normalizeAxes(n.attrs().getInts("axes"), rank, n.mnemonic());
  bool keep = n.attrs().getBool("keepdims");
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes)
    reduced[a] = true;
  Shape keptShape, redShape;
  for (int64_t d = 0; d < rank; ++d)
    (reduced[d] ? redShape : keptShape).push_back(is[d]);
  int64_t outs = numElements(keptShape), count = numElements(redShape);
  DType at = argmax ? in.dtype() : out.dtype();
  std::string T = cudaType(at);

  Expr o = kir::var("o"), r = kir::var("r"), res = kir::var("res", {argmax ? DType::I64 : at, 1});
  Index kept = lower::unravel(o, keptShape), red = lower::unravel(r, redShape), full(rank), outIdx;
  for (int64_t d = 0, k = 0, q = 0; d < rank; ++d) {
    full[d] = reduced[d] ? red[q++] : kept[k];
    if (!reduced[d])
      outIdx.push_back(kept[k++]);
    else if (keep)
      outIdx.push_back(intImm(0));
  }
  Expr x = cast(kb.valueAt(in, full), at);
  Expr result = cast(res, argmax ? out.dtype() : at);
  if (n.kind() == OpKind::ReduceMean)
    result = div(result, constant(static_cast<double>(count), at));
  Stmt st = kb.storeResult(out, outIdx, cast(result, out.dtype()));

  // Kernel IR reference: one output per iteration, a serial fold.
  int acc = kb.local("acc", at, 1), arg = kb.local("arg", DType::I64, 1);
  Expr zero = intImm(0), cur = load(acc, at, zero);
  Stmt update = argmax ? ifThen(binary(BinOp::Lt, cur, x), block({store(acc, zero, x), store(arg, zero, r)}))
                       : store(acc, zero, isMax ? max(x, cur) : add(cur, x));
  Stmt ref = block({store(acc, zero, constant(isMax ? lowestOf(at) : 0, at)), store(arg, zero, zero),
                    forLoop(r, count, ForKind::Serial, update),
                    letStmt(res, argmax ? load(arg, DType::I64, zero) : cur, st)});
  ref = forLoop(o, outs, ForKind::Parallel, alloc(acc, alloc(arg, ref)));

  // Few outputs of long reductions (a convolution's bias gradient: 32 sums
  // of 73,728) get a block each instead of a warp, so that more of the GPU
  // reads them; argmax keeps a warp. Fewer outputs than SMs get several
  // blocks each, a chunk of at least 4,096 values apiece.
  const int64_t sms = cb.opt.smCount;
  const bool perBlock = !argmax && count >= 4096 && outs < 8 * sms;
  const int64_t chunks = perBlock ? std::clamp<int64_t>(sms / outs, 1, count / 4096) : 1;
  const int64_t chunk = (count + chunks - 1) / chunks;
  int partials = -1, counters = -1;
  if (chunks > 1) { // the reference also leaves the counters at 0, as the kernel does
    partials = kb.param(cb.pb.addBuffer(name + "_partials", TensorType{at, {outs, chunks}}, BufferRole::Temp), true);
    counters =
        kb.param(cb.pb.addBuffer(name + "_chunks_done", TensorType{DType::I32, {outs}}, BufferRole::Workspace), true);
    ref = block({ref, forLoop(o, outs, ForKind::Serial, store(counters, o, intImm(0, DType::I32)))});
  }
  kb.kernel.body = ref;
  // Threads that fold one output, and outputs per block.
  const int64_t folders = perBlock ? 32 * kWarpsPerBlock : 32, outsPerBlock = perBlock ? 1 : kWarpsPerBlock;
  // o and r in 32 bits when they fit, and the index arithmetic over them
  // where its values do (kir::narrowIndexArithmetic).
  const bool narrow = narrowCoordinates(std::max(outs, count));
  const std::string IT = narrow ? "int" : "long long", suffix = narrow ? "" : "LL";
  Expr xs = x;
  if (narrow)
    xs = narrowIndexArithmetic(
        x, {{o, kir::var("o", {DType::I32, 1}), 0, outs - 1}, {r, kir::var("r", {DType::I32, 1}), 0, count - 1}});

  KirRenderer rd(kb.kernel, cb.noAlias(kb));
  std::string vo = rd.varName(o), vr = rd.varName(r), cnt = std::to_string(count) + suffix;
  static_assert(32 * kWarpsPerBlock == kGenericBlock, "a reduction's block is a generic kernel's (launch groups)");
  // The body is a device function of the block index, as a generic kernel's,
  // so that a launch group (CudaGroup.cpp) can run it for a range of its blocks.
  std::string s = bodyOpening(rd, "KILN_KERNEL_NAME");
  const std::string C = std::to_string(chunks);
  std::string first = chunks > 1 ? "block / " + C
                      : perBlock ? "block"
                                 : "block * " + std::to_string(kWarpsPerBlock) + " + threadIdx.x / 32";
  s += "  const " + IT + " " + vo + " = " + first + ";\n";
  s += "  const int lane = threadIdx.x % 32;\n";
  s += "  if (" + vo + " >= " + std::to_string(outs) + suffix + ") return;\n";
  s += "  " + T + " acc = " + cudaLiteral(isMax ? lowestOf(at) : 0, at) + ";\n";
  if (argmax)
    s += "  long long arg = " + cnt + ";\n";
  std::string from = perBlock ? "threadIdx.x" : "lane", to = cnt;
  if (chunks > 1) { // chunk block % chunks of the output's values
    s += "  const int chunk = (int)(block % " + C + ");\n";
    from = "chunk * " + std::to_string(chunk) + suffix + " + threadIdx.x";
    s += "  const " + IT + " end = chunk == " + std::to_string(chunks - 1) + " ? " + cnt + " : (chunk + 1) * " +
         std::to_string(chunk) + suffix + ";\n";
    to = "end";
  }
  s += "  for (" + IT + " " + vr + " = " + from + "; " + vr + " < " + to + "; " + vr +
       " += " + std::to_string(folders) + ") {\n";
  std::string xv = rd.expr(xs, 2, s);
  s += "    const " + T + " x = " + xv + ";\n";
  auto combine = [&](const std::string &a, const std::string &b) {
    return isMax ? "kiln_max<" + T + ">(" + a + ", " + b + ")" : a + " + " + b;
  };
  if (argmax)
    s += "    if (acc < x) { acc = x; arg = " + vr + "; }\n";
  else
    s += "    acc = " + combine("x", "acc") + ";\n";
  s += "  }\n#pragma unroll\n  for (int off = 16; off > 0; off >>= 1) {\n";
  s += "    const " + T + " other = kiln_shfl_xor(acc, off);\n";
  if (argmax) {
    s += "    const long long otherArg = kiln_shfl_xor(arg, off);\n";
    s += "    if (other > acc || (other == acc && otherArg < arg)) { acc = other; arg = otherArg; }\n";
  } else {
    s += "    acc = " + combine("acc", "other") + ";\n";
  }
  s += "  }\n";
  if (perBlock) { // the warps' results in warp order, by one thread
    s += "  __shared__ " + T + " warpAcc[" + std::to_string(kWarpsPerBlock) + "];\n";
    s += "  if (lane == 0) warpAcc[threadIdx.x / 32] = acc;\n  __syncthreads();\n";
    s += "  if (threadIdx.x == 0) {\n    acc = warpAcc[0];\n";
    s += "    for (int w = 1; w < " + std::to_string(kWarpsPerBlock) + "; ++w) acc = " + combine("acc", "warpAcc[w]") +
         ";\n";
    if (chunks > 1) {
      // Thread 0 stores the chunk's partial and counts it; the block that
      // counts last adds the partials in chunk order (read past L1) and
      // leaves the counter at 0 for the next step.
      const std::string part = rd.bufferName(partials), done = rd.bufferName(counters);
      s += "    " + part + "[" + vo + " * " + C + " + chunk] = acc;\n";
      s += "    __threadfence();\n";
      s += "    if (atomicAdd(&" + done + "[" + vo + "], 1) != " + std::to_string(chunks - 1) + ") return;\n";
      s += "    __threadfence();\n";
      s += "    " + done + "[" + vo + "] = 0;\n";
      s += "    const volatile " + T + " *parts = " + part + " + " + vo + " * " + C + ";\n";
      s += "    acc = parts[0];\n";
      s += "    for (int c = 1; c < " + C + "; ++c) acc = " + combine("acc", "parts[c]") + ";\n";
    }
  } else {
    s += "  if (lane == 0) {\n";
  }
  if (argmax)
    s += "    const long long " + rd.varName(res) + " = arg == " + cnt + " ? 0 : arg;\n";
  else
    s += "    const " + T + " " + rd.varName(res) + " = acc;\n";
  rd.stmt(st, 2, s);
  s += "  }\n}\n" + bodyEntry(rd, "KILN_KERNEL_NAME", kGenericBlock);

  const int64_t blocks = chunks > 1 ? outs * chunks : (outs + outsPerBlock - 1) / outsPerBlock;
  const int64_t shared = perBlock ? static_cast<int64_t>(dtypeSize(at)) * kWarpsPerBlock : 0;
  cb.finishSpecial(kb, blockBodyKernel("reduce", std::move(s), blocks, 32 * kWarpsPerBlock, shared));
}

} // namespace kiln::cuda
