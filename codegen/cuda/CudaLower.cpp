// codegen/cuda/CudaLower.cpp - the CUDA lowering's graph walk: buffers, single ops, fused regions.
//
// The walk mirrors codegen/Lower.cpp (same buffers, epilogues and region
// splitting, so both backends run the same program shape) but sends heavy
// ops to the GPU patterns of codegen/cuda/ and renders every kernel as CUDA
// as soon as it is finished.
#include "codegen/cuda/CudaLowerContext.h"

#include "codegen/cuda/CudaRender.h"
#include "ir/Error.h"
#include "ir/ops/ConvUtil.h"

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

std::string valueName(Value v) {
  Node &n = *v.node;
  std::string base = n.name();
  if (base.empty())
    base.append(n.mnemonic()).append(std::to_string(n.id()));
  if (v.index)
    base.append(".").append(std::to_string(v.index));
  return base;
}

void copyKernel(CudaBuilder &cb, Value src, int dst, const std::string &name) {
  KernelBuilder kb(cb.pb, name);
  const Shape &s = src.shape();
  kb.kernel.body = kb.loopNest(s, [&](const Index &idx) {
    return kir::store(kb.param(dst, true), lower::linearIndex(idx, s), kb.valueAt(src, idx));
  });
  cb.pb.finish(kb);
  cb.renderPending();
}

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
  cb.renderPending();
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

void lowerRegion(CudaBuilder &cb, Node &region) {
  ProgramBuilder &pb = cb.pb;
  Graph &body = *region.body();
  std::string rname = region.attrs().has("name") ? region.attrs().getString("name") : "fused";
  rname += std::to_string(region.id());
  for (size_t i = 0; i < body.inputs().size(); ++i)
    pb.bindings[body.inputs()[i]->result()] = {lower::Binding::Forward, -1, region.operand(i)};
  std::vector<std::pair<Value, int>> copies;
  for (size_t j = 0; j < region.numResults(); ++j) {
    auto own = pb.inPlace.find(region.result(j)); // an update in place
    int b = own != pb.inPlace.end() ? own->second : pb.materialize(region.result(j), valueName(region.result(j)));
    if (own != pb.inPlace.end())
      pb.bindBuffer(region.result(j), b);
    Value bo = pb.resolve(body.outputs()[j]);
    bool defined = bo.node->graph() == &body && pb.bindings.find(bo) == pb.bindings.end() &&
                   bo.node->kind() != OpKind::Constant;
    if (defined)
      pb.bindBuffer(bo, b);
    else
      copies.push_back({bo, b});
  }
  lower::materializeHeavyOperands(pb, body, rname);
  pb.inlinable = [&pb](Value v) { return pb.bufferOf(v) < 0 && lower::isInlineKind(*v.node); };
  std::set<Node *> viaEpilogue;
  int part = 0;
  auto partName = [&] {
    std::string s = rname;
    if (part++)
      s.append("_").append(std::to_string(part - 1));
    return s;
  };
  std::vector<Value> pending;
  auto flush = [&] {
    if (pending.empty())
      return;
    lower::lowerElementwise(pb, pending, partName());
    cb.renderPending();
    pending.clear();
  };
  for (Node *n : body.nodes()) {
    if (viaEpilogue.count(n))
      continue;
    if (lower::isInlineKind(*n)) {
      if (n->kind() == OpKind::Constant || pb.bufferOf(n->result()) < 0)
        continue;
      if (!pending.empty() && pending[0].shape() != n->resultType().shape)
        flush();
      pending.push_back(n->result());
      continue;
    }
    flush();
    KILN_USER_CHECK(n->info().opClass != OpClass::Region && n->info().opClass != OpClass::Effect)
        << "cuda backend: " << n->mnemonic() << " inside a fused region is not supported";
    Value out = lower::storeThroughEpilogue(pb, body, *n, rname, viaEpilogue);
    Node *pool = fusablePool(body, *n, out ? out : n->result(0));
    if (pool) {
      lower::storeThroughEpilogue(pb, body, *pool, rname, viaEpilogue); // its own chain (a dropout layer)
      cb.poolAfter = pool;
      viaEpilogue.insert(pool);
    }
    lowerHeavy(cb, *n, partName());
    pb.epilogues.erase(n->result(0));
    if (pool)
      pb.epilogues.erase(pool->result());
  }
  flush();
  for (auto [src, dst] : copies)
    copyKernel(cb, src, dst, partName());
  pb.inlinable = [](Value) { return false; };
}

} // namespace

CudaProgram lowerCuda(const Graph &g, const CudaLowerOptions &opt) {
  CudaProgram out;
  LowerOptions lo;
  lo.blockedKernels = false;
  CudaBuilder cb(out, lo, opt);
  ProgramBuilder &pb = cb.pb;
  Program &prog = out.program;
  for (Node *n : g.inputs())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::Input));
  for (Node *n : g.params())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::Param));
  for (Node *n : g.states())
    pb.bindBuffer(n->result(), pb.addBuffer(n->name(), n->resultType(), BufferRole::State));
  pb.inlinable = [](Value) { return true; };
  std::vector<std::pair<int, Value>> assigns;
  lower::InPlaceUpdates inPlace(g);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node *n = g.nodes()[i];
    inPlace.plan(pb, *n, i);
    std::string name = valueName(n->numResults() ? n->result() : Value{n, 0});
    if (n->kind() == OpKind::Assign) {
      int t = pb.bufferOf(n->operand(0));
      KILN_USER_CHECK(t >= 0 && prog.buffers[t].role != BufferRole::Temp && prog.buffers[t].role != BufferRole::Input)
          << "cuda backend: assign target is not a parameter or state";
      assigns.push_back({t, n->operand(1)});
      continue;
    }
    if (n->kind() == OpKind::Fused) {
      auto saved = pb.inlinable;
      lowerRegion(cb, *n);
      pb.inlinable = saved;
      continue;
    }
    if (n->kind() == OpKind::Constant)
      continue;
    if (lower::isInlineKind(*n)) {
      bool constantOnly = true;
      for (Value o : n->operands())
        constantOnly &= pb.bufferOf(o) < 0;
      if (constantOnly)
        continue;
      int src = pb.bufferOf(n->operand(0));
      if ((n->kind() == OpKind::Reshape || n->kind() == OpKind::Flatten) && src >= 0) {
        pb.bindBuffer(n->result(), pb.addBuffer(name, n->resultType(), BufferRole::Temp, src));
        continue;
      }
      if (auto own = pb.inPlace.find(n->result()); own != pb.inPlace.end())
        pb.bindBuffer(n->result(), own->second);
      else
        pb.materialize(n->result(), name);
      lower::lowerElementwise(pb, {n->result()}, name);
      cb.renderPending();
      continue;
    }
    for (size_t j = 0; j < n->numResults(); ++j)
      pb.materialize(n->result(j), valueName(n->result(j)));
    auto saved = pb.inlinable;
    lowerHeavy(cb, *n, name);
    pb.inlinable = saved;
  }
  // Outputs and assigned values get buffers of their own, distinct from the
  // signature buffers that assign overwrites.
  auto ownBuffer = [&](Value v, const std::string &name) {
    int b = pb.bufferOf(v);
    if (b >= 0 && prog.buffers[prog.storageOf(b)].role == BufferRole::Temp)
      return b;
    int dst = pb.addBuffer(name, v.type(), BufferRole::Temp);
    copyKernel(cb, v, dst, name);
    return dst;
  };
  for (size_t i = 0; i < g.outputs().size(); ++i)
    prog.outputs.push_back(ownBuffer(g.outputs()[i], std::string("output").append(std::to_string(i))));
  for (auto [t, v] : assigns)
    if (pb.bufferOf(v) != t) // else updated in place
      prog.assigns.push_back({t, ownBuffer(v, std::string("assign_").append(prog.buffers[t].name))});
  cb.renderPending();
  KILN_INTERNAL_CHECK(out.kernels.size() == prog.kernels.size()) << "cuda lowering: kernels without CUDA source";
  scheduleLaunches(out);
  groupLaunches(out, opt.smCount);
  return out;
}

} // namespace kiln::cuda
