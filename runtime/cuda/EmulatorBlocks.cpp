// runtime/cuda/EmulatorBlocks.cpp - a grid's blocks on the host: threads as fibers, barriers, shuffles.
//
// Blocks run one after another, the last first (Order::Reverse: the first
// first), on the launching OS thread. A kernel that neither synchronizes nor
// shuffles runs each thread as a plain call. Any other runs every thread of a
// block on its own fiber (one mmap'ed stack with a guard page each): the
// scheduler resumes every runnable fiber in thread order (reverse: from the
// last thread), each runs until it finishes or waits at __syncthreads or at a
// shuffle's warp barrier, and then the barriers whose threads have all
// arrived are released. A barrier that cannot be released (threads that
// exited, or wait at another barrier) ends the launch with an error naming
// the kernel, the block and who waits where. Shared memory is the kernel's
// `static thread_local` arrays (see EmulatorImage.cpp), so it is shared by
// the fibers of a block and private to the OS thread.
#include "runtime/cuda/Emulator.h"

#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <atomic>
#include <cstdlib>
#include <memory>
#include <sstream>

#if defined(__SANITIZE_ADDRESS__)
#define KILN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_EMU_ASAN 1
#endif
#endif
#if KILN_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace kiln::cuda::emulator {

namespace {

enum class At : unsigned char { Runnable, BlockBarrier, WarpBarrier, Done };

constexpr size_t kStackBytes = 256 * 1024;

// A fiber's saved registers. On x86-64 a switch saves the callee-saved
// registers and the FP control words on the old stack and pops them from
// the new one (no system call, unlike swapcontext's signal mask); elsewhere
// ucontext does it.
#if defined(__x86_64__)
extern "C" void kiln_emu_switch(void **saveSp, void *loadSp);
asm(R"(
  .pushsection .text
  .p2align 4
  .globl kiln_emu_switch
  .hidden kiln_emu_switch
  .type kiln_emu_switch, @function
kiln_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kiln_emu_switch, .-kiln_emu_switch
  .popsection
)");

struct Context {
  void *sp = nullptr;
};

/// A context that starts `entry` (which must never return) on the stack [bottom, bottom + size).
void prepare(Context &c, void *bottom, size_t size, void (*entry)()) {
  auto top = (reinterpret_cast<uintptr_t>(bottom) + size) & ~uintptr_t{15};
  auto *frame = reinterpret_cast<uint64_t *>(top - 72); // 8 mod 16 at entry, as after a call
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fpucw));
  frame[0] = mxcsr | uint64_t{fpucw} << 32;
  for (int i = 1; i <= 6; ++i) // r15, r14, r13, r12, rbx, rbp
    frame[i] = 0;
  frame[7] = reinterpret_cast<uint64_t>(entry); // where the first switch returns to
  frame[8] = 0;                                 // entry's (never used) return address
  c.sp = frame;
}
void jump(Context &from, const Context &to) { kiln_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void prepare(Context &c, void *bottom, size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = bottom;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void jump(Context &from, Context &to) { swapcontext(&from.uc, &to.uc); }
#endif

/// One fiber's stack: mmap'ed with an inaccessible guard page below it.
class Stack {
public:
  Stack() {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    base_ = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      return;
    }
    mprotect(base_, page, PROT_NONE);
    bottom_ = static_cast<char *>(base_) + page;
    mapped_ = kStackBytes + page;
  }
  ~Stack() {
    if (base_)
      munmap(base_, mapped_);
  }
  Stack(const Stack &) = delete;
  Stack &operator=(const Stack &) = delete;
  bool ok() const { return base_ != nullptr; }
  void *bottom() const { return bottom_; }

private:
  void *base_ = nullptr, *bottom_ = nullptr;
  size_t mapped_ = 0;
};

class Scheduler {
public:
  std::string run(const Function &f, const unsigned grid[3], const unsigned block[3], void **params, Order order) {
    fn_ = &f;
    reverse_ = order == Order::Reverse;
    params_ = params;
    error_.clear();
    threads_ = block[0] * block[1] * block[2];
    state_.assign(threads_, At::Runnable);
    exchange_.assign(threads_ * 8, 0);
    thread_.resize(threads_);
    Dim blockDim{block[0], block[1], block[2]}, gridDim{grid[0], grid[1], grid[2]};
    for (unsigned i = 0; i < threads_; ++i) {
      ThreadState &t = thread_[i];
      t.threadIdx = {i % block[0], i / block[0] % block[1], i / (block[0] * block[1])};
      t.blockDim = blockDim;
      t.gridDim = gridDim;
      t.linear = i;
      t.exchange = exchange_.data();
    }
    fibers_ = f.kernel.synchronizes != 0;
    if (fibers_ && !makeStacks())
      return "cannot map " + std::to_string(threads_) + " fiber stacks";
    ThreadState **current = f.current;
    ThreadState *saved = *current;
    // A GPU runs blocks in no set order: the last first (forward) shows a block
    // that reads what a later block writes (two members of a launch group whose
    // buffers share memory) as wrong values, the first first (reverse) one that
    // reads what an earlier block writes.
    const uint64_t blocks = uint64_t{grid[0]} * grid[1] * grid[2];
    for (uint64_t b = 0; b < blocks && error_.empty(); ++b) {
      uint64_t n = reverse_ ? b : blocks - 1 - b;
      Dim at{static_cast<unsigned>(n % grid[0]), static_cast<unsigned>(n / grid[0] % grid[1]),
             static_cast<unsigned>(n / (uint64_t{grid[0]} * grid[1]))};
      for (ThreadState &t : thread_)
        t.blockIdx = at;
      if (fibers_)
        runFibers();
      else
        for (unsigned k = 0; k < threads_; ++k) {
          *current = &thread_[threadAt(k)];
          f.kernel.entry(params);
        }
    }
    *current = saved;
    return error_;
  }

  void wait(At at) {
    if (!fibers_) {
      if (error_.empty())
        error_ = std::string("kernel ") + fn_->kernel.name + " synchronizes but was run without fibers";
      return;
    }
    unsigned me = running_;
    state_[me] = at;
    toScheduler(me);
  }

private:
  /// The thread run k-th: thread order, or from the last thread (reverse).
  unsigned threadAt(unsigned k) const { return reverse_ ? threads_ - 1 - k : k; }

  bool makeStacks() {
    while (stacks_.size() < threads_) {
      auto s = std::make_unique<Stack>();
      if (!s->ok())
        return false;
      stacks_.push_back(std::move(s));
    }
    ctx_.resize(threads_);
    fake_.resize(stacks_.size(), nullptr);
    return true;
  }

  void runFibers() {
    for (unsigned i = 0; i < threads_; ++i) {
      state_[i] = At::Runnable;
      prepare(ctx_[i], stacks_[i]->bottom(), kStackBytes, &Scheduler::fiberMain);
    }
    while (true) {
      for (unsigned k = 0; k < threads_; ++k)
        if (unsigned i = threadAt(k); state_[i] == At::Runnable)
          toFiber(i);
      if (!release())
        return;
    }
  }

  /// Releases every barrier whose threads have all arrived; false when the
  /// block is done or stuck (error_ says why).
  bool release() {
    bool released = false, allDone = true;
    for (unsigned w = 0; w < threads_; w += 32) {
      unsigned end = std::min(threads_, w + 32), atWarp = 0, done = 0;
      for (unsigned i = w; i < end; ++i)
        atWarp += state_[i] == At::WarpBarrier, done += state_[i] == At::Done;
      if (atWarp && atWarp + done == end - w && done == 0) {
        for (unsigned i = w; i < end; ++i)
          state_[i] = At::Runnable;
        released = true;
      }
    }
    unsigned atBlock = 0, done = 0;
    for (At s : state_)
      atBlock += s == At::BlockBarrier, done += s == At::Done, allDone &= s == At::Done;
    if (allDone)
      return false;
    if (released)
      return true;
    if (atBlock == threads_) {
      for (At &s : state_)
        s = At::Runnable;
      return true;
    }
    std::ostringstream os;
    const Dim &b = thread_[0].blockIdx;
    os << "kernel " << fn_->kernel.name << ", block (" << b.x << "," << b.y << "," << b.z << "): of " << threads_
       << " threads " << atBlock << " wait at __syncthreads, " << threads_ - atBlock - done
       << " at a warp shuffle, " << done << " have exited; no barrier can complete (undefined on a GPU)";
    error_ = os.str();
    return false;
  }

  static void fiberMain() {
    Scheduler &s = *self_;
    s.arrived(s.running_);
    s.fn_->kernel.entry(s.params_);
    s.state_[s.running_] = At::Done;
    s.toScheduler(s.running_); // never resumed
  }

  void toFiber(unsigned i) {
    running_ = i;
    *fn_->current = &thread_[i];
#if KILN_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, stacks_[i]->bottom(), kStackBytes);
    jump(main_, ctx_[i]);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    jump(main_, ctx_[i]);
#endif
  }

  void toScheduler(unsigned me) {
#if KILN_EMU_ASAN
    // A finished fiber's fake stack (detect_stack_use_after_return) is kept for
    // the next fiber on the same stack: ASan maps a new one for each fiber that
    // starts without one and unmaps it when told the fiber ended, three system
    // calls and a shadow reset per thread of every block.
    __sanitizer_start_switch_fiber(&fake_[me], mainBottom_, mainSize_);
    jump(ctx_[me], main_);
    arrived(me);
#else
    jump(ctx_[me], main_);
#endif
  }

  /// On a fiber, just switched to: tells ASan, learns the scheduler's stack.
  void arrived([[maybe_unused]] unsigned me) {
#if KILN_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake_[me], &mainBottom_, &mainSize_);
#endif
  }

public:
  static thread_local Scheduler *self_;

private:
  const Function *fn_ = nullptr;
  void **params_ = nullptr;
  unsigned threads_ = 0, running_ = 0;
  bool fibers_ = false, reverse_ = false;
  std::string error_;
  std::vector<At> state_;
  std::vector<unsigned long long> exchange_;
  std::vector<ThreadState> thread_;
  std::vector<std::unique_ptr<Stack>> stacks_;
  std::vector<Context> ctx_;
  std::vector<void *> fake_;
  Context main_{};
  const void *mainBottom_ = nullptr;
  size_t mainSize_ = 0;
};

thread_local Scheduler *Scheduler::self_ = nullptr;

Scheduler &scheduler() {
  thread_local Scheduler s;
  Scheduler::self_ = &s;
  return s;
}

void syncthreadsHook() { Scheduler::self_->wait(At::BlockBarrier); }
void syncwarpHook() { Scheduler::self_->wait(At::WarpBarrier); }

thread_local unsigned long long gridWaits = 0; // threads of the running launch that waited for the grid
void gridwaitHook() { ++gridWaits; }

std::atomic<int> orderSet{-1}; // an Order, or -1: KILN_CUDA_EMULATOR_ORDER's

/// The order set, else KILN_CUDA_EMULATOR_ORDER's; "" or why that names none.
std::string currentOrder(Order *order) {
  if (int o = orderSet.load(); o >= 0) {
    *order = static_cast<Order>(o);
    return "";
  }
  const char *e = std::getenv("KILN_CUDA_EMULATOR_ORDER");
  std::string name = e ? e : "";
  *order = name == "reverse" ? Order::Reverse : Order::Forward;
  if (name.empty() || name == "forward" || name == "reverse")
    return "";
  return "KILN_CUDA_EMULATOR_ORDER='" + name + "' names no order of blocks and threads (forward or reverse)";
}

} // namespace

void setOrder(std::optional<Order> order) { orderSet.store(order ? static_cast<int>(*order) : -1); }

const HostHooks &hostHooks() {
  static const HostHooks h{&syncthreadsHook, &syncwarpHook, &gridwaitHook};
  return h;
}

std::string launch(const Function &f, const unsigned grid[3], const unsigned block[3], void **params,
                   bool programmatic) {
  gridWaits = 0;
  Order order = Order::Forward;
  if (std::string why = currentOrder(&order); !why.empty())
    return why;
  std::string why = scheduler().run(f, grid, block, params, order);
  const unsigned long long threads = 1ull * grid[0] * grid[1] * grid[2] * block[0] * block[1] * block[2];
  if (!why.empty() || !programmatic || gridWaits >= threads)
    return why;
  std::ostringstream os;
  os << f.kernel.name << ": launched as a programmatic dependent of the kernel before it, but "
     << threads - gridWaits << " of its " << threads
     << " threads never waited for that kernel (griddepcontrol.wait, kiln_pdl_enter) and may read what it has "
        "not written yet";
  return os.str();
}

} // namespace kiln::cuda::emulator
