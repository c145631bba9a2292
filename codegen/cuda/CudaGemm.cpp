// codegen/cuda/CudaGemm.cpp - the tiled GEMM kernel and matmul/convolutions as GEMMs.
//
// One block computes a tile of C: 64x64, or 32x128 when C has at most 32
// rows (32x64 when it also has at most 64 columns), with one thread per 4x4
// register tile (256 threads, 128 for 32x64). A warp computes 16 rows x 32
// columns: 4 x 8 threads, thread (ty, tx) rows 4ty .. 4ty + 3 and columns tx
// + 8w (so 8 lanes store 32 contiguous bytes). K advances in slices of 16:
// the block stages a tm x 16 slice of A and a 16 x tn slice of B in shared
// memory, and at each k a thread reads its four A operands and its four B
// operands with one 16-byte load each (B's columns stored permuted so that a
// thread's four are adjacent): a warp's loads are 64 and 128 contiguous
// bytes, one shared-memory cycle each, for 16 FMAs. The staging loads are assigned so that
// consecutive threads read adjacent memory (GpuGemm::aFastK / bFastK).
// Out-of-range elements load as 0. The epilogue (bias, relu, masks, ...) is
// the kernel IR of KernelBuilder::storeResult, rendered at the store. FP32
// FMA, unless TF32 is allowed (--tf32: mma.sync on tensor cores, 64x64
// tiles). A GEMM of too few tiles for the GPU splits K: each block stores its
// slice's partial tile, and the slices are summed in a fixed order: in slice
// order by the tile's last block (a few slices), or by a kernel of their own
// (many; 8 warps of a block each sum every 8th slice of 32 elements, then one
// warp adds the 8 sums).
#include "codegen/cuda/CudaLowerContext.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

#include <algorithm>
#include <cmath>

namespace kiln::cuda {

using namespace kir;

namespace {

constexpr int64_t kTile = 64, kSlice = 16;
/// A GEMM split at most this many ways sums its slices in its own last block
/// of each tile (which then reads at most 8 slices of 64x64); one split more
/// ways has a kernel of its own for the sums, spread over many blocks.
constexpr int64_t kMaxFusedSplit = 8;

/// Number of K slices so that a GEMM with few tiles (tm x tn) still fills
/// the device (two blocks per SM), each block with at least 256 of K. A
/// block's slices run one after another, so a GEMM of one tile and a long K
/// (the first convolution's filter gradient: 32x25 outputs, K = 73,728) is
/// split up to 256 ways; its partial sums take at most 256 x 4096 floats.
int64_t splitCount(const GpuGemm &g, int smCount, int64_t tm, int64_t tn) {
  int64_t tiles = ((g.m + tm - 1) / tm) * ((g.n + tn - 1) / tn);
  int64_t target = 2 * static_cast<int64_t>(std::max(smCount, 1));
  if (tiles * 2 >= target || g.k < 512)
    return 1;
  int64_t s = std::min<int64_t>({(target + tiles - 1) / tiles, g.k / 256, 256});
  return s < 2 ? 1 : s;
}

std::string str(int64_t v) { return std::to_string(v) + "LL"; }

/// The pooled epilogue of C's row i at pooled position q from the window's
/// four accumulators: each element's epilogue value, kept, and their maximum.
Stmt poolEpilogue(KernelBuilder &kb, const GpuGemm &g, const Expr &i, const Expr &q, const std::vector<Expr> &accs) {
  DType t = g.dtype;
  std::vector<std::pair<Expr, Expr>> lets;
  std::vector<Stmt> stores;
  Expr best = floatImm(-INFINITY, t);
  for (int w = 0; w < 4; ++w) {
    Expr v = kir::var("v" + std::to_string(w), {t, 1});
    lets.push_back({v, g.pool.value(kb, i, q, w, accs[w])});
    if (g.pool.keep)
      stores.push_back(g.pool.keep(kb, i, q, w, v));
    best = max(v, best);
  }
  stores.push_back(g.pool.pooled(kb, i, q, best));
  return letStmts(lets, block(std::move(stores)));
}

/// The kernel that sums the `split` slices of a GEMM's C (buffer `partial`,
/// [split, m, n]) and stores the sum through the GEMM's epilogue. Each block
/// takes 32 consecutive elements of C; its warp w sums slices w, w + 8, ...
/// in order (a warp's loads are one 128-byte line of a slice), and its first
/// warp adds the 8 warps' sums in warp order, so the order of the sum is fixed.
/// The kernel IR reference sums each element's slices in slice order.
void emitSliceSum(CudaBuilder &cb, const GpuGemm &g, const std::string &name, int partial, int64_t split) {
  constexpr int kParts = kGenericBlock / 32;
  static_assert(kParts == 8, "a block of 256 threads: 8 warps");
  const DType t = g.dtype;
  const std::string T = cudaType(t);
  const int64_t elements = g.m * g.n;
  KernelBuilder kb(cb.pb, name);
  const int pp = kb.param(partial, false);
  Expr o = kir::var("o"), total = kir::var("total", {t, 1});
  Index ij = lower::unravel(o, Shape{g.m, g.n});
  Stmt st = g.c(kb, ij[0], ij[1], total);
  Expr ref;
  for (int64_t q = 0; q < split; ++q) {
    Expr x = load(pp, t, add(intImm(q * elements), o));
    ref = ref ? add(ref, x) : x;
  }
  kb.kernel.body = forLoop(o, elements, ForKind::Parallel, letStmt(total, ref, st));

  const bool narrow = narrowCoordinates(split * elements);
  const std::string IT = narrow ? "int" : "long long";
  if (narrow)
    st = narrowIndexArithmetic(st, {{o, kir::var("o", {DType::I32, 1}), 0, elements - 1}});
  KirRenderer rd(kb.kernel, cb.noAlias(kb));
  const std::string vo = rd.varName(o), E = std::to_string(elements), P = std::to_string(kParts);
  const std::string parts = std::to_string(std::min<int64_t>(split, kParts)), S = std::to_string(split);
  std::string s = bodyOpening(rd, "KILN_KERNEL_NAME");
  s += "  const int lane = threadIdx.x % 32, w = threadIdx.x / 32;\n";
  s += "  const " + IT + " " + vo + " = (" + IT + ")block * 32 + lane;\n";
  s += "  __shared__ " + T + " kiln_parts[" + P + "][32];\n";
  s += "  if (" + vo + " < " + E + " && w < " + parts + ") {\n";
  s += "    const " + T + " *slices = " + rd.bufferName(pp) + " + " + vo + ";\n";
  s += "    " + T + " acc = slices[(" + IT + ")w * " + E + "];\n";
  s += "#pragma unroll 4\n    for (" + IT + " q = w + " + P + "; q < " + S + "; q += " + P +
       ") acc = acc + slices[q * " + E + "];\n";
  s += "    kiln_parts[w][lane] = acc;\n  }\n";
  s += "  __syncthreads();\n";
  s += "  if (w != 0 || " + vo + " >= " + E + ") return;\n";
  s += "  " + T + " sum = kiln_parts[0][lane];\n";
  s += "  for (int p = 1; p < " + parts + "; ++p) sum = sum + kiln_parts[p][lane];\n";
  s += "  const " + T + " " + rd.varName(total) + " = sum;\n";
  rd.stmt(st, 1, s);
  s += "}\n" + bodyEntry(rd, "KILN_KERNEL_NAME", kGenericBlock);

  const int64_t shared = static_cast<int64_t>(dtypeSize(t)) * kParts * 32;
  cb.finishSpecial(kb, blockBodyKernel("splitk_sum", std::move(s), (elements + 31) / 32, kGenericBlock, shared));
}

} // namespace

void emitGemm(CudaBuilder &cb, const GpuGemm &g, const std::string &name) {
  const bool pooled = g.pool.positions > 0;
  // TF32 tensor cores when allowed, for f32 (the pooled epilogue wants the
  // scalar form's column layout).
  const bool tensorCores = cb.opt.tf32 && g.dtype == DType::F32 && !pooled;
  const int64_t positions = g.pool.positions;
  // The tile: 64x64, or 32x128 when C has at most 32 rows, so that such a
  // GEMM (a layer of 32 channels) multiplies no rows of zeros; 256 threads
  // (a generic kernel's block, so the GEMM can join a launch group). When C
  // also has at most 64 columns (a small convolution's filter gradient), a
  // 32x64 tile of 128 threads wastes half as much. Warps of 16 x 32 outputs,
  // `wc` across the tile.
  const int64_t tm = !tensorCores && g.m <= 32 ? 32 : kTile, tn = tm == 32 && g.n > kTile ? 2 * kTile : kTile;
  const int threads = static_cast<int>(tm * tn / 16), wc = static_cast<int>(tn / 32);
  const std::string TH = std::to_string(threads), TN = std::to_string(tn), WC = std::to_string(wc);
  // f32 without tensor cores: a thread reads its four A operands (rows 4ty
  // .. 4ty + 3) and its four B operands (columns tx + 8w) in one 16-byte load
  // each, so the shared rows start 16-byte aligned, and B's tile column c is
  // stored at c / 32 * 32 + c % 8 * 4 + c % 32 / 8, which puts a thread's
  // four side by side. The tensor cores read the slices element by element.
  const bool vectorAB = g.dtype == DType::F32 && !tensorCores;
  const int64_t aStride = vectorAB ? tm + 4 : tm + 1, bStride = vectorAB ? tn + 4 : tn + 1;
  auto bAt = [&](const std::string &col) { // where tile column `col` of the B slice is stored
    return vectorAB ? "(" + col + ") / 32 * 32 + (" + col + ") % 8 * 4 + (" + col + ") % 32 / 8" : col;
  };
  int64_t split = pooled ? 1 : splitCount(g, cb.opt.smCount, tm, tn);
  int64_t chunk = (g.k + split - 1) / split;
  chunk = (chunk + kSlice - 1) / kSlice * kSlice;
  split = (g.k + chunk - 1) / chunk;
  // The launch shape: column tiles (or pooled positions) x row tiles x K slices.
  const int64_t colTiles = pooled ? (positions + tn / 4 - 1) / (tn / 4) : (g.n + tn - 1) / tn;
  const int64_t rowTiles = (g.m + tm - 1) / tm;
  const bool fixup = split > 1 && split <= kMaxFusedSplit;
  KernelBuilder kb(cb.pb, name);
  DType t = g.dtype;
  std::string T = cudaType(t);
  Expr i = kir::var("i"), p = kir::var("p"), j = kir::var("j"), s = kir::var("s");
  Expr acc = kir::var("acc", {t, 1});
  Expr aExpr = cast(g.a(kb, i, p), t), bExpr = cast(g.b(kb, p, j), t);
  // The staging's coordinates are 32-bit when M, N and K are well under
  // 2^31, and so is its index arithmetic (the implicit GEMM's divisions and
  // remainders of a convolution) where its values stay in range.
  const bool narrow = narrowCoordinates(std::max({g.m, g.n, g.k}));
  const std::string IT = narrow ? "int" : "long long"; // the staging's index type
  auto num = [&](int64_t v) { return narrow ? std::to_string(v) : str(v); };
  Expr aStage = aExpr, bStage = bExpr;
  if (narrow) { // i, p and j as the guarded loads see them
    Type i32{DType::I32, 1};
    std::vector<IndexVar> vars = {{i, kir::var("i", i32), 0, g.m - 1},
                                  {p, kir::var("p", i32), 0, g.k - 1},
                                  {j, kir::var("j", i32), 0, g.n - 1}};
    aStage = narrowIndexArithmetic(aExpr, vars);
    bStage = narrowIndexArithmetic(bExpr, vars);
  }
  int partial = -1, tileCounts = -1;
  Stmt cStmt, fin;
  Expr total = kir::var("total", {t, 1});
  if (split == 1) {
    if (!pooled)
      cStmt = g.c(kb, i, j, acc);
  } else {
    partial = cb.pb.addBuffer(name + "_partial", TensorType{t, {split, g.m, g.n}}, BufferRole::Temp);
    Expr at = add(mul(add(mul(s, intImm(g.m)), i), intImm(g.n)), j);
    cStmt = store(kb.param(partial, true), at, acc);
    if (fixup) { // a counter per tile of the slices stored, and the epilogue of their sum
      TensorType countsType{DType::I32, {colTiles * rowTiles}};
      tileCounts = kb.param(cb.pb.addBuffer(name + "_tiles_done", countsType, BufferRole::Workspace), true);
      fin = g.c(kb, i, j, total);
    }
  }
  // Kernel IR of the same computation (the dump's reference, and what the
  // cache key sees).
  Stmt ref;
  Expr q = kir::var("q");
  std::vector<Expr> accs;
  Stmt epilogue;
  if (pooled) {
    // One (i, q) per iteration: the window's four dot products, then the epilogue.
    int dots = kb.local("dots", t, 4);
    std::vector<Stmt> body;
    std::vector<std::pair<Expr, Expr>> lets;
    for (int w = 0; w < 4; ++w) {
      Expr at = intImm(w);
      Stmt one = forLoop(p, g.k, ForKind::Serial, store(dots, at, add(load(dots, t, at), mul(aExpr, bExpr))));
      body.push_back(store(dots, at, constant(0, t)));
      body.push_back(letStmt(j, add(mul(q, intImm(4)), intImm(w)), one));
      accs.push_back(kir::var("acc" + std::to_string(w), {t, 1}));
      lets.push_back({accs.back(), load(dots, t, at)});
    }
    epilogue = poolEpilogue(kb, g, i, q, accs);
    body.push_back(letStmts(lets, epilogue));
    ref = forLoop(i, g.m, ForKind::Serial, forLoop(q, positions, ForKind::Serial, alloc(dots, block(std::move(body)))));
  } else {
    // One (slice, i, j) per iteration, a serial dot product.
    int accBuf = kb.local("dot", t, 1);
    Expr zero = intImm(0);
    Stmt dot = forLoop(p, mul(s, intImm(chunk)), min(intImm(chunk), sub(intImm(g.k), mul(s, intImm(chunk)))),
                       ForKind::Serial, store(accBuf, zero, add(load(accBuf, t, zero), mul(aExpr, bExpr))));
    ref = alloc(accBuf, block({store(accBuf, zero, constant(0, t)), dot, letStmt(acc, load(accBuf, t, zero), cStmt)}));
    ref = forLoop(s, split, ForKind::Serial, forLoop(i, g.m, ForKind::Serial, forLoop(j, g.n, ForKind::Serial, ref)));
    if (fixup) { // then the slices' sum in order, its epilogue, and the counters left at 0
      Expr sum;
      for (int64_t q = 0; q < split; ++q) {
        Expr x = load(kb.param(partial, true), t, add(mul(add(intImm(q * g.m), i), intImm(g.n)), j));
        sum = sum ? add(sum, x) : x;
      }
      Expr tile = kir::var("tile");
      Stmt sums = forLoop(i, g.m, ForKind::Serial, forLoop(j, g.n, ForKind::Serial, letStmt(total, sum, fin)));
      Stmt zero = forLoop(tile, colTiles * rowTiles, ForKind::Serial, store(tileCounts, tile, intImm(0, DType::I32)));
      ref = block({ref, sums, zero});
    }
  }
  kb.kernel.body = ref;

  KirRenderer r(kb.kernel, cb.noAlias(kb));
  // The body is a device function of a flat block index (column tile
  // fastest, then row tile, then K slice), as a generic kernel's, so that a
  // launch group (CudaGroup.cpp) can run it for a range of its blocks.
  std::string o = bodyOpening(r, "KILN_KERNEL_NAME");
  o += "  __shared__ __align__(16) " + T + " sa[16][" + std::to_string(aStride) + "];\n";
  o += "  __shared__ __align__(16) " + T + " sb[16][" + std::to_string(bStride) + "];\n";
  o += "  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;\n";
  if (!tensorCores) // rows 4ty .. 4ty + 3, columns tx + 8w
    o += "  const int ty = warp / " + WC + " * 4 + lane / 8, tx = warp % " + WC + " * 32 + lane % 8;\n";
  o += "  const unsigned tile = (unsigned)block % " + std::to_string(colTiles * rowTiles) + "u;\n";
  o += "  const " + IT + " row0 = (" + IT + ")(tile / " + std::to_string(colTiles) + "u) * " + std::to_string(tm) +
       ", col0 = (" + IT + ")(tile % " + std::to_string(colTiles) + "u) * " + TN + ";\n";
  if (pooled)
    o += "  const " + IT + " q0 = (" + IT + ")(tile % " + std::to_string(colTiles) + "u) * " + std::to_string(tn / 4) +
         ";\n";
  o += "  const " + IT + " " + r.varName(s) + " = (" + IT + ")((unsigned)block / " +
       std::to_string(colTiles * rowTiles) + "u);\n";
  o += "  const " + IT + " kbeg = " + r.varName(s) + " * " + num(chunk) + ";\n";
  o += "  const " + IT + " kend = kbeg + " + num(chunk) + " < " + num(g.k) + " ? kbeg + " + num(chunk) + " : " +
       num(g.k) + ";\n";
  o += "  " + T + " c[4][4];\n";
  o += "#pragma unroll\n  for (int u = 0; u < 4; ++u)\n#pragma unroll\n    for (int w = 0; w < 4; ++w) c[u][w] = 0;\n";
  // Staging a K slice: each thread loads its elements of the A and B slices
  // that start at K index `kl` into registers (ra/rb, or va/vb for float4
  // loads), then stores them into the shared slices. With prefetch, the loads
  // of the next slice are issued before the current one is multiplied, so
  // their latency overlaps the FMAs; the arithmetic is the same either way.
  struct Staging {
    std::string load, store;
  };
  // A slice: tm rows x 16 columns; B slice: 16 rows x tn columns. A thread
  // stages tm * 16 / threads elements of A and tn * 16 / threads of B.
  const int aPerThread = static_cast<int>(tm * kSlice / threads), bPerThread = static_cast<int>(tn * kSlice / threads);
  auto stage = [&](bool isA, bool fastK) {
    std::string rows = isA ? std::to_string(tm) : "16", cols = isA ? "16" : TN, reg = isA ? "ra" : "rb";
    // (rr, cc) index the slice as stored: A as [tm][16], B as [16][tn].
    std::string rr, cc;
    if (isA == fastK) // the slice's second index is the memory-contiguous one
      rr = "e / " + cols, cc = "e % " + cols;
    else
      rr = "e % " + rows, cc = "e / " + rows;
    std::string head =
        "#pragma unroll\n    for (int q = 0; q < " + std::to_string(isA ? aPerThread : bPerThread) + "; ++q) {\n";
    head += "      const int e = threadIdx.x + " + TH + " * q;\n";
    head += "      const int rr = " + rr + ", cc = " + cc + ";\n";
    Staging st;
    st.load = head;
    std::string guard;
    if (isA) {
      st.load += "      const " + IT + " " + r.varName(i) + " = row0 + rr, " + r.varName(p) + " = kl + cc;\n";
      guard = r.varName(i) + " < " + num(g.m) + " && " + r.varName(p) + " < kend";
    } else {
      if (pooled) { // tile column cc is window element cc % 32 / 8 of pooled position q0 + cc / 32 * 8 + cc % 8
        st.load += "      const int at = cc / 32 * 8 + cc % 8;\n";
        st.load += "      const " + IT + " " + r.varName(p) + " = kl + rr, " + r.varName(j) +
                   " = (q0 + at) * 4 + cc % 32 / 8;\n";
        guard = r.varName(p) + " < kend && q0 + at < " + num(positions);
      } else {
        st.load += "      const " + IT + " " + r.varName(p) + " = kl + rr, " + r.varName(j) + " = col0 + cc;\n";
        guard = r.varName(p) + " < kend && " + r.varName(j) + " < " + num(g.n);
      }
    }
    st.load += "      " + T + " x = 0;\n      if (" + guard + ") {\n";
    std::string val = r.expr(isA ? aStage : bStage, 4, st.load);
    st.load += "        x = " + val + ";\n      }\n      " + reg + "[q] = x;\n    }\n";
    st.store = head + (isA ? "      sa[cc][rr] = ra[q];\n" : "      sb[rr][" + bAt("cc") + "] = rb[q];\n") + "    }\n";
    return st;
  };
  // A plain f32 operand: float4 loads along the contiguous index (fast), the
  // slice's float4s spread over the block's threads (where there are fewer
  // than threads, the rest skip); the element's index is slow * ld + fast.
  auto vectorStage = [&](bool isA, bool fastK, const GpuGemm::Plain &plain) {
    // The contiguous index's extent / 4, and the slice's float4s.
    std::string groups = std::to_string((fastK ? kSlice : isA ? tm : tn) / 4);
    const int64_t vectors = (isA ? tm : tn) * kSlice / 4;
    std::string ptr = r.bufferName(kb.param(plain.buffer, false)), reg = isA ? "va[q]" : "vb[q]";
    std::string head = "#pragma unroll\n    for (int q = 0; q < " +
                       std::to_string(std::max<int64_t>(vectors / threads, 1)) +
                       "; ++q) {\n      const int e = threadIdx.x + " + TH + " * q;\n";
    if (vectors < threads)
      head += "      if (e >= " + std::to_string(vectors) + ") break;\n";
    head += "      const int f = (e % " + groups + ") * 4, o = e / " + groups + ";\n";
    // Slice coordinates of the group's first element: A (i, p), B (p, j).
    std::string first, second, fastCoord, slowCoord, guard;
    if (isA) {
      first = fastK ? "row0 + o" : "row0 + f"; // i
      second = fastK ? "kl + f" : "kl + o";    // p
      guard = "(" + first + ") < " + num(g.m) + " && (" + second + ") < kend";
      fastCoord = fastK ? second : first;
      slowCoord = fastK ? first : second;
    } else {
      first = fastK ? "kl + f" : "kl + o";      // p
      second = fastK ? "col0 + o" : "col0 + f"; // j
      guard = "(" + first + ") < kend && (" + second + ") < " + num(g.n);
      fastCoord = fastK ? first : second;
      slowCoord = fastK ? second : first;
    }
    Staging st;
    st.load = head + "      " + reg + " = make_float4(0.f, 0.f, 0.f, 0.f);\n";
    st.load += "      if (" + guard + ")\n        " + reg + " = *reinterpret_cast<const float4 *>(" + ptr + " + (" +
               slowCoord + ") * " + str(plain.ld) + " + (" + fastCoord + "));\n    }\n";
    // Shared slices: sa[p][i], sb[p][j].
    const char *lanes[4] = {"x", "y", "z", "w"};
    st.store = head;
    for (int e = 0; e < 4; ++e) {
      std::string fe = "f + " + std::to_string(e);
      std::string at = isA ? (fastK ? "sa[" + fe + "][o]" : "sa[o][" + fe + "]")
                           : (fastK ? "sb[" + fe + "][" + bAt("o") + "]" : "sb[o][" + bAt(fe) + "]");
      st.store += "      " + at + " = " + reg + "." + lanes[e] + ";\n";
    }
    st.store += "    }\n";
    return st;
  };
  // Whole groups of 4 along the contiguous index, 16-byte aligned.
  auto vectorizable = [&](bool isA, bool fastK, const GpuGemm::Plain &plain) {
    int64_t fastSize = fastK ? g.k : (isA ? g.m : g.n);
    return plain.buffer >= 0 && t == DType::F32 && !pooled && fastSize % 4 == 0 && plain.ld % 4 == 0;
  };
  const bool vecA = vectorizable(true, g.aFastK, g.aPlain), vecB = vectorizable(false, g.bFastK, g.bPlain);
  Staging sA = vecA ? vectorStage(true, g.aFastK, g.aPlain) : stage(true, g.aFastK);
  Staging sB = vecB ? vectorStage(false, g.bFastK, g.bPlain) : stage(false, g.bFastK);
  o += "  " + (vecA ? std::string("float4 va[1]") : T + " ra[" + std::to_string(aPerThread) + "]") + ";\n";
  o += "  " + (vecB ? "float4 vb[" + std::to_string(bPerThread / 4) + "]" : T + " rb[" + std::to_string(bPerThread) + "]");
  o += ";\n";
  // The loads of the slice at `from`, in a block that `open` begins.
  auto loadSlice = [&](const std::string &open, const std::string &from) {
    std::string indent = open.substr(0, open.find_first_not_of(' '));
    return open + "\n    const " + IT + " kl = " + from + ";\n" + sA.load + sB.load + indent + "}\n";
  };
  if (cb.opt.prefetch)
    o += loadSlice("  {", "kbeg");
  o += "  for (" + IT + " k0 = kbeg; k0 < kend; k0 += 16) {\n";
  if (!cb.opt.prefetch)
    o += loadSlice("    {", "k0");
  o += sA.store + sB.store;
  o += "    __syncthreads();\n";
  if (cb.opt.prefetch) // the next slice's loads, in flight while this one is multiplied
    o += loadSlice("    if (k0 + 16 < kend) {", "k0 + 16");
  if (tensorCores) {
    // Warp w computes rows 16 (w % 4) .. + 16 and columns 32 (w / 4) .. + 32 of
    // the tile as four 16x8 mma tiles, two k-steps of 8 per slice; c[n] holds
    // tile n's accumulators in the mma's fragment layout.
    o += "#pragma unroll\n    for (int kk = 0; kk < 16; kk += 8) {\n";
    o += "      unsigned a[4];\n";
    o += "#pragma unroll\n      for (int r = 0; r < 4; ++r)\n";
    o += "        a[r] = kiln_tf32(sa[kk + lane % 4 + 4 * (r / 2)][16 * (warp % 4) + lane / 4 + 8 * (r % 2)]);\n";
    o += "#pragma unroll\n      for (int n = 0; n < 4; ++n) {\n";
    o += "        const unsigned b[2] = {kiln_tf32(sb[kk + lane % 4][32 * (warp / 4) + 8 * n + lane / 4]),\n";
    o += "                               kiln_tf32(sb[kk + lane % 4 + 4][32 * (warp / 4) + 8 * n + lane / 4])};\n";
    o += "        kiln_mma_tf32(c[n], a, b);\n      }\n    }\n";
  } else {
    o += "#pragma unroll\n    for (int kk = 0; kk < 16; ++kk) {\n";
    if (vectorAB) { // rows 4ty .. 4ty + 3, columns tx + 8w: one 16-byte load each
      o += "      const float4 av = *reinterpret_cast<const float4 *>(&sa[kk][4 * ty]);\n";
      o += "      const float4 bv = *reinterpret_cast<const float4 *>(&sb[kk][" + bAt("tx") + "]);\n";
      o += "      const float a[4] = {av.x, av.y, av.z, av.w}, b[4] = {bv.x, bv.y, bv.z, bv.w};\n";
    } else {
      o += "      " + T + " a[4], b[4];\n";
      o += "#pragma unroll\n      for (int u = 0; u < 4; ++u) a[u] = sa[kk][4 * ty + u];\n";
      o += "#pragma unroll\n      for (int w = 0; w < 4; ++w) b[w] = sb[kk][tx + 8 * w];\n";
    }
    o += "#pragma unroll\n      for (int u = 0; u < 4; ++u)\n#pragma unroll\n";
    o += "        for (int w = 0; w < 4; ++w) c[u][w] += a[u] * b[w];\n    }\n";
  }
  o += "    __syncthreads();\n  }\n";
  // The epilogue's coordinates in 32 bits likewise, and its index arithmetic
  // where the values fit.
  auto narrowed = [&](const Stmt &st) {
    if (!narrow)
      return st;
    Type i32{DType::I32, 1};
    return narrowIndexArithmetic(st, {{i, kir::var("i", i32), 0, g.m - 1},
                                      {j, kir::var("j", i32), 0, g.n - 1},
                                      {q, kir::var("q", i32), 0, std::max<int64_t>(positions, 1) - 1},
                                      {s, kir::var("s", i32), 0, split - 1}});
  };
  if (tensorCores) { // c[n][r] is D(lane / 4 + 8 (r / 2), 2 (lane % 4) + r % 2) of mma tile n
    o += "#pragma unroll\n  for (int n = 0; n < 4; ++n)\n#pragma unroll\n    for (int q = 0; q < 4; ++q) {\n";
    o += "      const " + IT + " " + r.varName(i) + " = row0 + 16 * (warp % 4) + lane / 4 + 8 * (q / 2), " +
         r.varName(j) + " = col0 + 32 * (warp / 4) + 8 * n + 2 * (lane % 4) + q % 2;\n";
    o += "      if (" + r.varName(i) + " < " + num(g.m) + " && " + r.varName(j) + " < " + num(g.n) + ") {\n";
    o += "        const " + T + " " + r.varName(acc) + " = c[n][q];\n";
    r.stmt(narrowed(cStmt), 4, o);
    o += "      }\n    }\n";
  } else if (pooled) { // thread column tx + 8w is element w of window q0 + tx / 32 * 8 + tx % 8
    o += "#pragma unroll\n  for (int u = 0; u < 4; ++u) {\n";
    o += "    const " + IT + " " + r.varName(i) + " = row0 + 4 * ty + u, " + r.varName(q) +
         " = q0 + tx / 32 * 8 + tx % 8;\n";
    o += "    if (" + r.varName(i) + " < " + num(g.m) + " && " + r.varName(q) + " < " + num(positions) + ") {\n";
    for (int w = 0; w < 4; ++w)
      o += "      const " + T + " " + r.varName(accs[w]) + " = c[u][" + std::to_string(w) + "];\n";
    r.stmt(narrowed(epilogue), 3, o);
    o += "    }\n  }\n";
  } else {
    o += "#pragma unroll\n  for (int u = 0; u < 4; ++u)\n#pragma unroll\n    for (int w = 0; w < 4; ++w) {\n";
    o += "      const " + IT + " " + r.varName(i) + " = row0 + 4 * ty + u, " + r.varName(j) + " = col0 + tx + 8 * w;\n";
    o += "      if (" + r.varName(i) + " < " + num(g.m) + " && " + r.varName(j) + " < " + num(g.n) + ") {\n";
    o += "        const " + T + " " + r.varName(acc) + " = c[u][w];\n";
    r.stmt(narrowed(cStmt), 4, o);
    o += "      }\n    }\n";
  }
  if (fixup) {
    // The block that stores its tile's slice last (a counter per tile says
    // which) sums the tile's slices in order, slice 0 first, as a kernel of
    // its own would, and stores their epilogue. Each thread fences its
    // stores of the slice before the count, so the last block sees them all;
    // it reads them past L1 (volatile), and leaves the counter at 0 for the
    // next step. Which block sums varies; the order of the sum does not.
    const std::string E = std::to_string(tm * tn / threads), IN = num(g.m), JN = num(g.n);
    const std::string counts = r.bufferName(tileCounts), part = r.bufferName(kb.param(partial, true));
    auto element = [&](const std::string &indent) {
      return indent + "const int e = threadIdx.x + " + TH + " * q;\n" + indent + "const " + IT + " " + r.varName(i) +
             " = row0 + e / " + TN + ", " + r.varName(j) + " = col0 + e % " + TN + ";\n";
    };
    o += "  __threadfence();\n  __syncthreads();\n  __shared__ int kiln_last;\n";
    o += "  if (threadIdx.x == 0) kiln_last = atomicAdd(&" + counts + "[tile], 1) == " + std::to_string(split - 1) +
         ";\n";
    o += "  __syncthreads();\n  if (!kiln_last) return;\n  __threadfence();\n";
    o += "  if (threadIdx.x == 0) " + counts + "[tile] = 0;\n";
    o += "  const volatile " + T + " *sums = " + part + ";\n";
    o += "  for (int q = 0; q < " + E + "; ++q) {\n" + element("    ");
    o += "    if (" + r.varName(i) + " < " + IN + " && " + r.varName(j) + " < " + JN + ") {\n";
    o += "      const long long at = (long long)" + r.varName(i) + " * " + JN + " + " + r.varName(j) + ";\n";
    o += "      " + T + " " + r.varName(total) + " = sums[at];\n";
    o += "#pragma unroll\n      for (int sl = 1; sl < " + std::to_string(split) + "; ++sl) " + r.varName(total) +
         " = " + r.varName(total) + " + sums[at + sl * " + str(g.m * g.n) + "];\n";
    r.stmt(narrowed(fin), 3, o);
    o += "    }\n  }\n";
  }
  o += "}\n" + bodyEntry(r, "KILN_KERNEL_NAME", threads);

  const std::string kind = std::string(pooled      ? "gemm_pool"
                                       : split > 1 ? "gemm_splitk"
                                                   : "gemm") +
                           (tensorCores ? "_tf32" : "");
  const auto shared = static_cast<int64_t>(dtypeSize(t) * 16 * (aStride + bStride) + (fixup ? sizeof(int) : 0));
  cb.finishSpecial(kb, blockBodyKernel(kind, std::move(o), colTiles * rowTiles * split, threads, shared));
  if (split == 1 || fixup)
    return;

  emitSliceSum(cb, g, name + "_sum", partial, split);
}

void lowerCudaMatmul(CudaBuilder &cb, Node &n, const std::string &name) {
  Value a = n.operand(0), b = n.operand(1), c = n.result();
  bool ta = n.attrs().getBool("transpose_a"), tb = n.attrs().getBool("transpose_b");
  GpuGemm g;
  g.m = c.shape()[0];
  g.n = c.shape()[1];
  g.k = ta ? a.shape()[0] : a.shape()[1];
  g.dtype = c.dtype();
  g.aFastK = !ta;
  g.bFastK = tb;
  // Operands with buffers of their own are plain row-major matrices.
  if (int ba = cb.pb.bufferOf(a); ba >= 0)
    g.aPlain = {ba, a.shape()[1]};
  if (int bb = cb.pb.bufferOf(b); bb >= 0)
    g.bPlain = {bb, b.shape()[1]};
  g.a = [a, ta](KernelBuilder &kb, const Expr &i, const Expr &p) { return kb.valueAt(a, ta ? Index{p, i} : Index{i, p}); };
  g.b = [b, tb](KernelBuilder &kb, const Expr &p, const Expr &j) { return kb.valueAt(b, tb ? Index{j, p} : Index{p, j}); };
  g.c = [c](KernelBuilder &kb, const Expr &i, const Expr &j, Expr v) { return kb.storeResult(c, {i, j}, std::move(v)); };
  emitGemm(cb, g, name);
}

} // namespace kiln::cuda
