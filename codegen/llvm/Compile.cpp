// codegen/llvm/Compile.cpp - host target detection, the O3 pipeline, object emission.
//
// The pipeline is the new pass manager's O3 for the host TargetMachine (with
// the TargetMachine the loop vectorizer sees the real vector width), plus
// glibc libmvec mappings in TargetLibraryInfo so vectorized exp/log call
// _ZGV*_expf and friends (the JIT resolves them from libmvec.so.1).
#include "codegen/llvm/EmitLLVM.h"
#include "codegen/llvm/LLVMBackend.h"

#include "ir/Error.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <mutex>

namespace kiln::llvmgen {

namespace {

llvm::orc::JITTargetMachineBuilder hostBuilder() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  KILN_RUNTIME_CHECK(static_cast<bool>(jtmb)) << "llvm: cannot detect the host target: "
                                              << llvm::toString(jtmb.takeError());
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  jtmb->setRelocationModel(llvm::Reloc::PIC_);
  return std::move(*jtmb);
}

/// One TargetMachine per thread (they are not thread-safe).
llvm::TargetMachine &threadMachine() {
  thread_local std::unique_ptr<llvm::TargetMachine> tm;
  if (!tm) {
    auto created = hostBuilder().createTargetMachine();
    KILN_RUNTIME_CHECK(static_cast<bool>(created)) << "llvm: cannot create the host target machine: "
                                                   << llvm::toString(created.takeError());
    tm = std::move(*created);
  }
  return *tm;
}

void optimize(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  llvm::PassBuilder pb(&tm, pto);
  llvm::Triple triple(m.getTargetTriple());
  llvm::TargetLibraryInfoImpl tlii(triple);
  tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

void emitFile(llvm::Module &m, llvm::TargetMachine &tm, llvm::CodeGenFileType type, llvm::raw_pwrite_stream &os) {
  llvm::legacy::PassManager pm;
  KILN_RUNTIME_CHECK(!tm.addPassesToEmitFile(pm, os, nullptr, type)) << "llvm: the host target cannot emit files";
  pm.run(m);
}

} // namespace

const HostTarget &hostTarget() {
  static const HostTarget target = [] {
    llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
    HostTarget t;
    t.triple = jtmb.getTargetTriple().str();
    t.cpu = jtmb.getCPU();
    t.features = jtmb.getFeatures().getString();
    t.avx512 = t.features.find("+avx512f") != std::string::npos;
    t.vectorBytes = t.avx512 ? 64 : (t.features.find("+avx2") != std::string::npos ? 32 : 16);
    return t;
  }();
  return target;
}

ObjectCode compileKernel(const kir::Kernel &k, const std::string &symbol, bool wantText) {
  const HostTarget &target = hostTarget();
  llvm::TargetMachine &tm = threadMachine();
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = emitKernelModule(k, symbol, ctx, target);
  m->setTargetTriple(target.triple);
  m->setDataLayout(tm.createDataLayout());
  std::string err;
  llvm::raw_string_ostream es(err);
  KILN_INTERNAL_CHECK(!llvm::verifyModule(*m, &es)) << "llvm emitter: invalid IR for kernel " << k.name << ": "
                                                    << es.str();
  optimize(*m, tm);
  ObjectCode out;
  if (wantText) {
    llvm::raw_string_ostream irs(out.llvmIR);
    m->print(irs, nullptr);
    std::unique_ptr<llvm::Module> clone = llvm::CloneModule(*m);
    llvm::SmallVector<char, 0> asmBuf;
    llvm::raw_svector_ostream as(asmBuf);
    emitFile(*clone, tm, llvm::CodeGenFileType::AssemblyFile, as);
    out.assembly.assign(asmBuf.begin(), asmBuf.end());
    clone.reset();
  }
  llvm::SmallVector<char, 0> obj;
  llvm::raw_svector_ostream os(obj);
  emitFile(*m, tm, llvm::CodeGenFileType::ObjectFile, os);
  out.object.assign(obj.begin(), obj.end());
  return out;
}

} // namespace kiln::llvmgen
