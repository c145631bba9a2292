// codegen/cuda/CudaLower.cpp - the CUDA lowering: the shared graph walk with GPU patterns.
//
// The graph walk is codegen/Lower.cpp's (lower::walkGraph: the same buffers,
// epilogues and region splitting, so both backends run the same program
// shape); this file sends heavy ops to the GPU patterns of codegen/cuda/,
// takes a 2x2 max pool into the convolution before it, renders every kernel
// as CUDA once the walk has added it (Walk::added), and groups the launches.
#include "codegen/cuda/CudaLowerContext.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

#include <algorithm>
#include <set>

namespace kiln::cuda {

void CudaBuilder::finishSpecial(KernelBuilder &kb, CudaKernel ck) {
  special[pb.prog.kernels.size()] = std::move(ck);
  pb.finish(kb);
}

std::string CudaBuilder::symbol(size_t i) const {
  std::string s = std::string("k").append(std::to_string(i)).append("_");
  for (char c : pb.prog.kernels.at(i).name)
    s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

bool CudaBuilder::noAlias(const KernelBuilder &kb) const {
  std::set<int> seen;
  for (int b : kb.args)
    if (!seen.insert(pb.prog.storageOf(b)).second)
      return false;
  return true;
}

void CudaBuilder::renderPending() {
  const Program &p = pb.prog;
  for (size_t i = out.kernels.size(); i < p.kernels.size(); ++i) {
    std::string sym = symbol(i);
    if (auto it = special.find(i); it != special.end()) {
      CudaKernel ck = std::move(it->second);
      // The hand-written source was rendered with a placeholder name.
      size_t at = ck.source.find("KILN_KERNEL_NAME");
      KILN_INTERNAL_CHECK(at != std::string::npos) << "cuda lowering: special kernel without a name slot";
      for (; at != std::string::npos; at = ck.source.find("KILN_KERNEL_NAME", at + sym.size()))
        ck.source.replace(at, 16, sym);
      ck.name = sym;
      out.kernels.push_back(std::move(ck));
      special.erase(it);
      continue;
    }
    std::set<int> seen;
    bool distinct = true;
    for (int b : p.launches.at(i).args)
      distinct &= seen.insert(p.storageOf(b)).second;
    out.kernels.push_back(renderGenericKernel(p.kernels[i], sym, distinct));
  }
}

namespace {

void lowerHeavy(CudaBuilder &cb, Node &n, const std::string &name) {
  switch (n.info().opClass) {
  case OpClass::Reduction: lowerCudaReduction(cb, n, name); break;
  case OpClass::Matmul: lowerCudaMatmul(cb, n, name); break;
  case OpClass::Conv: lowerCudaConv(cb, n, name); break;
  case OpClass::Pool:
    if (n.kind() == OpKind::MaxPool2dGrad || n.kind() == OpKind::AvgPool2dGrad)
      lowerCudaPoolGrad(cb, n, name);
    else
      lower::lowerPool(cb.pb, n, name);
    break;
  case OpClass::Opaque:
    if (n.kind() == OpKind::SoftmaxCrossEntropy)
      lowerCudaCrossEntropy(cb, n, name);
    else
      lower::lowerSoftmax(cb.pb, n, name);
    break;
  default: KILN_USER_ERROR() << "cuda backend: cannot lower " << n.mnemonic();
  }
}

/// The max_pool2d of `body` over conv2d n's activation v (n's result, or the
/// exit of its epilogue chain) that the convolution's GEMM can compute in its
/// epilogue: 2x2 windows, stride 2, no padding, even height and width.
Node *fusablePool(const Graph &body, Node &n, Value v) {
  if (n.kind() != OpKind::Conv2d || !isFloat(v.dtype()))
    return nullptr;
  Node *pool = nullptr;
  for (Node *u : body.users(v))
    if (u->kind() == OpKind::MaxPool2d) {
      if (pool)
        return nullptr;
      pool = u;
    }
  if (!pool || pool->attrs().getInts("kernel") != std::vector<int64_t>{2, 2})
    return nullptr;
  const Shape &s = v.shape();
  Window2d w = windowGeometry(pool->mnemonic(), pool->attrs(), s[2], s[3], 2, 2);
  bool tiles = w.strideH == 2 && w.strideW == 2 && !w.pad.top && !w.pad.left && !w.pad.bottom && !w.pad.right &&
               w.outH * 2 == s[2] && w.outW * 2 == s[3];
  return tiles ? pool : nullptr;
}

/// True when the kernels that read the masked gradient of "pool_grad_mask"
/// region `r` (windows that tile) read each element once: as the dy of a
/// conv2d_filter_grad whose GEMM has one column tile (C*KH*KW <= 64: a first
/// layer's) and as the operand of a reduction (its bias gradient), alone or
/// as the anchors of their regions. They then compute it as they read it
/// (Walk::whereRead): no kernel writes it and reads it back (9.4 MB each
/// way for the report CNN's first layer), and no launch waits for one.
bool poolGradWhereRead(ProgramBuilder &pb, const Graph &g, Node &r) {
  if (!r.attrs().has("name") || r.attrs().getString("name") != "pool_grad_mask" || r.numResults() != 1)
    return false;
  // One pool gradient; the rest (its dropout gradient, the relu mask) inline.
  Node *pool = nullptr;
  for (Node *n : r.body()->nodes()) {
    if (n->kind() != OpKind::MaxPool2dGrad && !lower::isInlineKind(*n))
      return false;
    if (n->kind() == OpKind::MaxPool2dGrad) {
      if (pool)
        return false;
      pool = n;
    }
  }
  Value out = r.result();
  if (!pool || !lower::maxPoolGradTiles(*pool) || !isFloat(out.dtype()) ||
      std::find(g.outputs().begin(), g.outputs().end(), out) != g.outputs().end())
    return false;
  auto readsOnce = [](Node &u, Value in) {
    if (u.kind() == OpKind::Conv2dFilterGrad) {
      const Shape &w = u.result().shape();
      return u.operand(1) == in && u.operand(0) != in && w[1] * w[2] * w[3] <= 64;
    }
    return (u.kind() == OpKind::ReduceSum || u.kind() == OpKind::ReduceMean) && u.numOperands() == 1;
  };
  std::vector<Node *> readers = g.users(out);
  if (readers.empty())
    return false;
  for (Node *u : readers) {
    if (u->kind() != OpKind::Fused) {
      if (!readsOnce(*u, out))
        return false;
      continue;
    }
    const Graph &body = *u->body();
    for (size_t k = 0; k < u->numOperands(); ++k) {
      if (u->operand(k) != out)
        continue;
      Value in = body.inputs()[k]->result();
      if (std::find(body.outputs().begin(), body.outputs().end(), in) != body.outputs().end())
        return false;
      for (Node *b : body.users(in))
        if (!readsOnce(*b, in))
          return false;
    }
  }
  pb.poolGradsWhereRead.insert(pool);
  return true;
}

} // namespace

CudaProgram lowerCuda(const Graph &g, const CudaLowerOptions &opt) {
  CudaProgram out;
  LowerOptions lo;
  lo.blockedKernels = false;
  CudaBuilder cb(out, lo, opt);
  lower::Walk w;
  w.backend = "cuda";
  w.heavy = [&cb](Node &n, const std::string &name) { lowerHeavy(cb, n, name); };
  w.added = [&cb] { cb.renderPending(); };
  w.whereRead = [&cb, &g](Node &region) { return poolGradWhereRead(cb.pb, g, region); };
  // A 2x2 max pool after a convolution is computed in the convolution's epilogue.
  w.absorb = [&cb](const Graph &body, Node &n, Value epilogueOut, const std::string &rname,
                   std::set<Node *> &viaEpilogue) {
    Node *pool = fusablePool(body, n, epilogueOut ? epilogueOut : n.result(0));
    if (pool) {
      lower::storeThroughEpilogue(cb.pb, body, *pool, rname, viaEpilogue); // its own chain (a dropout layer)
      cb.poolAfter = pool;
      viaEpilogue.insert(pool);
    }
    return pool;
  };
  lower::walkGraph(cb.pb, g, w);
  KILN_INTERNAL_CHECK(out.kernels.size() == out.program.kernels.size()) << "cuda lowering: kernels without CUDA source";
  scheduleLaunches(out, opt.smCount);
  groupLaunches(out, opt.smCount);
  return out;
}

} // namespace kiln::cuda
