// codegen/KernelPrinter.cpp - the text form of kernel IR (dumps and cache keys).
//
// The text is deterministic and complete: two kernels print equal exactly
// when they compute the same thing, which the kernel cache relies on.
#include "codegen/KernelIR.h"

#include <cstdio>
#include <sstream>

namespace kiln::kir {

namespace {

std::string typeName(Type t) {
  std::string s(dtypeName(t.dtype));
  if (t.lanes > 1)
    s.append("x").append(std::to_string(t.lanes));
  return s;
}

std::string floatText(double v, DType t) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos)
    s += ".0";
  return t == DType::F32 ? s + "f" : s;
}

class Printer : public Visitor {
public:
  explicit Printer(int indent) : indent_(indent) {}
  std::ostringstream os;

  void visitIntImm(const IntImm &n) override {
    if (n.type.dtype == DType::Bool)
      os << (n.value ? "true" : "false");
    else if (n.type.dtype == DType::I64)
      os << n.value;
    else
      os << dtypeName(n.type.dtype) << "(" << n.value << ")";
  }
  void visitFloatImm(const FloatImm &n) override { os << floatText(n.value, n.type.dtype); }
  void visitVar(const Var &n) override { os << n.name; }
  void visitLoad(const Load &n) override {
    os << "b" << n.buffer << "[";
    visit(n.index);
    if (n.type.lanes > 1)
      os << " +" << n.type.lanes;
    os << "]";
  }
  void visitUnary(const Unary &n) override {
    os << unOpName(n.op) << "(";
    visit(n.a);
    os << ")";
  }
  void visitBinary(const Binary &n) override {
    const char *infix = nullptr;
    switch (n.op) {
    case BinOp::Add: infix = " + "; break;
    case BinOp::Sub: infix = " - "; break;
    case BinOp::Mul: infix = " * "; break;
    case BinOp::Div: infix = " / "; break;
    case BinOp::Mod: infix = " % "; break;
    default: break;
    }
    if (infix) {
      os << "(";
      visit(n.a);
      os << infix;
      visit(n.b);
      os << ")";
      return;
    }
    os << binOpName(n.op) << "(";
    visit(n.a);
    os << ", ";
    visit(n.b);
    os << ")";
  }
  void visitSelect(const Select &n) override {
    os << "select(";
    visit(n.c);
    os << ", ";
    visit(n.a);
    os << ", ";
    visit(n.b);
    os << ")";
  }
  void visitCast(const Cast &n) override {
    os << typeName(n.type) << "(";
    visit(n.a);
    os << ")";
  }
  void visitSplat(const Splat &n) override {
    os << "splat" << n.type.lanes << "(";
    visit(n.a);
    os << ")";
  }
  void visitRandom(const Random &n) override {
    os << "random(" << n.seed << ", ";
    visit(n.key);
    os << ", ";
    visit(n.index);
    os << ")";
  }
  void visitHReduce(const HReduce &n) override {
    os << (n.op == ReduceOp::Add ? "hadd(" : "hmax(");
    visit(n.a);
    os << ")";
  }

  void line() { os << std::string(static_cast<size_t>(indent_) * 2, ' '); }
  void visitBlock(const Block &n) override {
    for (const Stmt &s : n.stmts)
      visit(s);
  }
  void visitFor(const For &n) override {
    line();
    if (n.forKind != ForKind::Serial)
      os << forKindName(n.forKind) << " ";
    os << "for " << as<Var>(n.var)->name << " in ";
    visit(n.begin);
    os << " +";
    visit(n.extent);
    os << " {\n";
    nested(n.body);
    line();
    os << "}\n";
  }
  void visitStore(const Store &n) override {
    line();
    os << "b" << n.buffer << "[";
    visit(n.index);
    if (n.value->type.lanes > 1)
      os << " +" << n.value->type.lanes;
    os << "] = ";
    visit(n.value);
    os << "\n";
  }
  void visitIfThen(const IfThen &n) override {
    line();
    os << "if ";
    visit(n.cond);
    os << " {\n";
    nested(n.then);
    if (n.otherwise) {
      line();
      os << "} else {\n";
      nested(n.otherwise);
    }
    line();
    os << "}\n";
  }
  void visitLetStmt(const LetStmt &n) override {
    line();
    os << "let " << as<Var>(n.var)->name << ": " << typeName(n.var->type) << " = ";
    visit(n.value);
    os << "\n";
    visit(n.body);
  }
  void visitAlloc(const Alloc &n) override {
    line();
    os << "alloc b" << n.buffer << "\n";
    visit(n.body);
  }

private:
  void nested(const Stmt &s) {
    ++indent_;
    visit(s);
    --indent_;
  }
  int indent_;
};

} // namespace

std::string printExpr(const Expr &e) {
  Printer p(0);
  p.visit(e);
  return p.os.str();
}

std::string printStmt(const Stmt &s, int indent) {
  Printer p(indent);
  p.visit(s);
  return p.os.str();
}

std::string printKernel(const Kernel &k) {
  std::ostringstream os;
  os << "kernel @" << k.name << "(";
  bool firstParam = true;
  for (size_t i = 0; i < k.buffers.size(); ++i) {
    const BufferDecl &b = k.buffers[i];
    if (b.local)
      continue;
    os << (firstParam ? "" : ", ") << "b" << i << ": " << dtypeName(b.dtype) << "[" << b.size << "]"
       << (b.readOnly ? " in" : " out") << " \"" << b.name << "\"";
    firstParam = false;
  }
  os << ") parallel " << k.parallelExtent << " {\n";
  for (size_t i = 0; i < k.buffers.size(); ++i)
    if (k.buffers[i].local)
      os << "  local b" << i << ": " << dtypeName(k.buffers[i].dtype) << "[" << k.buffers[i].size << "] \""
       << k.buffers[i].name << "\"\n";
  os << printStmt(k.body, 1) << "}\n";
  return os.str();
}

} // namespace kiln::kir
