// codegen/KernelBuilder.cpp - value access, result stores and loop nests for patterns.
//
// valueAt is where fusion happens: a value bound to a buffer is loaded; a
// constant becomes an immediate; an inlinable elementwise producer is its op's
// scalar formula (ir/Formula.h) over its operands' values, so only ScalarOp
// primitives are lowered, never per-op elementwise code; layout producers
// remap the index and recurse.
#include "codegen/LowerContext.h"

#include "ir/Error.h"
#include "ir/Formula.h"
#include "ir/ops/OpUtil.h"

namespace kiln::lower {

using namespace kir;

Expr linearIndex(const Index &idx, const Shape &shape) {
  KILN_INTERNAL_CHECK(idx.size() == shape.size()) << "lowering: index of rank " << idx.size() << " for shape "
                                                  << shapeString(shape);
  Expr lin = intImm(0);
  for (size_t d = 0; d < shape.size(); ++d)
    lin = add(mul(lin, intImm(shape[d])), idx[d]);
  return lin;
}

Index unravel(const Expr &linear, const Shape &shape) {
  Index idx(shape.size());
  Expr rest = linear;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) {
      idx[d] = intImm(0);
      continue;
    }
    idx[d] = d == 0 ? rest : mod(rest, intImm(shape[d]));
    rest = div(rest, intImm(shape[d]));
  }
  return idx;
}

Index constIndex(const std::vector<int64_t> &v) {
  Index idx;
  for (int64_t x : v)
    idx.push_back(intImm(x));
  return idx;
}

Expr inRange(const Expr &e, int64_t n) {
  return binary(BinOp::And, binary(BinOp::Le, intImm(0), e), binary(BinOp::Lt, e, intImm(n)));
}

Expr clampIndex(const Expr &e, int64_t n) { return min(max(e, intImm(0)), intImm(n - 1)); }

int64_t tileOf(int64_t v, int64_t limit) {
  if (v <= limit)
    return v;
  for (int64_t t = limit; t > 1; --t)
    if (v % t == 0)
      return t;
  return 1;
}

bool isInlineKind(const Node &n) {
  OpClass c = n.info().opClass;
  return c == OpClass::Elementwise || c == OpClass::Layout || n.kind() == OpKind::Constant;
}

// ---- ProgramBuilder -------------------------------------------------------------

int ProgramBuilder::addBuffer(std::string name, TensorType t, BufferRole role, int aliasOf) {
  prog.buffers.push_back({std::move(name), std::move(t), role, aliasOf});
  return static_cast<int>(prog.buffers.size()) - 1;
}

Value ProgramBuilder::resolve(Value v) const {
  for (;;) {
    auto it = bindings.find(v);
    if (it == bindings.end() || it->second.kind != Binding::Forward)
      return v;
    v = it->second.forward;
  }
}

int ProgramBuilder::bufferOf(Value v) const {
  auto it = bindings.find(resolve(v));
  return it != bindings.end() && it->second.kind == Binding::Buffer ? it->second.buffer : -1;
}

int ProgramBuilder::materialize(Value v, std::string name) {
  int b = addBuffer(std::move(name), v.type(), BufferRole::Temp);
  bindBuffer(v, b);
  return b;
}

void ProgramBuilder::finish(KernelBuilder &kb) {
  KILN_INTERNAL_CHECK(kb.kernel.body) << "lowering: kernel " << kb.kernel.name << " has no body";
  prog.kernels.push_back(std::move(kb.kernel));
  prog.launches.push_back({static_cast<int>(prog.kernels.size()) - 1, kb.args});
}

// ---- KernelBuilder --------------------------------------------------------------

KernelBuilder::KernelBuilder(ProgramBuilder &p, std::string name) : pb(p) { kernel.name = std::move(name); }

Expr KernelBuilder::newVar(const std::string &prefix, Type t) {
  return var(prefix + std::to_string(varCounter_++), t);
}

int KernelBuilder::param(int programBuffer, bool write) {
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == programBuffer) {
      if (write)
        kernel.buffers[paramIds_[i]].readOnly = false;
      return paramIds_[i];
    }
  const ProgramBuffer &b = pb.prog.buffers.at(programBuffer);
  args.push_back(programBuffer);
  paramIds_.push_back(kernel.addParam(b.name, b.type.dtype, b.type.numel(), !write));
  return paramIds_.back();
}

int KernelBuilder::paramOf(Value v, bool write) {
  int b = pb.bufferOf(v);
  KILN_INTERNAL_CHECK(b >= 0) << "lowering: value of " << v.node->mnemonic() << " has no buffer";
  return param(b, write);
}

Value KernelBuilder::storedValue(Value v) const {
  auto it = pb.epilogues.find(v);
  return it == pb.epilogues.end() ? v : it->second.output;
}

Expr KernelBuilder::valueAt(Value v, const Index &idx) {
  v = pb.resolve(v);
  if (auto o = overrides_.find(v); o != overrides_.end()) {
    const Index &at = o->second.first;
    bool same = at.size() == idx.size();
    for (size_t d = 0; same && d < idx.size(); ++d)
      same = at[d] == idx[d];
    KILN_INTERNAL_CHECK(same) << "lowering: epilogue reads its producer at another index";
    return o->second.second;
  }
  bool inlineIt = forceInline_.count(v) != 0;
  if (int b = pb.bufferOf(v); b >= 0 && !inlineIt)
    return load(param(b, false), v.dtype(), linearIndex(idx, v.shape()));
  Node &n = *v.node;
  if (n.kind() == OpKind::Constant)
    return constant(n.attrs().getFloat("value"), v.dtype());
  const bool poolGrad = pb.poolGradsWhereRead.count(&n) != 0;
  KILN_INTERNAL_CHECK(poolGrad || (isInlineKind(n) && (inlineIt || pb.inlinable(v))))
      << "lowering: value of " << n.mnemonic() << " is neither in a buffer nor inlinable";
  MemoKey key{&n, v.index, {}};
  for (const Expr &e : idx)
    key.idx.push_back(e.get());
  if (auto m = memo_.find(key); m != memo_.end())
    return m->second;
  Expr e = poolGrad                              ? maxPoolGradAt(*this, n, idx)
           : n.info().opClass == OpClass::Layout ? layoutValue(n, idx)
                                                 : formulaValue(n, v.index, idx);
  memo_[key] = e;
  return e;
}

Expr KernelBuilder::formulaValue(Node &n, size_t result, const Index &idx) {
  const Shape &rs = n.resultType(result).shape;
  Formula f;
  FormulaBuilder fb(f);
  std::vector<int32_t> args;
  for (size_t i = 0; i < n.numOperands(); ++i)
    args.push_back(fb.arg(static_cast<int64_t>(i), n.operand(i).dtype()));
  KILN_INTERNAL_CHECK(n.info().hooks.formula) << "lowering: " << n.mnemonic() << " has no formula";
  int32_t root = n.info().hooks.formula(fb, args, n.attrs());
  std::vector<int64_t> bdims;
  if (n.attrs().has("broadcast"))
    bdims = n.attrs().getInts("broadcast");
  std::vector<Expr> ex(f.nodes.size());
  for (int32_t i = 0; i <= root; ++i) {
    const ScalarNode &s = f.nodes[i];
    Expr a = s.a >= 0 ? ex[s.a] : nullptr, b = s.b >= 0 ? ex[s.b] : nullptr, c = s.c >= 0 ? ex[s.c] : nullptr;
    switch (s.op) {
    case ScalarOp::Arg: {
      Value opv = n.operand(static_cast<size_t>(s.imm));
      const Shape &os = opv.shape();
      Index oi = idx;
      if (os != rs) {
        auto map = broadcastDimMap(os, rs, operandBroadcastDims(os, rs, bdims), n.mnemonic());
        oi.assign(os.size(), nullptr);
        for (size_t k = 0; k < os.size(); ++k)
          oi[k] = os[k] == 1 ? intImm(0) : idx[map[k]];
      }
      ex[i] = cast(valueAt(opv, oi), s.type);
      break;
    }
    case ScalarOp::Const: ex[i] = constant(s.value, s.type); break;
    case ScalarOp::Index: ex[i] = linearIndex(idx, rs); break;
    case ScalarOp::Add: ex[i] = binary(BinOp::Add, a, b); break;
    case ScalarOp::Sub: ex[i] = binary(BinOp::Sub, a, b); break;
    case ScalarOp::Mul: ex[i] = binary(BinOp::Mul, a, b); break;
    case ScalarOp::Div: ex[i] = binary(BinOp::Div, a, b); break;
    case ScalarOp::Max: ex[i] = binary(BinOp::Max, a, b); break;
    case ScalarOp::Min: ex[i] = binary(BinOp::Min, a, b); break;
    case ScalarOp::Lt: ex[i] = binary(BinOp::Lt, a, b); break;
    case ScalarOp::Le: ex[i] = binary(BinOp::Le, a, b); break;
    case ScalarOp::Eq: ex[i] = binary(BinOp::Eq, a, b); break;
    case ScalarOp::Neg: ex[i] = unary(UnOp::Neg, a); break;
    case ScalarOp::Exp: ex[i] = unary(UnOp::Exp, a); break;
    case ScalarOp::Log: ex[i] = unary(UnOp::Log, a); break;
    case ScalarOp::Sqrt: ex[i] = unary(UnOp::Sqrt, a); break;
    case ScalarOp::Tanh: ex[i] = unary(UnOp::Tanh, a); break;
    case ScalarOp::Abs: ex[i] = unary(UnOp::Abs, a); break;
    case ScalarOp::Select: ex[i] = select(a, b, c); break;
    case ScalarOp::Cast: ex[i] = cast(a, s.type); break;
    case ScalarOp::Random: ex[i] = random(s.imm, cast(a, DType::I64), cast(b, DType::I64)); break;
    }
  }
  return cast(ex[root], n.resultType(result).dtype);
}

Expr KernelBuilder::layoutValue(Node &n, const Index &idx) {
  Value in = n.operand(0);
  const Shape &os = in.shape(), &rs = n.resultType().shape;
  switch (n.kind()) {
  case OpKind::Reshape:
  case OpKind::Flatten: return valueAt(in, unravel(linearIndex(idx, rs), os));
  case OpKind::Transpose: {
    const std::vector<int64_t> &perm = n.attrs().getInts("perm");
    Index oi(os.size());
    for (size_t d = 0; d < rs.size(); ++d)
      oi[normalizeAxis(perm[d], static_cast<int64_t>(rs.size()), "transpose")] = idx[d];
    return valueAt(in, oi);
  }
  case OpKind::Broadcast: {
    auto map = broadcastDimMap(os, rs, n.attrs().getInts("dims"), "broadcast");
    Index oi(os.size());
    for (size_t k = 0; k < os.size(); ++k)
      oi[k] = os[k] == 1 ? intImm(0) : idx[map[k]];
    return valueAt(in, oi);
  }
  default: KILN_INTERNAL_ERROR() << "lowering: " << n.mnemonic() << " is not a layout op";
  }
  return nullptr;
}

std::vector<Expr> KernelBuilder::exitValues(Value v, const std::vector<Value> &exits, const Index &idx, Expr acc) {
  overrides_[v] = {idx, std::move(acc)};
  memo_.clear();
  forceInline_.insert(exits.begin(), exits.end());
  std::vector<Expr> values;
  for (Value x : exits)
    values.push_back(valueAt(x, idx));
  overrides_.erase(v);
  memo_.clear();
  return values;
}

Expr KernelBuilder::epilogueValue(Value v, const Index &idx, Expr acc) {
  auto e = pb.epilogues.find(v);
  if (e == pb.epilogues.end())
    return acc;
  KILN_INTERNAL_CHECK(e->second.more.empty()) << "lowering: one value of an epilogue that stores several";
  return exitValues(v, {e->second.output}, idx, std::move(acc))[0];
}

Stmt KernelBuilder::storeResult(Value v, const Index &idx, Expr acc) {
  auto e = pb.epilogues.find(v);
  if (e == pb.epilogues.end()) {
    KILN_INTERNAL_CHECK(acc->type.dtype == v.dtype()) << "lowering: storing " << dtypeName(acc->type.dtype)
                                                      << " into " << dtypeName(v.dtype());
    return store(paramOf(v, true), linearIndex(idx, v.shape()), acc);
  }
  Value out = e->second.output;
  if (!e->second.more.empty())
    return storeExits(v, e->second, idx, std::move(acc));
  Expr val = epilogueValue(v, idx, std::move(acc));
  if (e->second.sink)
    return e->second.sink(idx, val);
  return store(param(e->second.outputBuffer, true), linearIndex(idx, out.shape()), val);
}

// Every exit's value is computed, from the values loaded before any store,
// and bound to a variable; then they are stored in order. An exit may update
// a buffer in place that another exit's value reads (an optimizer's state):
// each is computed inline, never loaded back after a store.
Stmt KernelBuilder::storeExits(Value v, const EpilogueInfo &e, const Index &idx, Expr acc) {
  KILN_INTERNAL_CHECK(!e.sink) << "lowering: an epilogue of several exits into a sink";
  std::vector<std::pair<Value, int>> exits{{e.output, e.outputBuffer}};
  exits.insert(exits.end(), e.more.begin(), e.more.end());
  std::vector<Value> outs;
  for (auto &[x, b] : exits)
    outs.push_back(x);
  std::vector<Expr> values = exitValues(v, outs, idx, std::move(acc)), vars;
  for (const Expr &x : values)
    vars.push_back(newVar("exit", x->type));
  std::vector<Stmt> stores;
  for (size_t k = 0; k < exits.size(); ++k)
    stores.push_back(store(param(exits[k].second, true), linearIndex(idx, exits[k].first.shape()), vars[k]));
  Stmt s = block(std::move(stores));
  for (size_t k = exits.size(); k-- > 0;)
    s = letStmt(vars[k], values[k], s);
  return s;
}

Stmt KernelBuilder::loopNest(const Shape &shape, const std::function<Stmt(const Index &)> &body, bool parallel,
                             double workPerElement) {
  Index idx(shape.size());
  std::vector<Expr> vars(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) {
      idx[d] = intImm(0);
      continue;
    }
    vars[d] = newVar("i");
    idx[d] = vars[d];
  }
  Stmt s = body(idx);
  double inner = workPerElement;
  int outer = -1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (!vars[d])
      continue;
    s = forLoop(vars[d], shape[d], ForKind::Serial, s);
    outer = static_cast<int>(d);
  }
  if (!parallel || outer < 0)
    return s;
  for (size_t d = outer + 1; d < shape.size(); ++d)
    inner *= static_cast<double>(shape[d]);
  return makeParallel(s, inner);
}

Stmt KernelBuilder::makeParallel(Stmt s, double workPerIteration) {
  const For *f = as<For>(s);
  int64_t extent = 0;
  if (!f || !isConstInt(f->extent, &extent) || extent < 2 || kernel.parallelExtent > 1)
    return s;
  kernel.parallelExtent = extent;
  kernel.workPerIteration = workPerIteration;
  return forLoop(f->var, f->begin, f->extent, ForKind::Parallel, f->body);
}

} // namespace kiln::lower
