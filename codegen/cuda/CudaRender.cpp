// codegen/cuda/CudaRender.cpp - kernel IR primitives as CUDA C++, and generic kernels.
#include "codegen/cuda/CudaRender.h"

#include "ir/Error.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace kiln::cuda {

using namespace kir;

const char *cudaType(DType t) {
  switch (t) {
  case DType::F32: return "float";
  case DType::F64: return "double";
  case DType::I32: return "int";
  case DType::I64: return "long long";
  case DType::U8: return "unsigned char";
  case DType::Bool: return "bool";
  }
  return "void";
}

std::string cudaLiteral(double v, DType t) {
  char buf[64];
  if (t == DType::F32) {
    float f = static_cast<float>(v);
    if (std::isnan(f))
      return "__int_as_float(0x7fffffff)";
    if (std::isinf(f))
      return f > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
    std::snprintf(buf, sizeof buf, "(%af)", static_cast<double>(f));
    return buf;
  }
  if (t == DType::F64) {
    if (std::isnan(v))
      return "__longlong_as_double(0x7ff8000000000000LL)";
    if (std::isinf(v))
      return v > 0 ? "__longlong_as_double(0x7ff0000000000000LL)" : "__longlong_as_double(0xfff0000000000000ULL)";
    std::snprintf(buf, sizeof buf, "(%a)", v);
    return buf;
  }
  auto i = static_cast<int64_t>(v);
  switch (t) {
  case DType::Bool: return i ? "true" : "false";
  case DType::U8: return "((unsigned char)" + std::to_string(i & 0xff) + ")";
  case DType::I32:
    if (i == std::numeric_limits<int32_t>::min())
      return "(-2147483647 - 1)";
    return "(" + std::to_string(i) + ")";
  default:
    if (i == std::numeric_limits<int64_t>::min())
      return "(-9223372036854775807LL - 1)";
    return "(" + std::to_string(i) + "LL)";
  }
}

namespace {

std::string pad(int indent) { return std::string(static_cast<size_t>(indent) * 2, ' '); }

void checkScalar(const Type &t) {
  KILN_INTERNAL_CHECK(t.lanes == 1) << "cuda renderer: vector kernel IR (" << t.lanes << " lanes) is not supported";
}

/// Counts references to each node of a DAG (children counted once per parent visit).
void countUses(const Expr &e, std::unordered_map<const ExprNode *, int> &uses) {
  if (uses[e.get()]++ > 0)
    return;
  switch (e->kind) {
  case ExprKind::Load: countUses(as<Load>(e)->index, uses); break;
  case ExprKind::Unary: countUses(as<Unary>(e)->a, uses); break;
  case ExprKind::Binary: countUses(as<Binary>(e)->a, uses), countUses(as<Binary>(e)->b, uses); break;
  case ExprKind::Select: {
    const Select *s = as<Select>(e);
    countUses(s->c, uses), countUses(s->a, uses), countUses(s->b, uses);
    break;
  }
  case ExprKind::Cast: countUses(as<Cast>(e)->a, uses); break;
  case ExprKind::Random: countUses(as<Random>(e)->key, uses), countUses(as<Random>(e)->index, uses); break;
  default: break;
  }
}

bool isLeaf(const Expr &e) {
  return e->kind == ExprKind::IntImm || e->kind == ExprKind::FloatImm || e->kind == ExprKind::Var;
}

} // namespace

struct KirRenderer::Scope {
  std::unordered_map<const ExprNode *, int> uses;
  std::unordered_map<const ExprNode *, std::string> names;
};

KirRenderer::KirRenderer(const Kernel &k, bool noAlias) : k_(k), noAlias_(noAlias) {}

std::string KirRenderer::bufferName(int b) const {
  KILN_INTERNAL_CHECK(b >= 0 && b < static_cast<int>(k_.buffers.size()))
      << "cuda renderer: buffer " << b << " of kernel " << k_.name;
  return (k_.buffers[b].local ? "l" : "p") + std::to_string(b);
}

std::string KirRenderer::varName(const Var &v) {
  std::string s = "v_";
  for (char c : v.name)
    s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

std::string KirRenderer::varName(const Expr &v) const {
  const Var *x = as<Var>(v);
  KILN_INTERNAL_CHECK(x) << "cuda renderer: not a variable";
  return varName(*x);
}

std::vector<std::string> KirRenderer::paramNames() const {
  std::vector<std::string> names;
  for (size_t b = 0; b < k_.buffers.size(); ++b)
    if (!k_.buffers[b].local)
      names.push_back(bufferName(static_cast<int>(b)));
  return names;
}

std::vector<std::string> KirRenderer::paramTypes() const {
  std::vector<std::string> types;
  for (const BufferDecl &d : k_.buffers)
    if (!d.local)
      types.push_back(std::string(d.readOnly ? "const " : "") + cudaType(d.dtype) + " *");
  return types;
}

std::string KirRenderer::paramList() const {
  std::vector<std::string> types = paramTypes(), names = paramNames();
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i ? ", " : "") + types[i] + (noAlias_ ? "__restrict__ " : "") + names[i];
  return s;
}

std::string KirRenderer::unaryText(const Unary &u, const std::string &x) const {
  DType t = u.type.dtype;
  bool f32 = t == DType::F32;
  if (!isFloat(t)) {
    if (u.op == UnOp::Neg)
      return "((" + std::string(cudaType(t)) + ")(-" + x + "))";
    if (u.op == UnOp::Abs)
      return t == DType::I64 ? "llabs(" + x + ")" : t == DType::I32 ? "abs(" + x + ")" : x;
    KILN_INTERNAL_ERROR() << "cuda renderer: " << unOpName(u.op) << " of " << dtypeName(t);
  }
  switch (u.op) {
  case UnOp::Neg: return "(-" + x + ")";
  case UnOp::Exp: return (f32 ? "expf(" : "exp(") + x + ")";
  case UnOp::Log: return (f32 ? "logf(" : "log(") + x + ")";
  case UnOp::Sqrt: return (f32 ? "sqrtf(" : "sqrt(") + x + ")";
  case UnOp::Tanh: return (f32 ? "tanhf(" : "tanh(") + x + ")";
  case UnOp::Abs: return (f32 ? "fabsf(" : "fabs(") + x + ")";
  }
  return x;
}

std::string KirRenderer::binaryText(const Binary &b, const std::string &x, const std::string &y) const {
  DType t = b.a->type.dtype;
  std::string ty = cudaType(t);
  auto infix = [&](const char *op) { return "(" + x + " " + op + " " + y + ")"; };
  // Narrow integer arithmetic is done in int and wrapped back, like LLVM's i8.
  auto wrapped = [&](const char *op) {
    return t == DType::U8 || t == DType::Bool ? "((" + ty + ")" + infix(op) + ")" : infix(op);
  };
  switch (b.op) {
  case BinOp::Add: return wrapped("+");
  case BinOp::Sub: return wrapped("-");
  case BinOp::Mul: return wrapped("*");
  case BinOp::Div: return isFloat(t) ? infix("/") : "kiln_div<" + ty + ">(" + x + ", " + y + ")";
  case BinOp::Mod:
    if (isFloat(t))
      return (t == DType::F32 ? "fmodf(" : "fmod(") + x + ", " + y + ")";
    return "kiln_mod<" + ty + ">(" + x + ", " + y + ")";
  case BinOp::Max: return "kiln_max<" + ty + ">(" + x + ", " + y + ")";
  case BinOp::Min: return "kiln_min<" + ty + ">(" + x + ", " + y + ")";
  case BinOp::Lt: return infix("<");
  case BinOp::Le: return infix("<=");
  case BinOp::Eq: return infix("==");
  case BinOp::And: return infix("&&");
  case BinOp::Or: return infix("||");
  }
  return "";
}

std::string KirRenderer::node(const Expr &e, Scope &sc, int indent, std::string &out) {
  if (auto it = sc.names.find(e.get()); it != sc.names.end())
    return it->second;
  checkScalar(e->type);
  std::string text;
  switch (e->kind) {
  case ExprKind::IntImm: text = cudaLiteral(static_cast<double>(as<IntImm>(e)->value), e->type.dtype); break;
  case ExprKind::FloatImm: text = cudaLiteral(as<FloatImm>(e)->value, e->type.dtype); break;
  case ExprKind::Var: text = varName(*as<Var>(e)); break;
  case ExprKind::Load: {
    const Load *l = as<Load>(e);
    text = bufferName(l->buffer) + "[" + node(l->index, sc, indent, out) + "]";
    break;
  }
  case ExprKind::Unary: {
    const Unary *u = as<Unary>(e);
    text = unaryText(*u, node(u->a, sc, indent, out));
    break;
  }
  case ExprKind::Binary: {
    const Binary *b = as<Binary>(e);
    std::string x = node(b->a, sc, indent, out);
    text = binaryText(*b, x, node(b->b, sc, indent, out));
    break;
  }
  case ExprKind::Select: {
    const Select *s = as<Select>(e);
    std::string c = node(s->c, sc, indent, out), a = node(s->a, sc, indent, out);
    text = "(" + c + " ? " + a + " : " + node(s->b, sc, indent, out) + ")";
    break;
  }
  case ExprKind::Cast: {
    const Cast *c = as<Cast>(e);
    std::string a = node(c->a, sc, indent, out);
    DType from = c->a->type.dtype, to = e->type.dtype;
    if (to == DType::Bool)
      text = "(" + a + " != 0)";
    else if (isFloat(from) && !isFloat(to))
      text = "((" + std::string(cudaType(to)) + ")(long long)" + a + ")";
    else
      text = "((" + std::string(cudaType(to)) + ")" + a + ")";
    break;
  }
  case ExprKind::Random: {
    const Random *r = as<Random>(e);
    std::string key = node(r->key, sc, indent, out);
    text = "kiln_random(" + std::to_string(static_cast<uint64_t>(r->seed)) + "ULL, (kiln_u64)" + key +
           ", (kiln_u64)" + node(r->index, sc, indent, out) + ")";
    break;
  }
  case ExprKind::Splat:
  case ExprKind::HReduce:
    KILN_INTERNAL_ERROR() << "cuda renderer: vector kernel IR is not supported (kernel " << k_.name << ")";
  }
  if (sc.uses[e.get()] > 1 && !isLeaf(e)) {
    std::string name = "t" + std::to_string(temp_++);
    out += pad(indent) + "const " + cudaType(e->type.dtype) + " " + name + " = " + text + ";\n";
    sc.names[e.get()] = name;
    return name;
  }
  return text;
}

std::string KirRenderer::expr(const Expr &e, int indent, std::string &out) {
  Scope sc;
  countUses(e, sc.uses);
  return node(e, sc, indent, out);
}

void KirRenderer::stmt(const Stmt &s, int indent, std::string &out) {
  std::string p = pad(indent);
  switch (s->kind) {
  case StmtKind::Block:
    for (const Stmt &c : as<Block>(s)->stmts)
      stmt(c, indent, out);
    return;
  case StmtKind::For: {
    const For *f = as<For>(s);
    std::string v = varName(f->var), b = expr(f->begin, indent, out), e = expr(f->extent, indent, out);
    if (f->forKind == ForKind::Unrolled)
      out += p + "#pragma unroll\n";
    out += p + "for (" + cudaType(f->var->type.dtype) + " " + v + " = " + b + "; " + v + " < " + b + " + " + e +
           "; ++" + v + ") {\n";
    stmt(f->body, indent + 1, out);
    out += p + "}\n";
    return;
  }
  case StmtKind::Store: {
    const kir::Store *st = as<kir::Store>(s);
    checkScalar(st->value->type);
    // Index and value share one scope so common subexpressions are bound once.
    Scope sc;
    countUses(st->index, sc.uses);
    countUses(st->value, sc.uses);
    std::string i = node(st->index, sc, indent, out), v = node(st->value, sc, indent, out);
    out += p + bufferName(st->buffer) + "[" + i + "] = " + v + ";\n";
    return;
  }
  case StmtKind::IfThen: {
    const IfThen *f = as<IfThen>(s);
    out += p + "if (" + expr(f->cond, indent, out) + ") {\n";
    stmt(f->then, indent + 1, out);
    if (f->otherwise) {
      out += p + "} else {\n";
      stmt(f->otherwise, indent + 1, out);
    }
    out += p + "}\n";
    return;
  }
  case StmtKind::LetStmt: {
    const LetStmt *l = as<LetStmt>(s);
    std::string v = expr(l->value, indent, out);
    out += p + "{\n" + p + "  const " + cudaType(l->var->type.dtype) + " " + varName(l->var) + " = " + v + ";\n";
    stmt(l->body, indent + 1, out);
    out += p + "}\n";
    return;
  }
  case StmtKind::Alloc: {
    const Alloc *a = as<Alloc>(s);
    const BufferDecl &d = k_.buffers.at(a->buffer);
    out += p + "{\n" + p + "  " + cudaType(d.dtype) + " " + bufferName(a->buffer) + "[" + std::to_string(d.size) +
           "];\n";
    stmt(a->body, indent + 1, out);
    out += p + "}\n";
    return;
  }
  }
}

namespace {

/// The parameter buffers a statement tree loads and stores, with the index
/// and lane count of every access.
struct ReadWrite final : Visitor {
  struct Access {
    Expr index;
    int lanes;
  };
  std::map<int, std::vector<Access>> accesses;
  std::set<int> loads, stores;
  const Kernel &k;
  explicit ReadWrite(const Kernel &kk) : k(kk) {}
  void visitLoad(const Load &n) override {
    if (!k.buffers[n.buffer].local) {
      loads.insert(n.buffer);
      accesses[n.buffer].push_back({n.index, n.type.lanes});
    }
    Visitor::visitLoad(n);
  }
  void visitStore(const kir::Store &n) override {
    if (!k.buffers[n.buffer].local) {
      stores.insert(n.buffer);
      accesses[n.buffer].push_back({n.index, n.value->type.lanes});
    }
    Visitor::visitStore(n);
  }
  /// Buffers both loaded and stored.
  std::vector<int> readModifyWritten() const {
    std::vector<int> both;
    for (int b : stores)
      if (loads.count(b))
        both.push_back(b);
    return both;
  }
};

/// Whether distinct iterations of the perfect nest `loops` touch distinct
/// elements of every buffer the nest both reads and writes, so that each
/// iteration can be a thread of its own: every access to such a buffer is one
/// lane at the same index, a linear form of the loops' variables alone whose
/// coefficients, ordered by size, each exceed the span of the smaller ones
/// (a mixed radix, which no two iterations share). An in-place optimizer
/// update of a matrix is such a nest; a row sum accumulated in its output is
/// not (its index leaves out the column).
bool iterationsDisjoint(const ReadWrite &rw, const std::vector<const For *> &loops) {
  for (int b : rw.readModifyWritten()) {
    const std::vector<ReadWrite::Access> &all = rw.accesses.at(b);
    std::optional<LinearForm> form = linearForm(all.front().index);
    if (!form)
      return false;
    for (const ReadWrite::Access &a : all)
      if (a.lanes != 1 || linearForm(a.index) != form)
        return false;
    std::vector<std::pair<int64_t, int64_t>> digits; // |coefficient|, extent
    size_t used = 0;
    for (const For *f : loops) {
      int64_t extent = as<IntImm>(f->extent)->value;
      auto c = form->coefficients.find(f->var.get());
      used += c != form->coefficients.end();
      if (extent > 1) {
        if (c == form->coefficients.end() || c->second == std::numeric_limits<int64_t>::min())
          return false;
        digits.push_back({std::abs(c->second), extent});
      }
    }
    if (used != form->coefficients.size()) // a variable of an inner loop or a let
      return false;
    std::sort(digits.begin(), digits.end());
    int64_t span = 0; // the largest distance the smaller digits reach
    for (auto [c, extent] : digits) {
      if (c <= span || __builtin_mul_overflow(c, extent - 1, &c) || __builtin_add_overflow(span, c, &span))
        return false;
    }
  }
  return true;
}

} // namespace

CudaKernel renderGenericKernel(const Kernel &k, const std::string &symbol, bool noAlias) {
  KirRenderer r(k, noAlias);
  // Thread loops: the Parallel loop at the top and the loops perfectly nested
  // inside it, unless iterations could then depend on each other through a
  // parameter they read and write (the inner loops then run in each thread).
  std::vector<const For *> loops;
  Stmt body = k.body;
  for (const For *f = as<For>(body); f; f = as<For>(body)) {
    int64_t extent = 0, begin = 0;
    if ((loops.empty() && f->forKind != ForKind::Parallel) || !isConstInt(f->extent, &extent) ||
        !isConstInt(f->begin, &begin) || extent < 1)
      break;
    loops.push_back(f);
    body = f->body;
  }
  ReadWrite rw(k);
  rw.visit(k.body);
  if (loops.size() > 1 && !iterationsDisjoint(rw, loops)) {
    loops.resize(1);
    body = loops[0]->body;
  }
  int64_t total = 1;
  for (const For *f : loops)
    total *= as<IntImm>(f->extent)->value;
  CudaKernel ck;
  ck.name = symbol;
  ck.kind = "generic";
  ck.callableBody = true;
  // A block of kGenericBlock threads even when there is no loop to spread
  // (then thread 0 runs the body): every kernel can then join a launch group.
  const int threads = kGenericBlock;
  ck.block[0] = threads;
  ck.grid[0] = (total + threads - 1) / threads;
  // The thread's index and loop coordinates in 32 bits when they fit, and
  // the index arithmetic over them where its values do.
  int64_t last = 0;
  for (const For *f : loops)
    last = std::max(last, as<IntImm>(f->begin)->value + as<IntImm>(f->extent)->value);
  const bool narrow = narrowCoordinates(std::max(total, last));
  const std::string IT = narrow ? "int" : "long long", suffix = narrow ? "" : "LL";
  std::string out = bodyOpening(r, symbol);
  out += "  const " + IT + " gid = (" + IT + ")block * " + std::to_string(threads) + " + threadIdx.x;\n";
  out += "  if (gid >= " + std::to_string(total) + suffix + ") return;\n";
  int64_t stride = total;
  std::vector<IndexVar> vars;
  for (const For *f : loops) {
    int64_t extent = as<IntImm>(f->extent)->value, begin = as<IntImm>(f->begin)->value;
    stride /= extent;
    std::string idx = "gid";
    if (stride > 1)
      idx = "(" + idx + " / " + std::to_string(stride) + suffix + ")";
    if (f != loops.front())
      idx = "(" + idx + " % " + std::to_string(extent) + suffix + ")";
    if (begin)
      idx = std::string("(").append(std::to_string(begin)).append(suffix + " + ").append(idx).append(")");
    out += "  const " + IT + " " + r.varName(f->var) + " = " + idx + ";\n";
    vars.push_back({f->var, kir::var(as<Var>(f->var)->name, {DType::I32, 1}), begin, begin + extent - 1});
  }
  if (narrow)
    body = narrowIndexArithmetic(body, vars);
  r.stmt(body, 1, out);
  out += "}\n" + bodyEntry(r, symbol, threads);
  ck.source = std::move(out);
  return ck;
}

std::string bodyOpening(const KirRenderer &r, const std::string &symbol) {
  return "__device__ __forceinline__ void " + symbol + "_body(" + r.paramList() +
         (r.paramNames().empty() ? "" : ", ") + "const long long block) {\n";
}

std::string kernelOpening(const std::string &symbol, const std::string &params, int threads) {
  return "extern \"C\" __global__ void __launch_bounds__(" + std::to_string(threads) + ") " + symbol + "(" + params +
         ") {\n  kiln_pdl_enter();\n";
}

std::string bodyEntry(const KirRenderer &r, const std::string &symbol, int threads) {
  std::string call;
  for (const std::string &p : r.paramNames())
    call += p + ", ";
  return kernelOpening(symbol, r.paramList(), threads) + "  " + symbol + "_body(" + call + "blockIdx.x);\n}\n";
}

CudaKernel blockBodyKernel(std::string kind, std::string source, int64_t blocks, int threads, int64_t staticShared) {
  CudaKernel k;
  k.kind = std::move(kind);
  k.source = std::move(source);
  k.grid[0] = blocks;
  k.block[0] = threads;
  k.staticSharedBytes = static_cast<int>(staticShared);
  k.callableBody = true;
  return k;
}

} // namespace kiln::cuda
