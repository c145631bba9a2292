// tests/alloc/StepAllocationTest.cpp - a compiled step allocates nothing when it runs.
//
// This file replaces every global operator new and delete of its own test
// binary (kiln_alloc_tests, so no other test runs with them) with ones that
// count allocations (on any thread) while a flag is up, then runs the
// fused report CNN train step on the cpu backend: compiling allocates, every
// run() after the first must not (arena, argument arrays and the thread pool
// are set up once).
#include "ir/Parser.h"
#include "passes/Pass.h"
#include "runtime/Backends.h"
#include "runtime/Executable.h"
#include "tests/support/BackendCheck.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void *allocate(std::size_t n, std::size_t align) {
  if (counting.load(std::memory_order_relaxed))
    allocations.fetch_add(1, std::memory_order_relaxed);
  n = n ? n : 1;
  void *p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n);
  if (!p)
    throw std::bad_alloc();
  return p;
}

void *allocateNoThrow(std::size_t n, std::size_t align) noexcept {
  try {
    return allocate(n, align);
  } catch (const std::bad_alloc &) {
    return nullptr;
  }
}
} // namespace

void *operator new(std::size_t n) { return allocate(n, 0); }
void *operator new[](std::size_t n) { return allocate(n, 0); }
void *operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void *operator new[](std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return allocateNoThrow(n, 0); }
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return allocateNoThrow(n, 0); }
void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return allocateNoThrow(n, static_cast<std::size_t>(a));
}
void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return allocateNoThrow(n, static_cast<std::size_t>(a));
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { std::free(p); }

namespace kiln::test {
namespace {

class StepAllocation : public ::testing::TestWithParam<int> {};

TEST_P(StepAllocation, RunAllocatesNothing) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  std::unique_ptr<Graph> g = parseGraphFile(std::string(KILN_SOURCE_DIR) + "/examples/mnist/train_step.kir");
  fuseFor(*g, "cpu");
  CompileOptions opt;
  opt.backend = "cpu";
  opt.threads = GetParam();
  std::unique_ptr<Executable> exe = compile(*g, opt);
  TensorMap env = randomEnvironment(*g, 3);
  env["lr"] = HostTensor::scalar(DType::F32, 1.0);
  for (auto &[name, t] : env)
    exe->set(name, t);
  exe->run();

  // The counter itself works: a plain allocation while counting is seen.
  allocations = 0;
  counting = true;
  int *volatile probe = new int(1); // volatile: the pair may not be elided
  delete probe;
  counting = false;
  ASSERT_EQ(allocations.load(), 1);

  allocations = 0;
  counting = true;
  for (int i = 0; i < 3; ++i)
    exe->run();
  counting = false;
  EXPECT_EQ(allocations.load(), 0) << "heap allocations during 3 runs of the train step";
}

INSTANTIATE_TEST_SUITE_P(Threads, StepAllocation, ::testing::Values(1, 2));

} // namespace
} // namespace kiln::test
