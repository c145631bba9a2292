// runtime/cpu/Jit.cpp - ORC LLJIT session with libmvec and process symbols.
#include "runtime/cpu/Jit.h"

#include "ir/Error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include <mutex>

namespace kiln::cpu {

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

Jit::Jit() : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto jit = llvm::orc::LLJITBuilder().create();
  KILN_RUNTIME_CHECK(static_cast<bool>(jit)) << "jit: cannot create the LLJIT session: "
                                             << llvm::toString(jit.takeError());
  impl_->jit = std::move(*jit);
  char prefix = impl_->jit->getDataLayout().getGlobalPrefix();
  // Vectorized exp/log/tanh call glibc's vector math library.
  auto mvec = llvm::orc::DynamicLibrarySearchGenerator::Load("libmvec.so.1", prefix);
  if (mvec)
    impl_->jit->getMainJITDylib().addGenerator(std::move(*mvec));
  else
    llvm::consumeError(mvec.takeError());
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
  KILN_RUNTIME_CHECK(static_cast<bool>(process)) << "jit: cannot search process symbols: "
                                                 << llvm::toString(process.takeError());
  impl_->jit->getMainJITDylib().addGenerator(std::move(*process));
}

Jit::~Jit() = default;

void Jit::addObject(const std::vector<char> &object, const std::string &name) {
  auto buf = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), name);
  llvm::Error err = impl_->jit->addObjectFile(std::move(buf));
  KILN_RUNTIME_CHECK(!err) << "jit: cannot add the object of kernel " << name << ": "
                           << llvm::toString(std::move(err));
}

KernelFn Jit::lookup(const std::string &symbol) {
  auto addr = impl_->jit->lookup(symbol);
  KILN_RUNTIME_CHECK(static_cast<bool>(addr)) << "jit: cannot link kernel " << symbol << ": "
                                              << llvm::toString(addr.takeError());
  return addr->toPtr<KernelFn>();
}

} // namespace kiln::cpu
