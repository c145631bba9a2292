// codegen/KernelIR.cpp - kernel IR builders, Visitor and Mutator defaults.
#include "codegen/KernelIR.h"

#include "ir/Error.h"

#include <algorithm>
#include <limits>
#include <map>

namespace kiln::kir {

const char *binOpName(BinOp op) {
  static const char *const names[] = {"add", "sub", "mul", "div", "mod", "max",
                                      "min", "lt",  "le",  "eq",  "and", "or"};
  return names[static_cast<int>(op)];
}
const char *unOpName(UnOp op) {
  static const char *const names[] = {"neg", "exp", "log", "sqrt", "tanh", "abs"};
  return names[static_cast<int>(op)];
}
const char *forKindName(ForKind k) {
  static const char *const names[] = {"serial", "parallel", "unrolled", "scalar"};
  return names[static_cast<int>(k)];
}

// ---- Builders ---------------------------------------------------------------

Expr intImm(int64_t v, DType t) { return std::make_shared<IntImm>(t, v); }
Expr floatImm(double v, DType t) {
  return std::make_shared<FloatImm>(t, t == DType::F32 ? static_cast<float>(v) : v);
}
Expr constant(double v, DType t) {
  if (isFloat(t))
    return floatImm(v, t);
  if (t == DType::Bool)
    return intImm(v != 0.0 ? 1 : 0, t);
  return intImm(static_cast<int64_t>(v), t);
}
Expr var(std::string name, Type t) { return std::make_shared<Var>(t, std::move(name)); }
Expr load(int buffer, DType t, Expr index, int lanes) {
  return std::make_shared<Load>(Type{t, lanes}, buffer, std::move(index));
}
Expr unary(UnOp op, Expr a) { return std::make_shared<Unary>(op, std::move(a)); }

bool isConstInt(const Expr &e, int64_t *value) {
  const IntImm *i = as<IntImm>(e);
  if (!i)
    return false;
  if (value)
    *value = i->value;
  return true;
}

std::optional<LinearForm> linearForm(const Expr &e) {
  auto integer = [](DType t) { return t == DType::I32 || t == DType::I64; };
  if (!e || e->type.lanes != 1 || !integer(e->type.dtype))
    return std::nullopt;
  if (const IntImm *i = as<IntImm>(e))
    return LinearForm{i->value, {}};
  if (as<Var>(e))
    return LinearForm{0, {{e.get(), 1}}};
  if (const Cast *c = as<Cast>(e)) // a narrowing cast could wrap
    return c->type.dtype == DType::I64 || c->a->type.dtype == DType::I32 ? linearForm(c->a) : std::nullopt;
  const Binary *b = as<Binary>(e);
  if (!b || (b->op != BinOp::Add && b->op != BinOp::Sub && b->op != BinOp::Mul))
    return std::nullopt;
  std::optional<LinearForm> x = linearForm(b->a), y = linearForm(b->b);
  if (!x || !y)
    return std::nullopt;
  auto scaled = [](LinearForm f, int64_t by) -> std::optional<LinearForm> {
    if (__builtin_mul_overflow(f.constant, by, &f.constant))
      return std::nullopt;
    for (auto it = f.coefficients.begin(); it != f.coefficients.end();) {
      if (__builtin_mul_overflow(it->second, by, &it->second))
        return std::nullopt;
      it = it->second ? std::next(it) : f.coefficients.erase(it);
    }
    return f;
  };
  if (b->op == BinOp::Mul) {
    if (y->coefficients.empty())
      return scaled(*x, y->constant);
    if (x->coefficients.empty())
      return scaled(*y, x->constant);
    return std::nullopt;
  }
  if (b->op == BinOp::Sub && !(y = scaled(*y, -1)))
    return std::nullopt;
  if (__builtin_add_overflow(x->constant, y->constant, &x->constant))
    return std::nullopt;
  for (auto [v, c] : y->coefficients) {
    int64_t &sum = x->coefficients[v];
    if (__builtin_add_overflow(sum, c, &sum))
      return std::nullopt;
    if (sum == 0)
      x->coefficients.erase(v);
  }
  return x;
}

namespace {
bool isCompare(BinOp op) { return op == BinOp::Lt || op == BinOp::Le || op == BinOp::Eq; }

/// Folds integer arithmetic on constants and the identities index math produces.
/// v when p = (v / c) * c and q = v % c for the same v and constant c != 0:
/// (v / c) * c + v % c == v with truncating division. Undoes the
/// re-linearization of an unravelled flat index.
Expr undoDivMod(const Expr &p, const Expr &q) {
  const Binary *m = as<Binary>(p), *r = as<Binary>(q);
  if (!m || !r || m->op != BinOp::Mul || r->op != BinOp::Mod)
    return nullptr;
  const Binary *d = as<Binary>(m->a);
  int64_t c1 = 0, c2 = 0, c3 = 0;
  if (!d || d->op != BinOp::Div || !isConstInt(m->b, &c1) || !isConstInt(d->b, &c2) || !isConstInt(r->b, &c3))
    return nullptr;
  return c1 != 0 && c1 == c2 && c2 == c3 && d->a == r->a ? d->a : nullptr;
}

Expr foldInt(BinOp op, const Expr &a, const Expr &b) {
  if (a->type != Type{DType::I64, 1} || b->type != a->type)
    return nullptr;
  int64_t x = 0, y = 0;
  bool ca = isConstInt(a, &x), cb = isConstInt(b, &y);
  if (ca && cb) {
    switch (op) {
    case BinOp::Add: return intImm(x + y);
    case BinOp::Sub: return intImm(x - y);
    case BinOp::Mul: return intImm(x * y);
    case BinOp::Div: return y ? intImm(x / y) : nullptr;
    case BinOp::Mod: return y ? intImm(x % y) : nullptr;
    case BinOp::Max: return intImm(std::max(x, y));
    case BinOp::Min: return intImm(std::min(x, y));
    default: return nullptr;
    }
  }
  switch (op) {
  case BinOp::Add:
    if (ca && x == 0) return b;
    if (cb && y == 0) return a;
    if (Expr v = undoDivMod(a, b))
      return v;
    if (Expr v = undoDivMod(b, a))
      return v;
    break;
  case BinOp::Sub:
    if (cb && y == 0) return a;
    break;
  case BinOp::Mul:
    if ((ca && x == 0) || (cb && y == 0)) return intImm(0);
    if (ca && x == 1) return b;
    if (cb && y == 1) return a;
    break;
  case BinOp::Div:
    if (cb && y == 1) return a;
    break;
  case BinOp::Mod:
    if (cb && y == 1) return intImm(0);
    break;
  default: break;
  }
  return nullptr;
}
} // namespace

Expr binary(BinOp op, Expr a, Expr b) {
  if (a->type.lanes < b->type.lanes)
    a = splat(a, b->type.lanes);
  else if (b->type.lanes < a->type.lanes)
    b = splat(b, a->type.lanes);
  KILN_INTERNAL_CHECK(a->type == b->type) << "kernel ir: " << binOpName(op) << " of " << dtypeName(a->type.dtype)
                                          << " and " << dtypeName(b->type.dtype);
  if (Expr f = foldInt(op, a, b))
    return f;
  Type t = isCompare(op) ? Type{DType::Bool, a->type.lanes} : a->type;
  return std::make_shared<Binary>(t, op, std::move(a), std::move(b));
}
Expr select(Expr c, Expr a, Expr b) {
  int lanes = std::max({c->type.lanes, a->type.lanes, b->type.lanes});
  if (c->type.lanes < lanes) c = splat(c, lanes);
  if (a->type.lanes < lanes) a = splat(a, lanes);
  if (b->type.lanes < lanes) b = splat(b, lanes);
  KILN_INTERNAL_CHECK(c->type.dtype == DType::Bool && a->type == b->type) << "kernel ir: bad select operands";
  return std::make_shared<Select>(std::move(c), std::move(a), std::move(b));
}
Expr cast(Expr a, DType t) {
  if (a->type.dtype == t)
    return a;
  if (const IntImm *i = as<IntImm>(a); i && a->type.dtype == DType::I64 && isInteger(t))
    return intImm(i->value, t);
  return std::make_shared<Cast>(Type{t, a->type.lanes}, std::move(a));
}
Expr splat(Expr a, int lanes) {
  if (a->type.lanes == lanes)
    return a;
  KILN_INTERNAL_CHECK(a->type.lanes == 1) << "kernel ir: splat of a vector";
  return std::make_shared<Splat>(std::move(a), lanes);
}
Expr random(int64_t seed, Expr key, Expr index) {
  return std::make_shared<Random>(seed, std::move(key), std::move(index));
}
Expr hreduce(ReduceOp op, Expr a) { return std::make_shared<HReduce>(op, std::move(a)); }
Expr add(Expr a, Expr b) { return binary(BinOp::Add, std::move(a), std::move(b)); }
Expr sub(Expr a, Expr b) { return binary(BinOp::Sub, std::move(a), std::move(b)); }
Expr mul(Expr a, Expr b) { return binary(BinOp::Mul, std::move(a), std::move(b)); }
Expr div(Expr a, Expr b) { return binary(BinOp::Div, std::move(a), std::move(b)); }
Expr mod(Expr a, Expr b) { return binary(BinOp::Mod, std::move(a), std::move(b)); }
Expr max(Expr a, Expr b) { return binary(BinOp::Max, std::move(a), std::move(b)); }
Expr min(Expr a, Expr b) { return binary(BinOp::Min, std::move(a), std::move(b)); }

Stmt block(std::vector<Stmt> s) {
  std::vector<Stmt> flat;
  for (Stmt &x : s) {
    if (!x)
      continue;
    if (const Block *b = as<Block>(x))
      flat.insert(flat.end(), b->stmts.begin(), b->stmts.end());
    else
      flat.push_back(std::move(x));
  }
  if (flat.size() == 1)
    return flat[0];
  return std::make_shared<Block>(std::move(flat));
}
Stmt forLoop(Expr v, Expr begin, Expr extent, ForKind k, Stmt body) {
  KILN_INTERNAL_CHECK(as<Var>(v)) << "kernel ir: loop variable is not a var";
  return std::make_shared<For>(std::move(v), std::move(begin), std::move(extent), k, std::move(body));
}
Stmt forLoop(Expr v, int64_t extent, ForKind k, Stmt body) {
  return forLoop(std::move(v), intImm(0), intImm(extent), k, std::move(body));
}
Stmt store(int buffer, Expr index, Expr value) {
  return std::make_shared<Store>(buffer, std::move(index), std::move(value));
}
Stmt ifThen(Expr c, Stmt then, Stmt otherwise) {
  return std::make_shared<IfThen>(std::move(c), std::move(then), std::move(otherwise));
}
Stmt letStmt(Expr v, Expr value, Stmt body) {
  return std::make_shared<LetStmt>(std::move(v), std::move(value), std::move(body));
}
Stmt letStmts(const std::vector<std::pair<Expr, Expr>> &lets, Stmt body) {
  for (size_t i = lets.size(); i-- > 0;)
    body = letStmt(lets[i].first, lets[i].second, std::move(body));
  return body;
}
Stmt alloc(int buffer, Stmt body) { return std::make_shared<Alloc>(buffer, std::move(body)); }

int Kernel::addParam(std::string n, DType t, int64_t size, bool readOnly) {
  buffers.push_back({std::move(n), t, size, false, readOnly});
  ++numParams;
  return static_cast<int>(buffers.size()) - 1;
}
int Kernel::addLocal(std::string n, DType t, int64_t size) {
  buffers.push_back({std::move(n), t, size, true, false});
  return static_cast<int>(buffers.size()) - 1;
}

// ---- Visitor ------------------------------------------------------------------

void Visitor::visit(const Expr &e) {
  switch (e->kind) {
#define KILN_KIR_EXPR(Name)                                                                        \
  case ExprKind::Name: return visit##Name(static_cast<const Name &>(*e));
#include "codegen/KernelIR.def"
  }
}
void Visitor::visit(const Stmt &s) {
  if (!s)
    return;
  switch (s->kind) {
#define KILN_KIR_STMT(Name)                                                                        \
  case StmtKind::Name: return visit##Name(static_cast<const Name &>(*s));
#include "codegen/KernelIR.def"
  }
}
void Visitor::visitIntImm(const IntImm &) {}
void Visitor::visitFloatImm(const FloatImm &) {}
void Visitor::visitVar(const Var &) {}
void Visitor::visitLoad(const Load &n) { visit(n.index); }
void Visitor::visitUnary(const Unary &n) { visit(n.a); }
void Visitor::visitBinary(const Binary &n) { visit(n.a), visit(n.b); }
void Visitor::visitSelect(const Select &n) { visit(n.c), visit(n.a), visit(n.b); }
void Visitor::visitCast(const Cast &n) { visit(n.a); }
void Visitor::visitSplat(const Splat &n) { visit(n.a); }
void Visitor::visitRandom(const Random &n) { visit(n.key), visit(n.index); }
void Visitor::visitHReduce(const HReduce &n) { visit(n.a); }
void Visitor::visitBlock(const Block &n) {
  for (const Stmt &s : n.stmts)
    visit(s);
}
void Visitor::visitFor(const For &n) { visit(n.begin), visit(n.extent), visit(n.body); }
void Visitor::visitStore(const Store &n) { visit(n.index), visit(n.value); }
void Visitor::visitIfThen(const IfThen &n) { visit(n.cond), visit(n.then), visit(n.otherwise); }
void Visitor::visitLetStmt(const LetStmt &n) { visit(n.value), visit(n.body); }
void Visitor::visitAlloc(const Alloc &n) { visit(n.body); }

// ---- Mutator ------------------------------------------------------------------

Expr Mutator::mutate(const Expr &e) {
  switch (e->kind) {
#define KILN_KIR_EXPR(Name)                                                                        \
  case ExprKind::Name: return mutate##Name(static_cast<const Name &>(*e), e);
#include "codegen/KernelIR.def"
  }
  return e;
}
Stmt Mutator::mutate(const Stmt &s) {
  if (!s)
    return s;
  switch (s->kind) {
#define KILN_KIR_STMT(Name)                                                                        \
  case StmtKind::Name: return mutate##Name(static_cast<const Name &>(*s), s);
#include "codegen/KernelIR.def"
  }
  return s;
}
Expr Mutator::mutateIntImm(const IntImm &, const Expr &self) { return self; }
Expr Mutator::mutateFloatImm(const FloatImm &, const Expr &self) { return self; }
Expr Mutator::mutateVar(const Var &, const Expr &self) { return self; }
Expr Mutator::mutateLoad(const Load &n, const Expr &self) {
  Expr i = mutate(n.index);
  return i == n.index ? self : load(n.buffer, n.type.dtype, i, n.type.lanes);
}
Expr Mutator::mutateUnary(const Unary &n, const Expr &self) {
  Expr a = mutate(n.a);
  return a == n.a ? self : unary(n.op, a);
}
Expr Mutator::mutateBinary(const Binary &n, const Expr &self) {
  Expr a = mutate(n.a), b = mutate(n.b);
  return a == n.a && b == n.b ? self : binary(n.op, a, b);
}
Expr Mutator::mutateSelect(const Select &n, const Expr &self) {
  Expr c = mutate(n.c), a = mutate(n.a), b = mutate(n.b);
  return c == n.c && a == n.a && b == n.b ? self : select(c, a, b);
}
Expr Mutator::mutateCast(const Cast &n, const Expr &self) {
  Expr a = mutate(n.a);
  return a == n.a ? self : cast(a, n.type.dtype);
}
Expr Mutator::mutateSplat(const Splat &n, const Expr &self) {
  Expr a = mutate(n.a);
  return a == n.a ? self : splat(a, n.type.lanes);
}
Expr Mutator::mutateRandom(const Random &n, const Expr &self) {
  Expr k = mutate(n.key), i = mutate(n.index);
  return k == n.key && i == n.index ? self : random(n.seed, k, i);
}
Expr Mutator::mutateHReduce(const HReduce &n, const Expr &self) {
  Expr a = mutate(n.a);
  return a == n.a ? self : hreduce(n.op, a);
}
Stmt Mutator::mutateBlock(const Block &n, const Stmt &self) {
  std::vector<Stmt> out;
  bool changed = false;
  for (const Stmt &s : n.stmts) {
    out.push_back(mutate(s));
    changed |= out.back() != s;
  }
  return changed ? block(std::move(out)) : self;
}
Stmt Mutator::mutateFor(const For &n, const Stmt &self) {
  Expr b = mutate(n.begin), e = mutate(n.extent);
  Stmt body = mutate(n.body);
  return b == n.begin && e == n.extent && body == n.body ? self : forLoop(n.var, b, e, n.forKind, body);
}
Stmt Mutator::mutateStore(const Store &n, const Stmt &self) {
  Expr i = mutate(n.index), v = mutate(n.value);
  return i == n.index && v == n.value ? self : store(n.buffer, i, v);
}
Stmt Mutator::mutateIfThen(const IfThen &n, const Stmt &self) {
  Expr c = mutate(n.cond);
  Stmt t = mutate(n.then), o = mutate(n.otherwise);
  return c == n.cond && t == n.then && o == n.otherwise ? self : ifThen(c, t, o);
}
Stmt Mutator::mutateLetStmt(const LetStmt &n, const Stmt &self) {
  Expr v = mutate(n.value);
  Stmt b = mutate(n.body);
  return v == n.value && b == n.body ? self : letStmt(n.var, v, b);
}
Stmt Mutator::mutateAlloc(const Alloc &n, const Stmt &self) {
  Stmt b = mutate(n.body);
  return b == n.body ? self : alloc(n.buffer, b);
}

namespace {
class Substituter : public Mutator {
public:
  Substituter(const Expr &v, const Expr &by) : v_(v.get()), by_(by) {}
  Expr mutateVar(const Var &n, const Expr &self) override { return &n == v_ ? by_ : self; }

private:
  const ExprNode *v_;
  Expr by_;
};
} // namespace

Stmt substitute(const Stmt &s, const Expr &v, const Expr &by) { return Substituter(v, by).mutate(s); }
Expr substitute(const Expr &e, const Expr &v, const Expr &by) { return Substituter(v, by).mutate(e); }

namespace {
/// narrowIndexArithmetic: each largest narrowable i64 or bool subexpression
/// is replaced by its 32-bit form (cast back to i64 where it was an i64).
/// A subexpression is narrowable when it is built of immediates, the given
/// variables, integer operators, comparisons, logic and selects, and the
/// interval of every value in it (from the variables' ranges) is in int32.
class Narrower : public Mutator {
public:
  explicit Narrower(std::vector<IndexVar> vars) : vars_(std::move(vars)) {}

  Expr mutateVar(const Var &, const Expr &self) override { return widened(self); }
  Expr mutateBinary(const Binary &n, const Expr &self) override {
    Expr w = widened(self);
    return w != self ? w : Mutator::mutateBinary(n, self);
  }
  Expr mutateSelect(const Select &n, const Expr &self) override {
    Expr w = widened(self);
    return w != self ? w : Mutator::mutateSelect(n, self);
  }
  /// A loop with constant bounds in 32 bits counts with an i32 variable.
  Stmt mutateFor(const For &n, const Stmt &self) override {
    int64_t b = 0, e = 0;
    if (n.var->type == Type{DType::I64, 1} && isConstInt(n.begin, &b) && isConstInt(n.extent, &e) && e > 0 &&
        fits(b, Wide{b} + e)) {
      Expr v = var(as<Var>(n.var)->name, {DType::I32, 1});
      return forLoop(v, intImm(b, DType::I32), intImm(e, DType::I32), n.forKind,
                     within({n.var, v, b, b + e - 1}, n.body));
    }
    return Mutator::mutateFor(n, self);
  }
  /// A let of a narrowable i64 value binds an i32 variable.
  Stmt mutateLetStmt(const LetStmt &n, const Stmt &self) override {
    if (n.var->type == Type{DType::I64, 1})
      if (Narrowed v = narrow(n.value); v.e) {
        Expr x = var(as<Var>(n.var)->name, {DType::I32, 1});
        return letStmt(x, v.e, within({n.var, x, static_cast<int64_t>(v.lo), static_cast<int64_t>(v.hi)}, n.body));
      }
    return Mutator::mutateLetStmt(n, self);
  }

private:
  /// `body` mutated with `v` bound (a variable node may be bound again by a
  /// later loop, so what was narrowed under a binding is forgotten after it).
  Stmt within(const IndexVar &v, const Stmt &body) {
    vars_.push_back(v);
    memo_.clear(), widened_.clear();
    Stmt b = mutate(body);
    vars_.pop_back();
    memo_.clear(), widened_.clear();
    return b;
  }
  using Wide = __int128;
  /// A narrowed expression and the interval of its values.
  struct Narrowed {
    Expr e;
    Wide lo = 0, hi = 0;
  };
  static bool fits(Wide lo, Wide hi) {
    return lo >= std::numeric_limits<int32_t>::min() && hi <= std::numeric_limits<int32_t>::max();
  }
  /// The interval of `op` over operand intervals [al, ah] and [bl, bh].
  static std::pair<Wide, Wide> interval(BinOp op, Wide al, Wide ah, Wide bl, Wide bh, const Expr &b) {
    auto hull = [](std::initializer_list<Wide> v) { return std::pair{std::min(v), std::max(v)}; };
    Wide magnitude = std::max(al < 0 ? -al : al, ah < 0 ? -ah : ah);
    int64_t c = 0;
    bool positive = isConstInt(b, &c) && c > 0;
    switch (op) {
    case BinOp::Add: return {al + bl, ah + bh};
    case BinOp::Sub: return {al - bh, ah - bl};
    case BinOp::Mul: return hull({al * bl, al * bh, ah * bl, ah * bh});
    case BinOp::Div: // truncates; x / 0 = 0
      if (positive)
        return {al / c, ah / c};
      return {-magnitude, magnitude};
    case BinOp::Mod: // the dividend's sign; |x % y| <= |x|, and < y for y > 0
      if (positive)
        return {al < 0 ? std::max<Wide>(al, -(c - 1)) : 0, ah > 0 ? std::min<Wide>(ah, c - 1) : 0};
      return {al < 0 ? -magnitude : 0, ah > 0 ? magnitude : 0};
    case BinOp::Max: return {std::max(al, bl), std::max(ah, bh)};
    case BinOp::Min: return {std::min(al, bl), std::min(ah, bh)};
    default: return {0, 1}; // comparisons and logic
    }
  }
  /// `e` in 32 bits, or an empty result when it is not narrowable.
  Narrowed narrow(const Expr &e) {
    if (auto it = memo_.find(e.get()); it != memo_.end())
      return it->second;
    Narrowed n;
    DType t = e->type.dtype;
    if (e->type.lanes == 1 && (t == DType::I64 || t == DType::Bool)) {
      if (const IntImm *c = as<IntImm>(e)) {
        n = {t == DType::Bool ? e : intImm(c->value, DType::I32), c->value, c->value};
      } else if (e->kind == ExprKind::Var) {
        for (auto v = vars_.rbegin(); v != vars_.rend() && !n.e; ++v) // the innermost binding
          if (v->wide.get() == e.get())
            n = {v->narrow, v->lo, v->hi};
      } else if (const Binary *b = as<Binary>(e)) {
        Narrowed x = narrow(b->a), y = x.e ? narrow(b->b) : Narrowed{};
        if (y.e) {
          auto [lo, hi] = interval(b->op, x.lo, x.hi, y.lo, y.hi, b->b);
          n = {binary(b->op, x.e, y.e), lo, hi};
        }
      } else if (const Select *s = as<Select>(e)) {
        Narrowed c = narrow(s->c), x = c.e ? narrow(s->a) : Narrowed{}, y = x.e ? narrow(s->b) : Narrowed{};
        if (y.e)
          n = {select(c.e, x.e, y.e), std::min(x.lo, y.lo), std::max(x.hi, y.hi)};
      }
      if (n.e && !fits(n.lo, n.hi))
        n = {};
    }
    memo_[e.get()] = n;
    return n;
  }
  /// `e` computed in 32 bits, as a value of its own type; `e` itself when it cannot be.
  Expr widened(const Expr &e) {
    if (auto it = widened_.find(e.get()); it != widened_.end())
      return it->second;
    Expr n = narrow(e).e;
    Expr w = !n ? e : n->type.dtype == DType::I32 ? cast(n, DType::I64) : n;
    widened_[e.get()] = w;
    return w;
  }

  std::vector<IndexVar> vars_; ///< the given variables, then those of loops and lets met
  std::map<const ExprNode *, Narrowed> memo_;
  std::map<const ExprNode *, Expr> widened_;
};

void checkIndexVars(const std::vector<IndexVar> &vars) {
  for (const IndexVar &v : vars)
    KILN_INTERNAL_CHECK(v.wide->type == (Type{DType::I64, 1}) && v.narrow->type == (Type{DType::I32, 1}) &&
                        v.lo <= v.hi)
        << "narrowIndexArithmetic: variables must be i64 -> i32 with a range";
}
} // namespace

Expr narrowIndexArithmetic(const Expr &e, const std::vector<IndexVar> &vars) {
  checkIndexVars(vars);
  return Narrower(vars).mutate(e);
}
Stmt narrowIndexArithmetic(const Stmt &s, const std::vector<IndexVar> &vars) {
  checkIndexVars(vars);
  return Narrower(vars).mutate(s);
}

} // namespace kiln::kir
