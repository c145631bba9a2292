// codegen/LowerGemm.cpp - packed, register-blocked GEMM kernels (see LowerGemm.h).
//
// One parallel iteration owns an MC x NC block of C for one batch index and
// runs the whole K loop, so threads never share output: for each KC slice it
// packs B into NR-wide panels and A into MR-tall panels (zero-padded, so the
// micro-kernel always runs full tiles), then the MR x NR micro-kernel keeps
// its tile in MR * NR/L vector accumulators (local buffer at constant
// offsets, promoted to registers) while streaming the panels: per k, NR/L
// vector loads of B, MR broadcasts of A, MR * NR/L FMAs. Tiles land in a
// block buffer; after the last slice the block goes to C through storeResult
// (fused epilogue: bias, relu, masks) while it is hot in cache.
// Napkin math (AVX-512, f32): MR=8, NR=32 is 16 zmm accumulators, 2 loads and
// 8 broadcasts per 16 FMAs.
#include "codegen/LowerGemm.h"

#include "ir/Error.h"

namespace kiln::lower {

using namespace kir;

namespace {

/// Largest block of C before it is split (rows x columns): the first choice
/// of buildGemm, which lowerSplitK must see the same way.
constexpr int64_t kBlockRows = 128, kBlockCols = 512;

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Depth of a K slice: all of K when short, else the divisor of K nearest
/// 256 within [192, 384] (no ragged last slice, so packing needs no K
/// check), else 256.
int64_t depthSlice(int64_t k) {
  if (k <= 384)
    return k;
  for (int64_t d = 0; d <= 128; ++d)
    for (int64_t c : {256 - d, 256 + d})
      if (c >= 192 && c <= 384 && k % c == 0)
        return c;
  return 256;
}

} // namespace

Stmt buildGemm(KernelBuilder &kb, const GemmSpec &s, int vectorBytes) {
  DType t = s.dtype;
  if (!isFloat(t) || s.m <= 0 || s.n <= 0 || s.k <= 0)
    return nullptr;
  const int64_t lanes = std::max<int64_t>(1, vectorBytes / static_cast<int64_t>(dtypeSize(t)));
  // 8x2 vectors (16 accumulators) with 32 vector registers (AVX-512), 6x2
  // with 16 (AVX2, SSE).
  const int64_t nr = 2 * lanes, mr = vectorBytes >= 64 ? 8 : 6, nv = nr / lanes;
  const int64_t parts = std::max<int64_t>(1, s.kParts);
  KILN_INTERNAL_CHECK(parts == 1 || (s.batch == 1 && !s.finish)) << "gemm: a K split needs batch 1 and no finish";
  const int64_t kLen = ceilDiv(s.k, parts); // K of one part
  const int64_t kc = depthSlice(kLen);
  // Blocks as large as caches allow (every block packs its own A and B, so a
  // packed B element serves mc rows and a packed A element nc columns), of
  // equal size (no thin remainder block).
  auto balanced = [](int64_t extent, int64_t blocks, int64_t unit) { return roundUp(ceilDiv(extent, blocks), unit); };
  // Column runs (the input rows of an extended-column convolution) stay
  // whole: blocks hold whole runs.
  const int64_t nUnit = s.runLength > 0 ? s.runLength : nr;
  const int64_t runs = s.runLength > 0 ? ceilDiv(s.n, s.runLength) : 0;
  const int64_t runUsed = s.runUsed > 0 ? s.runUsed : s.runLength;
  KILN_INTERNAL_CHECK(s.runLength <= 0 || (s.cRun && runUsed <= s.runLength && (runs - 1) * s.runLength + runUsed <= s.n))
      << "gemm: bad column runs";
  int64_t mParts = ceilDiv(s.m, kBlockRows), nParts = ceilDiv(s.n, kBlockCols);
  int64_t mc = balanced(s.m, mParts, mr), nc = balanced(s.n, nParts, nUnit);
  // Few blocks (a filter gradient: one output, a long K): split the block so
  // that every thread gets work; columns first, since packing B (an implicit
  // im2col) costs more than packing A.
  const int64_t minBlocks = kb.pb.opt.threads > 0 ? kb.pb.opt.threads : 4;
  while (!s.finish && parts == 1 && s.batch * ceilDiv(s.m, mc) * ceilDiv(s.n, nc) < minBlocks) {
    if (nc > nUnit)
      nc = balanced(s.n, ++nParts, nUnit);
    else if (mc > mr)
      mc = balanced(s.m, ++mParts, mr);
    else
      break;
  }
  const int64_t mBlocks = ceilDiv(s.m, mc), nBlocks = ceilDiv(s.n, nc), kBlocks = ceilDiv(kLen, kc);
  const int64_t mcp = roundUp(mc, mr), ncp = roundUp(nc, nr);
  const bool guardM = s.m % mc != 0 || mc % mr != 0, guardN = s.n % nc != 0 || nc % nr != 0;

  Expr it = kb.newVar("t"), kbv = kb.newVar("kb"), ip = kb.newVar("ip"), jp = kb.newVar("jp");
  Expr kk = kb.newVar("k"), ii = kb.newVar("i"), jj = kb.newVar("j");
  Expr pv = s.finish ? kb.newVar("n") : nullptr;
  Expr bi = s.finish ? pv : s.batch > 1 ? div(it, intImm(mBlocks * nBlocks)) : intImm(0);
  Expr part = parts > 1 ? div(it, intImm(mBlocks * nBlocks)) : nullptr;
  Expr mb = mod(div(it, intImm(nBlocks)), intImm(mBlocks)), nb = mod(it, intImm(nBlocks));
  Expr m0 = mul(mb, intImm(mc)), n0 = mul(nb, intImm(nc));
  // Row of K: slice kbv of the part, offset by the part's start.
  Expr inPart = add(mul(kbv, intImm(kc)), kk);
  Expr row = part ? add(mul(part, intImm(kLen)), inPart) : inPart;
  Expr kValid = nullptr; // rows past the part's end or past K read as 0
  auto both = [](Expr a, Expr b) { return a ? (b ? binary(BinOp::And, a, b) : a) : b; };
  if (kLen % kc != 0)
    kValid = binary(BinOp::Lt, inPart, intImm(kLen));
  if (parts * kLen != s.k)
    kValid = both(kValid, binary(BinOp::Lt, row, intImm(s.k)));
  const bool guardK = kValid != nullptr;
  int ap = kb.local("apack", t, mcp * kc), bp = kb.local("bpack", t, kc * ncp);
  int cb = kb.local("cblock", t, mcp * ncp), acc = kb.local("acc", t, mr * nr);
  Expr zero = constant(0, t);

  // Packs panels [begin, begin + count) of an operand into buf: lane l of
  // panel p at depth k goes to buf[(p*kc + k)*width + l], read by value(lane
  // index from origin, K row); with `check`, lanes at or past `limit` read 0
  // (their index clamped, so the read stays in bounds), and so do rows
  // kValid excludes.
  Expr rowRead = guardK ? min(row, intImm(s.k - 1)) : row;
  auto packPanels = [&](int buf, const Expr &pv, const Expr &lv, int64_t width, const Expr &origin, int64_t limit,
                        const std::function<Expr(const Expr &, const Expr &)> &value, Expr begin, Expr count,
                        bool check, bool alongK) {
    Expr at = add(origin, add(mul(pv, intImm(width)), lv));
    Expr valid = check ? both(kValid, binary(BinOp::Lt, at, intImm(limit))) : kValid;
    Expr v = value(check ? min(at, intImm(limit - 1)) : at, rowRead);
    if (valid)
      v = select(valid, v, zero);
    Stmt put = store(buf, add(mul(add(mul(pv, intImm(kc)), kk), intImm(width)), lv), v);
    if (alongK) // one source row (a lane) at a time, read contiguously
      return forLoop(pv, std::move(begin), std::move(count), ForKind::Serial,
                     forLoop(lv, width, ForKind::Serial, forLoop(kk, kc, ForKind::Scalar, put)));
    return forLoop(pv, std::move(begin), std::move(count), ForKind::Serial,
                   forLoop(kk, kc, ForKind::Serial, forLoop(lv, width, ForKind::Serial, put)));
  };

  // Pack B[k0:k0+kc, n0:n0+ncp] into panels of NR columns. Panels wholly
  // inside C go first without a column check, so accessors contiguous in j
  // pack with vector loads; the rest select 0 past C's end.
  auto bAt = [&](const Expr &j, const Expr &r) { return s.b(bi, r, j); };
  Stmt packB;
  if (!guardN) {
    packB = packPanels(bp, jp, jj, nr, n0, s.n, bAt, intImm(0), intImm(ncp / nr), false, s.bAlongK);
  } else {
    Expr whole = nBlocks == 1 ? intImm(std::min(ncp / nr, s.n / nr))
                              : min(intImm(ncp / nr), div(sub(intImm(s.n), n0), intImm(nr)));
    packB = block({packPanels(bp, jp, jj, nr, n0, s.n, bAt, intImm(0), whole, false, s.bAlongK),
                   packPanels(bp, jp, jj, nr, n0, s.n, bAt, whole, sub(intImm(ncp / nr), whole), true, s.bAlongK)});
  }

  // Pack A[m0:m0+mcp, k0:k0+kc] into panels of MR rows.
  auto aAt = [&](const Expr &i, const Expr &r) { return s.a(bi, i, r); };
  Stmt packA = packPanels(ap, ip, ii, mr, m0, s.m, aAt, intImm(0), intImm(mcp / mr), guardM, false);

  // The micro-kernel on tile (ip, jp) of the block.
  Expr cbase = add(mul(mul(ip, intImm(mr)), intImm(ncp)), mul(jp, intImm(nr)));
  auto accAt = [&](int64_t i, int64_t v) { return intImm(i * nr + v * lanes); };
  auto cAt = [&](int64_t i, int64_t v) { return add(cbase, intImm(i * ncp + v * lanes)); };
  std::vector<Stmt> zeroInit, loadInit, save;
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t v = 0; v < nv; ++v) {
      zeroInit.push_back(store(acc, accAt(i, v), splat(zero, static_cast<int>(lanes))));
      loadInit.push_back(store(acc, accAt(i, v), load(cb, t, cAt(i, v), static_cast<int>(lanes))));
      save.push_back(store(cb, cAt(i, v), load(acc, t, accAt(i, v), static_cast<int>(lanes))));
    }
  Stmt init = kBlocks == 1 ? block(zeroInit)
                           : ifThen(binary(BinOp::Eq, kbv, intImm(0)), block(zeroInit), block(loadInit));
  std::vector<std::pair<Expr, Expr>> lets;
  std::vector<Expr> bvec(nv), avec(mr);
  Expr bpanel = mul(add(mul(jp, intImm(kc)), kk), intImm(nr));
  Expr apanel = mul(add(mul(ip, intImm(kc)), kk), intImm(mr));
  for (int64_t v = 0; v < nv; ++v) {
    bvec[v] = kb.newVar("b", {t, static_cast<int>(lanes)});
    lets.push_back({bvec[v], load(bp, t, add(bpanel, intImm(v * lanes)), static_cast<int>(lanes))});
  }
  std::vector<Stmt> fmas;
  for (int64_t i = 0; i < mr; ++i) {
    avec[i] = kb.newVar("a", {t, static_cast<int>(lanes)});
    lets.push_back({avec[i], splat(load(ap, t, add(apanel, intImm(i))), static_cast<int>(lanes))});
    for (int64_t v = 0; v < nv; ++v)
      fmas.push_back(store(acc, accAt(i, v), add(load(acc, t, accAt(i, v), static_cast<int>(lanes)), mul(avec[i], bvec[v]))));
  }
  Stmt kloop = forLoop(kk, kc, ForKind::Serial, letStmts(lets, block(fmas)));
  Stmt micro = forLoop(jp, ncp / nr, ForKind::Serial,
                       forLoop(ip, mcp / mr, ForKind::Serial, block({init, kloop, block(save)})));
  Stmt slices = forLoop(kbv, kBlocks, ForKind::Serial, block({packB, packA, micro}));

  // The block goes to C (through the epilogue), rows and columns in range only.
  Expr ci = add(m0, ii), cj = add(n0, jj);
  Stmt out;
  if (s.runLength <= 0) {
    Stmt put = s.c(part ? part : bi, ci, cj, load(cb, t, add(mul(ii, intImm(ncp)), jj)));
    Expr inRangeC = nullptr;
    if (guardM)
      inRangeC = binary(BinOp::Lt, ci, intImm(s.m));
    if (guardN)
      inRangeC = both(inRangeC, binary(BinOp::Lt, cj, intImm(s.n)));
    if (inRangeC)
      put = ifThen(inRangeC, put);
    out = forLoop(ii, mc, ForKind::Serial, forLoop(jj, nc, ForKind::Serial, put));
  } else {
    // Run by run, each walked with its own index (contiguous stores).
    Expr r = kb.newVar("r"), q = kb.newVar("s");
    Expr run = add(mul(nb, intImm(nc / s.runLength)), r);
    Stmt putRun = s.cRun(bi, ci, run, q, load(cb, t, add(mul(ii, intImm(ncp)), add(mul(r, intImm(s.runLength)), q))));
    Expr inRange = guardM ? binary(BinOp::Lt, ci, intImm(s.m)) : nullptr;
    if (nBlocks * (nc / s.runLength) != runs)
      inRange = both(inRange, binary(BinOp::Lt, run, intImm(runs)));
    if (inRange)
      putRun = ifThen(inRange, putRun);
    out = forLoop(ii, mc, ForKind::Serial,
                  forLoop(r, nc / s.runLength, ForKind::Serial, forLoop(q, runUsed, ForKind::Serial, putRun)));
  }

  std::vector<Stmt> steps = s.setup;
  Stmt blockBody = alloc(ap, alloc(bp, alloc(cb, alloc(acc, block({slices, out})))));
  if (s.finish) {
    steps.push_back(forLoop(it, mBlocks * nBlocks, ForKind::Serial, blockBody));
    steps.push_back(s.finish(bi));
  } else {
    steps.push_back(blockBody);
  }
  Stmt body = block(std::move(steps));
  for (int l : s.locals)
    body = alloc(l, body);
  if (s.finish)
    return kb.makeParallel(forLoop(pv, s.batch, ForKind::Serial, body), 2.0 * static_cast<double>(s.m * s.n * s.k));
  Stmt par = forLoop(it, s.batch * parts * mBlocks * nBlocks, ForKind::Serial, body);
  return kb.makeParallel(par, 2.0 * static_cast<double>(mc * nc * kLen));
}

bool lowerSplitK(ProgramBuilder &pb, const std::string &name, const GemmSpecFn &specFn, const GemmStoreFn &storeFn) {
  KernelBuilder kb(pb, name);
  GemmSpec s = specFn(kb);
  if (!isFloat(s.dtype) || s.batch != 1 || s.finish || s.m <= 0 || s.n <= 0)
    return false;
  // Blocks of the unsplit product (buildGemm's first choice); split K only
  // when they leave threads idle, and only into parts long enough to hide
  // the extra pass over the partial products.
  const int64_t threads = pb.opt.threads;
  const int64_t blocks = ceilDiv(s.m, kBlockRows) * ceilDiv(s.n, kBlockCols);
  if (threads < 2 || blocks >= threads)
    return false;
  const int64_t parts = std::min(ceilDiv(threads, blocks), s.k / 1024);
  if (parts < 2)
    return false;
  const int64_t m = s.m, n = s.n;
  int scratch = pb.addBuffer(name + ".parts", TensorType{s.dtype, {parts, m, n}}, BufferRole::Temp);
  int out = kb.param(scratch, /*write=*/true);
  s.kParts = parts;
  s.c = [out, m, n](const Expr &part, const Expr &i, const Expr &j, Expr v) {
    return store(out, add(mul(add(mul(part, intImm(m)), i), intImm(n)), j), std::move(v));
  };
  kb.kernel.body = buildGemm(kb, s, pb.opt.vectorBytes);
  KILN_INTERNAL_CHECK(kb.kernel.body) << "gemm: split-K product " << name << " has no body";
  pb.finish(kb);

  lowerPartsSum(pb, name, scratch, parts, m, n, s.dtype, storeFn);
  return true;
}

void lowerPartsSum(ProgramBuilder &pb, const std::string &name, int scratch, int64_t parts, int64_t m, int64_t n,
                   DType t, const GemmStoreFn &store) {
  KernelBuilder sum(pb, name + "_sum");
  int in = sum.param(scratch, /*write=*/false);
  Expr i = sum.newVar("i"), j = sum.newVar("j");
  Expr acc = load(in, t, add(mul(i, intImm(n)), j));
  for (int64_t p = 1; p < parts; ++p)
    acc = add(acc, load(in, t, add(mul(add(intImm(p * m), i), intImm(n)), j)));
  Stmt body = forLoop(i, m, ForKind::Serial, forLoop(j, n, ForKind::Serial, store(sum, i, j, acc)));
  sum.kernel.body = sum.makeParallel(body, static_cast<double>(n * parts));
  pb.finish(sum);
}

bool lowerGemm(ProgramBuilder &pb, Node &n, const std::string &name) {
  Value a = n.operand(0), b = n.operand(1), c = n.result();
  bool ta = n.attrs().getBool("transpose_a"), tb = n.attrs().getBool("transpose_b");
  auto spec = [&](KernelBuilder &kb) {
    GemmSpec s;
    s.m = c.shape()[0];
    s.n = c.shape()[1];
    s.k = ta ? a.shape()[0] : a.shape()[1];
    s.dtype = c.dtype();
    s.a = [&](const Expr &, const Expr &i, const Expr &p) { return kb.valueAt(a, ta ? Index{p, i} : Index{i, p}); };
    s.b = [&](const Expr &, const Expr &p, const Expr &j) { return kb.valueAt(b, tb ? Index{j, p} : Index{p, j}); };
    s.c = [&](const Expr &, const Expr &i, const Expr &j, Expr v) { return kb.storeResult(c, {i, j}, std::move(v)); };
    s.bAlongK = tb && kb.pb.bufferOf(b) >= 0;
    return s;
  };
  auto put = [&](KernelBuilder &kb, const Expr &i, const Expr &j, Expr v) { return kb.storeResult(c, {i, j}, std::move(v)); };
  if (lowerSplitK(pb, name, spec, put))
    return true;
  KernelBuilder kb(pb, name);
  kb.kernel.body = buildGemm(kb, spec(kb), pb.opt.vectorBytes);
  if (!kb.kernel.body)
    return false;
  pb.finish(kb);
  return true;
}

} // namespace kiln::lower
