// ir/Interpreter.cpp - the reference interpreter: runs a graph node by node on
// the host, and widens graphs to float64 for reference runs.
//
// Elementwise ops evaluate their scalar formula once per output element, each
// operand read through broadcast strides; every other op runs its EvalFn;
// fused regions run their body graph. Values are freed after their last use.
#include "ir/Interpreter.h"

#include "ir/Error.h"
#include "ir/Formula.h"
#include "ir/ValueNames.h"
#include "ir/ops/OpUtil.h"

#include <cmath>

#include <unordered_map>
#include <utility>

namespace kiln {
namespace {

using ValueMap = std::unordered_map<Value, HostTensor, ValueHash>;

/// Pending `assign` writes: signature name and new value.
using Assigns = std::vector<std::pair<std::string, HostTensor>>;

/// Evaluates an elementwise node: its formula per output element, operands
/// broadcast numpy-style or by the node's `broadcast` attr.
void evalElementwise(const Node &n, std::span<const HostTensor *const> in, HostTensor &out) {
  Formula f;
  FormulaBuilder b(f);
  std::vector<int32_t> args;
  for (size_t i = 0; i < in.size(); ++i)
    args.push_back(b.arg(static_cast<int64_t>(i), in[i]->dtype()));
  int32_t root = n.info().hooks.formula(b, args, n.attrs());
  KILN_INTERNAL_CHECK(b.typeOf(root) == out.dtype())
      << "interpret: formula of " << n.mnemonic() << " yields " << dtypeName(b.typeOf(root)) << ", result is "
      << dtypeName(out.dtype());

  const Shape &rs = out.shape();
  std::span<const int64_t> dims;
  if (n.attrs().has("broadcast"))
    dims = n.attrs().getInts("broadcast");
  std::vector<std::vector<int64_t>> strides;
  for (const HostTensor *t : in)
    strides.push_back(broadcastStrides(t->shape(), rs, operandBroadcastDims(t->shape(), rs, dims)));

  std::vector<int64_t> idx(rs.size(), 0), off(in.size(), 0);
  std::vector<double> argv(in.size());
  for (int64_t i = 0, total = out.numel(); i < total; ++i) {
    for (size_t k = 0; k < in.size(); ++k)
      argv[k] = in[k]->at(off[k]);
    out.set(i, evalFormula(f, root, argv, i));
    for (size_t d = rs.size(); d-- > 0;) { // odometer over the result
      for (size_t k = 0; k < in.size(); ++k)
        off[k] += strides[k][d];
      if (++idx[d] < rs[d])
        break;
      for (size_t k = 0; k < in.size(); ++k)
        off[k] -= strides[k][d] * rs[d];
      idx[d] = 0;
    }
  }
}

std::vector<HostTensor> runGraph(const Graph &g, ValueMap &vals, Assigns &assigns, const InterpretOptions &opt,
                                 const std::string &where);

/// "-inf", "inf" or "nan": how a non-finite value prints in check-numerics messages.
std::string nonFiniteWord(double v) { return std::isnan(v) ? "nan" : v < 0 ? "-inf" : "inf"; }

/// --check-numerics: throws when a result of `n` holds a NaN or an infinity,
/// naming the node as the text dump shows it ("%5 = exp(%4)").
void checkNodeNumerics(const Graph &g, const Node &n, const ValueMap &vals, const std::string &where) {
  Node *self = const_cast<Node *>(&n);
  for (size_t i = 0; i < n.numResults(); ++i) {
    auto it = vals.find(self->result(i));
    if (it == vals.end())
      continue;
    int64_t bad = firstNonFinite(it->second);
    if (bad < 0)
      continue;
    ValueNames names(g);
    std::string operands;
    for (Value v : n.operands())
      operands += (operands.empty() ? "" : ", ") + names(v);
    KILN_RUNTIME_ERROR() << "check-numerics: " << names(self->result(i)) << " = " << n.mnemonic() << "(" << operands
                         << ")" << where << " produced " << nonFiniteWord(it->second.at(bad)) << " at element "
                         << bad << " (first non-finite value)";
  }
}

/// Runs one body node, storing its results in `vals`.
void runNode(const Node &n, ValueMap &vals, Assigns &assigns, const InterpretOptions &opt,
             const std::string &where) {
  std::vector<const HostTensor *> in;
  for (Value v : n.operands()) {
    auto it = vals.find(v);
    KILN_INTERNAL_CHECK(it != vals.end()) << "interpret: operand of " << n.mnemonic() << " has no value";
    in.push_back(&it->second);
  }
  Node *self = const_cast<Node *>(&n);
  if (n.kind() == OpKind::Assign) {
    assigns.emplace_back(n.operand(0).node->name(), in[1]->clone());
    return;
  }
  if (n.kind() == OpKind::Fused) {
    KILN_INTERNAL_CHECK(n.body()) << "interpret: fused node without a body";
    const Graph &body = *n.body();
    KILN_INTERNAL_CHECK(body.inputs().size() == in.size())
        << "interpret: fused body has " << body.inputs().size() << " inputs for " << in.size() << " operands";
    ValueMap inner;
    for (size_t i = 0; i < in.size(); ++i)
      inner[body.inputs()[i]->result(0)] = *in[i];
    std::string innerWhere;
    if (opt.checkNumerics)
      innerWhere = " in fused region " + ValueNames(*n.graph())(self->result(0)) + where;
    std::vector<HostTensor> outs = runGraph(body, inner, assigns, opt, innerWhere);
    KILN_INTERNAL_CHECK(outs.size() == n.numResults()) << "interpret: fused body output count mismatch";
    for (size_t i = 0; i < outs.size(); ++i)
      vals[self->result(i)] = std::move(outs[i]);
    return;
  }
  const OpHooks &h = n.info().hooks;
  std::vector<HostTensor> outs;
  for (const TensorType &t : n.resultTypes())
    outs.emplace_back(t);
  if (h.formula) {
    KILN_INTERNAL_CHECK(outs.size() == 1) << "interpret: elementwise " << n.mnemonic() << " with "
                                          << outs.size() << " results";
    evalElementwise(n, in, outs[0]);
  } else {
    KILN_INTERNAL_CHECK(h.eval) << "interpret: op " << n.mnemonic() << " has no reference implementation";
    h.eval(n, in, outs);
  }
  for (size_t i = 0; i < outs.size(); ++i)
    vals[self->result(i)] = std::move(outs[i]);
}

/// Runs the body of `g` given the signature values in `vals`; returns the outputs.
std::vector<HostTensor> runGraph(const Graph &g, ValueMap &vals, Assigns &assigns, const InterpretOptions &opt,
                                 const std::string &where) {
  // Remaining uses per value, so each tensor is freed after its last use.
  std::unordered_map<Value, size_t, ValueHash> uses;
  for (const Node *n : g.nodes())
    for (Value v : n->operands())
      ++uses[v];
  for (Value v : g.outputs())
    ++uses[v];
  for (const Node *n : g.nodes()) {
    runNode(*n, vals, assigns, opt, where);
    if (opt.checkNumerics)
      checkNodeNumerics(g, *n, vals, where);
    for (Value v : n->operands())
      if (--uses[v] == 0)
        vals.erase(v);
  }
  std::vector<HostTensor> outs;
  for (Value v : g.outputs()) {
    auto it = vals.find(v);
    KILN_INTERNAL_CHECK(it != vals.end()) << "interpret: output of graph @" << g.name() << " has no value";
    outs.push_back(it->second);
  }
  return outs;
}

/// Widens the types and dtype attrs of `g` (and of region bodies) in place.
void widenInPlace(Graph &g) {
  auto widen = [](Node *n) {
    std::vector<TensorType> ts(n->resultTypes().begin(), n->resultTypes().end());
    for (TensorType &t : ts)
      if (t.dtype == DType::F32)
        t.dtype = DType::F64;
    n->setResultTypes(std::move(ts));
    if (n->attrs().has("dtype") && n->attrs().getString("dtype") == "f32")
      n->attrs().set("dtype", std::string("f64"));
    if (n->body())
      widenInPlace(*n->body());
  };
  for (const auto *list : {&g.inputs(), &g.params(), &g.states()})
    for (Node *n : *list)
      widen(n);
  for (Node *n : g.nodes())
    widen(n);
}

const char *signatureKind(OpKind k) {
  return k == OpKind::Input ? "input" : k == OpKind::Parameter ? "parameter" : "state";
}

} // namespace

std::vector<HostTensor> interpret(const Graph &g, TensorMap &env, const InterpretOptions &opt) {
  std::unique_ptr<Graph> wide = opt.f64 ? widenToF64(g) : nullptr;
  const Graph &run = wide ? *wide : g;
  ValueMap vals;
  auto bind = [&](const std::vector<Node *> &orig, const std::vector<Node *> &used) {
    for (size_t i = 0; i < orig.size(); ++i) {
      const Node *n = orig[i];
      auto it = env.find(n->name());
      KILN_USER_CHECK(it != env.end())
          << "interpret: missing " << signatureKind(n->kind()) << " '" << n->name() << "' of graph @" << g.name();
      const TensorType &want = n->resultType(0), &use = used[i]->resultType(0);
      const TensorType &have = it->second.type();
      KILN_USER_CHECK(have == want || have == use)
          << "interpret: " << signatureKind(n->kind()) << " '" << n->name() << "' has type " << typeString(have)
          << ", graph @" << g.name() << " expects " << typeString(want);
      vals[used[i]->result(0)] = have == use ? it->second : it->second.cast(use.dtype);
      int64_t bad = opt.checkNumerics ? firstNonFinite(it->second) : -1;
      KILN_RUNTIME_CHECK(bad < 0) << "check-numerics: " << signatureKind(n->kind()) << " %" << n->name() << " holds "
                                  << nonFiniteWord(it->second.at(bad)) << " at element " << bad
                                  << " (first non-finite value)";
    }
  };
  bind(g.inputs(), run.inputs());
  bind(g.params(), run.params());
  bind(g.states(), run.states());

  Assigns assigns;
  std::vector<HostTensor> outs = runGraph(run, vals, assigns, opt, "");
  for (auto &[name, value] : assigns) {
    HostTensor &slot = env.at(name);
    slot = value.dtype() == slot.dtype() ? std::move(value) : value.cast(slot.dtype());
  }
  return outs;
}

int64_t firstNonFinite(const HostTensor &t) {
  if (!isFloat(t.dtype()))
    return -1;
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(t.at(i)))
      return i;
  return -1;
}

std::unique_ptr<Graph> widenToF64(const Graph &g) {
  std::unique_ptr<Graph> c = g.clone();
  widenInPlace(*c);
  return c;
}

} // namespace kiln
