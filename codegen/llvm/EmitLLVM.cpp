// codegen/llvm/EmitLLVM.cpp - the LLVM IR emitter: one kernel IR tree, one function.
//
// Loops become plain counted loops that LLVM's O3 pipeline vectorizes; Unrolled
// loops are unrolled here so register-tile indices are constants before SROA;
// local buffers are entry-block allocas (promoted to registers). Float adds
// and multiplies carry `contract` (FMA); updates of local accumulators also
// carry `reassoc` so reductions vectorize. Semantics of each primitive follow
// ir/Formula.cpp's evalFormula exactly (NaN-propagating max, x / 0 = 0 on ints).
#include "codegen/llvm/EmitLLVM.h"

#include "ir/Error.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <unordered_map>

namespace kiln::llvmgen {

namespace {

using namespace kir;

class Emitter {
public:
  Emitter(const Kernel &k, llvm::LLVMContext &ctx, llvm::Module &m) : k_(k), ctx_(ctx), mod_(m), b_(ctx) {}

  llvm::Function *emitBody(const HostTarget &target) {
    std::vector<llvm::Type *> params(k_.numParams, llvm::PointerType::getUnqual(ctx_));
    params.push_back(b_.getInt64Ty());
    params.push_back(b_.getInt64Ty());
    auto *fty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    fn_ = llvm::Function::Create(fty, llvm::Function::InternalLinkage, k_.name + ".body", mod_);
    setTargetAttrs(fn_, target);
    std::vector<int> paramIds;
    for (size_t i = 0; i < k_.buffers.size(); ++i)
      if (!k_.buffers[i].local)
        paramIds.push_back(static_cast<int>(i));
    for (int i = 0; i < k_.numParams; ++i) {
      const BufferDecl &d = k_.buffers[paramIds[i]];
      uint64_t bytes = static_cast<uint64_t>(d.size) * dtypeSize(d.dtype);
      fn_->addParamAttr(i, llvm::Attribute::NoAlias);
      fn_->addParamAttr(i, llvm::Attribute::NoCapture);
      fn_->addParamAttr(i, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
      if (bytes)
        fn_->addParamAttr(i, llvm::Attribute::getWithDereferenceableBytes(ctx_, bytes));
      if (d.readOnly)
        fn_->addParamAttr(i, llvm::Attribute::ReadOnly);
    }
    auto *entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
    b_.SetInsertPoint(entry);
    bufs_.resize(k_.buffers.size());
    for (int i = 0; i < k_.numParams; ++i)
      bufs_[paramIds[i]] = fn_->getArg(i);
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const BufferDecl &d = k_.buffers[i];
      if (!d.local)
        continue;
      auto *ty = llvm::ArrayType::get(memType(d.dtype), static_cast<uint64_t>(d.size));
      auto *a = b_.CreateAlloca(ty, nullptr, d.name);
      a->setAlignment(llvm::Align(64));
      bufs_[i] = a;
    }
    begin_ = fn_->getArg(k_.numParams);
    end_ = fn_->getArg(k_.numParams + 1);
    emit(k_.body);
    b_.CreateRetVoid();
    return fn_;
  }

  static void setTargetAttrs(llvm::Function *f, const HostTarget &t) {
    f->addFnAttr("target-cpu", t.cpu);
    f->addFnAttr("target-features", t.features);
    if (t.avx512)
      f->addFnAttr("prefer-vector-width", "512");
    f->addFnAttr(llvm::Attribute::NoUnwind);
  }

private:
  llvm::Type *scalarType(DType t) {
    switch (t) {
    case DType::F32: return b_.getFloatTy();
    case DType::F64: return b_.getDoubleTy();
    case DType::I32: return b_.getInt32Ty();
    case DType::I64: return b_.getInt64Ty();
    case DType::U8: return b_.getInt8Ty();
    case DType::Bool: return b_.getInt1Ty();
    }
    return nullptr;
  }
  llvm::Type *memType(DType t) { return t == DType::Bool ? b_.getInt8Ty() : scalarType(t); }
  llvm::Type *typeOf(Type t) {
    llvm::Type *s = scalarType(t.dtype);
    return t.lanes > 1 ? llvm::FixedVectorType::get(s, t.lanes) : s;
  }
  llvm::Type *memTypeOf(Type t) {
    llvm::Type *s = memType(t.dtype);
    return t.lanes > 1 ? llvm::FixedVectorType::get(s, t.lanes) : s;
  }

  // ---- Statements -------------------------------------------------------------
  void emit(const Stmt &s) {
    if (!s)
      return;
    cache_.clear();
    switch (s->kind) {
    case StmtKind::Block:
      for (const Stmt &x : as<Block>(s)->stmts)
        emit(x);
      return;
    case StmtKind::For: return emitFor(*as<For>(s));
    case StmtKind::Store: return emitStore(*as<Store>(s));
    case StmtKind::IfThen: return emitIf(*as<IfThen>(s));
    case StmtKind::LetStmt: {
      const LetStmt &l = *as<LetStmt>(s);
      vars_[l.var.get()] = expr(l.value);
      return emit(l.body);
    }
    case StmtKind::Alloc: return emit(as<Alloc>(s)->body);
    }
  }

  void emitFor(const For &f) {
    int64_t extent = 0, begin = 0;
    if (f.forKind == ForKind::Unrolled) {
      KILN_INTERNAL_CHECK(isConstInt(f.extent, &extent) && isConstInt(f.begin, &begin))
          << "llvm emitter: unrolled loop without constant bounds";
      for (int64_t i = 0; i < extent; ++i) {
        vars_[f.var.get()] = b_.getInt64(begin + i);
        emit(f.body);
      }
      return;
    }
    llvm::Value *lo = nullptr, *hi = nullptr;
    if (f.forKind == ForKind::Parallel) {
      lo = begin_;
      hi = end_;
    } else {
      lo = expr(f.begin);
      hi = b_.CreateAdd(lo, expr(f.extent));
    }
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *header = llvm::BasicBlock::Create(ctx_, "loop", fn_);
    auto *body = llvm::BasicBlock::Create(ctx_, "body", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "exit", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode *iv = b_.CreatePHI(b_.getInt64Ty(), 2, as<Var>(f.var)->name);
    iv->addIncoming(lo, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), body, exit);
    b_.SetInsertPoint(body);
    vars_[f.var.get()] = iv;
    emit(f.body);
    llvm::Value *next = b_.CreateAdd(iv, b_.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
    iv->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst *back = b_.CreateBr(header);
    if (hasInnerLoop(f.body) || f.forKind == ForKind::Scalar) {
      // Only innermost loops are meant to vectorize: once LLVM fully unrolls
      // a short inner loop (a pooling window, a 24-wide row), vectorizing the
      // outer one turns every access into gathers and scatters. A Scalar
      // loop also stays rolled, so the SLP vectorizer cannot gather either.
      std::vector<llvm::Metadata *> md{nullptr, llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.vectorize.enable"),
                                                                        llvm::ConstantAsMetadata::get(b_.getFalse())})};
      if (f.forKind == ForKind::Scalar)
        md.push_back(llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")}));
      llvm::MDNode *loop = llvm::MDNode::getDistinct(ctx_, md);
      loop->replaceOperandWith(0, loop);
      back->setMetadata(llvm::LLVMContext::MD_loop, loop);
    }
    b_.SetInsertPoint(exit);
  }

  static bool hasInnerLoop(const Stmt &s) {
    struct Finder : Visitor {
      bool found = false;
      void visitFor(const For &) override { found = true; }
    } f;
    f.visit(s);
    return f.found;
  }

  void emitIf(const IfThen &s) {
    llvm::Value *c = expr(s.cond);
    auto *then = llvm::BasicBlock::Create(ctx_, "then", fn_);
    auto *other = s.otherwise ? llvm::BasicBlock::Create(ctx_, "else", fn_) : nullptr;
    auto *merge = llvm::BasicBlock::Create(ctx_, "endif", fn_);
    b_.CreateCondBr(c, then, other ? other : merge);
    b_.SetInsertPoint(then);
    emit(s.then);
    b_.CreateBr(merge);
    if (other) {
      b_.SetInsertPoint(other);
      emit(s.otherwise);
      b_.CreateBr(merge);
    }
    b_.SetInsertPoint(merge);
  }

  void emitStore(const Store &s) {
    const BufferDecl &d = k_.buffers.at(s.buffer);
    reassoc_ = d.local;
    llvm::Value *v = expr(s.value);
    reassoc_ = false;
    if (s.value->type.dtype == DType::Bool)
      v = b_.CreateZExt(v, memTypeOf(s.value->type));
    llvm::Value *p = b_.CreateGEP(memType(d.dtype), bufs_[s.buffer], expr(s.index));
    b_.CreateAlignedStore(v, p, llvm::Align(dtypeSize(d.dtype)));
  }

  // ---- Expressions ------------------------------------------------------------
  llvm::Value *expr(const Expr &e) {
    if (auto it = cache_.find(e.get()); it != cache_.end())
      return it->second;
    llvm::Value *v = exprUncached(e);
    cache_[e.get()] = v;
    return v;
  }

  llvm::FastMathFlags flags() {
    llvm::FastMathFlags f;
    f.setAllowContract(true);
    if (reassoc_)
      f.setAllowReassoc(true);
    return f;
  }

  llvm::Value *exprUncached(const Expr &e) {
    switch (e->kind) {
    case ExprKind::IntImm: return llvm::ConstantInt::get(scalarType(e->type.dtype), as<IntImm>(e)->value, true);
    case ExprKind::FloatImm: return llvm::ConstantFP::get(scalarType(e->type.dtype), as<FloatImm>(e)->value);
    case ExprKind::Var: {
      auto it = vars_.find(e.get());
      KILN_INTERNAL_CHECK(it != vars_.end()) << "llvm emitter: variable " << as<Var>(e)->name << " out of scope";
      return it->second;
    }
    case ExprKind::Load: {
      const Load &l = *as<Load>(e);
      const BufferDecl &d = k_.buffers.at(l.buffer);
      llvm::Value *p = b_.CreateGEP(memType(d.dtype), bufs_[l.buffer], expr(l.index));
      llvm::Value *v = b_.CreateAlignedLoad(memTypeOf(l.type), p, llvm::Align(dtypeSize(d.dtype)));
      if (l.type.dtype == DType::Bool)
        v = b_.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
      return v;
    }
    case ExprKind::Unary: return unaryOp(*as<Unary>(e));
    case ExprKind::Binary: return binaryOp(*as<Binary>(e));
    case ExprKind::Select: {
      const Select &s = *as<Select>(e);
      return b_.CreateSelect(expr(s.c), expr(s.a), expr(s.b));
    }
    case ExprKind::Cast: return castOp(expr(as<Cast>(e)->a), as<Cast>(e)->a->type, e->type);
    case ExprKind::Splat: return b_.CreateVectorSplat(e->type.lanes, expr(as<Splat>(e)->a));
    case ExprKind::Random: return randomOp(*as<Random>(e));
    case ExprKind::HReduce: {
      const HReduce &h = *as<HReduce>(e);
      llvm::Value *v = expr(h.a);
      bool fp = isFloat(h.type.dtype);
      if (h.op == ReduceOp::Add) {
        if (!fp)
          return b_.CreateAddReduce(v);
        auto *r = b_.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(scalarType(h.type.dtype)), v);
        llvm::cast<llvm::Instruction>(r)->setFast(true);
        return r;
      }
      return fp ? b_.CreateFPMaxReduce(v) : b_.CreateIntMaxReduce(v, true);
    }
    }
    return nullptr;
  }

  llvm::Value *unaryOp(const Unary &u) {
    llvm::Value *a = expr(u.a);
    bool fp = isFloat(u.type.dtype);
    auto intrinsic = [&](llvm::Intrinsic::ID id) { return b_.CreateUnaryIntrinsic(id, a); };
    switch (u.op) {
    case UnOp::Neg: return fp ? b_.CreateFNeg(a) : b_.CreateNeg(a);
    case UnOp::Exp: return intrinsic(llvm::Intrinsic::exp);
    case UnOp::Log: return intrinsic(llvm::Intrinsic::log);
    case UnOp::Sqrt: return intrinsic(llvm::Intrinsic::sqrt);
    case UnOp::Tanh: return intrinsic(llvm::Intrinsic::tanh);
    case UnOp::Abs:
      if (fp)
        return intrinsic(llvm::Intrinsic::fabs);
      return b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, a, b_.getFalse());
    }
    return nullptr;
  }

  llvm::Value *binaryOp(const Binary &n) {
    llvm::Value *a = expr(n.a), *b = expr(n.b);
    DType t = n.a->type.dtype;
    bool fp = isFloat(t), uns = t == DType::U8 || t == DType::Bool;
    if (fp) {
      llvm::IRBuilder<>::FastMathFlagGuard guard(b_);
      b_.setFastMathFlags(flags());
      switch (n.op) {
      case BinOp::Add: return b_.CreateFAdd(a, b);
      case BinOp::Sub: return b_.CreateFSub(a, b);
      case BinOp::Mul: return b_.CreateFMul(a, b);
      case BinOp::Div: return b_.CreateFDiv(a, b);
      case BinOp::Mod: return b_.CreateFRem(a, b);
      case BinOp::Max:
      case BinOp::Min: {
        // a > b || isnan(a) ? a : b (min: a < b), as evalFormula defines it.
        b_.clearFastMathFlags();
        llvm::Value *cmp = n.op == BinOp::Max ? b_.CreateFCmpOGT(a, b) : b_.CreateFCmpOLT(a, b);
        return b_.CreateSelect(b_.CreateOr(cmp, b_.CreateFCmpUNO(a, a)), a, b);
      }
      case BinOp::Lt: return b_.CreateFCmpOLT(a, b);
      case BinOp::Le: return b_.CreateFCmpOLE(a, b);
      case BinOp::Eq: return b_.CreateFCmpOEQ(a, b);
      default: break;
      }
      KILN_INTERNAL_ERROR() << "llvm emitter: " << binOpName(n.op) << " on floats";
    }
    switch (n.op) {
    case BinOp::Add: return b_.CreateAdd(a, b);
    case BinOp::Sub: return b_.CreateSub(a, b);
    case BinOp::Mul: return b_.CreateMul(a, b);
    case BinOp::Div:
    case BinOp::Mod: {
      bool isDiv = n.op == BinOp::Div;
      auto *cb = llvm::dyn_cast<llvm::ConstantInt>(b);
      if (cb && !cb->isZero() && !(cb->isMinusOne() && !uns))
        return isDiv ? (uns ? b_.CreateUDiv(a, b) : b_.CreateSDiv(a, b)) : (uns ? b_.CreateURem(a, b) : b_.CreateSRem(a, b));
      // Integer division by zero yields 0 (as the formulas define); guard the divisor.
      llvm::Value *zero = llvm::Constant::getNullValue(b->getType());
      llvm::Value *isZero = b_.CreateICmpEQ(b, zero);
      llvm::Value *safe = b_.CreateSelect(isZero, llvm::ConstantInt::get(b->getType(), 1), b);
      llvm::Value *q = isDiv ? (uns ? b_.CreateUDiv(a, safe) : b_.CreateSDiv(a, safe))
                             : (uns ? b_.CreateURem(a, safe) : b_.CreateSRem(a, safe));
      return b_.CreateSelect(isZero, zero, q);
    }
    case BinOp::Max: return b_.CreateSelect(uns ? b_.CreateICmpUGT(a, b) : b_.CreateICmpSGT(a, b), a, b);
    case BinOp::Min: return b_.CreateSelect(uns ? b_.CreateICmpULT(a, b) : b_.CreateICmpSLT(a, b), a, b);
    case BinOp::Lt: return uns ? b_.CreateICmpULT(a, b) : b_.CreateICmpSLT(a, b);
    case BinOp::Le: return uns ? b_.CreateICmpULE(a, b) : b_.CreateICmpSLE(a, b);
    case BinOp::Eq: return b_.CreateICmpEQ(a, b);
    case BinOp::And: return b_.CreateAnd(a, b);
    case BinOp::Or: return b_.CreateOr(a, b);
    }
    return nullptr;
  }

  llvm::Value *castOp(llvm::Value *v, Type from, Type to) {
    DType f = from.dtype, t = to.dtype;
    llvm::Type *ty = typeOf(to);
    if (f == t)
      return v;
    bool fFloat = isFloat(f), tFloat = isFloat(t), fUns = f == DType::U8 || f == DType::Bool;
    if (t == DType::Bool)
      return fFloat ? b_.CreateFCmpUNE(v, llvm::Constant::getNullValue(v->getType()))
                    : b_.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
    if (fFloat && tFloat)
      return b_.CreateFPCast(v, ty);
    if (fFloat) {
      // Through i64, then wrap, like evalFormula's representAs.
      llvm::Type *i64 = typeOf({DType::I64, to.lanes});
      return b_.CreateTrunc(b_.CreateFPToSI(v, i64), ty);
    }
    if (tFloat)
      return fUns ? b_.CreateUIToFP(v, ty) : b_.CreateSIToFP(v, ty);
    return b_.CreateIntCast(v, ty, !fUns);
  }

  llvm::Value *mix64(llvm::Value *z) {
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 30)), b_.getInt64(0xbf58476d1ce4e5b9ULL));
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 27)), b_.getInt64(0x94d049bb133111ebULL));
    return b_.CreateXor(z, b_.CreateLShr(z, 31));
  }

  llvm::Value *randomOp(const Random &r) {
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    llvm::Value *z = mix64(b_.CreateAdd(b_.getInt64(static_cast<uint64_t>(r.seed) * golden), expr(r.key)));
    z = mix64(b_.CreateAdd(z, b_.CreateMul(expr(r.index), b_.getInt64(golden))));
    llvm::Value *f = b_.CreateUIToFP(b_.CreateLShr(z, 40), b_.getFloatTy());
    return b_.CreateFMul(f, llvm::ConstantFP::get(b_.getFloatTy(), 1.0 / 16777216.0));
  }

  const Kernel &k_;
  llvm::LLVMContext &ctx_;
  llvm::Module &mod_;
  llvm::IRBuilder<> b_;
  llvm::Function *fn_ = nullptr;
  llvm::Value *begin_ = nullptr, *end_ = nullptr;
  std::vector<llvm::Value *> bufs_;
  std::unordered_map<const ExprNode *, llvm::Value *> vars_, cache_;
  bool reassoc_ = false;
};

/// Checks the parallel-loop contract: at most one, and only as the whole body.
void checkParallel(const Kernel &k) {
  struct Counter : Visitor {
    int n = 0;
    void visitFor(const For &f) override {
      n += f.forKind == ForKind::Parallel;
      Visitor::visitFor(f);
    }
  } c;
  c.visit(k.body);
  const For *top = as<For>(k.body);
  bool topParallel = top && top->forKind == ForKind::Parallel;
  KILN_INTERNAL_CHECK(c.n == 0 || (c.n == 1 && topParallel))
      << "llvm emitter: kernel " << k.name << " has a parallel loop that is not its whole body";
}

} // namespace

std::unique_ptr<llvm::Module> emitKernelModule(const Kernel &k, const std::string &symbol, llvm::LLVMContext &ctx,
                                               const HostTarget &target) {
  checkParallel(k);
  auto mod = std::make_unique<llvm::Module>(symbol, ctx);
  Emitter em(k, ctx, *mod);
  llvm::Function *body = em.emitBody(target);
  // The entry point: unpack the buffer array and call the body.
  llvm::IRBuilder<> b(ctx);
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  auto *fty = llvm::FunctionType::get(b.getVoidTy(), {ptrTy, b.getInt64Ty(), b.getInt64Ty()}, false);
  auto *fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, symbol, *mod);
  Emitter::setTargetAttrs(fn, target);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  std::vector<llvm::Value *> args;
  for (int i = 0; i < k.numParams; ++i)
    args.push_back(b.CreateAlignedLoad(ptrTy, b.CreateConstGEP1_64(ptrTy, fn->getArg(0), i), llvm::Align(8)));
  args.push_back(fn->getArg(1));
  args.push_back(fn->getArg(2));
  b.CreateCall(body, args);
  b.CreateRetVoid();
  return mod;
}

} // namespace kiln::llvmgen
