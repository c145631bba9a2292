// runtime/ThreadPool.h - a fixed pool of worker threads for parallel kernel launches.
//
// One worker per core (the calling thread is one of them). parallelFor splits
// [0, n) into one contiguous chunk per thread and returns when all are done.
// It allocates nothing and takes a plain function pointer plus context, so a
// step's launches cost no heap traffic. Workers spin briefly between jobs
// (launches come back to back within a step) and then sleep.
#ifndef KILN_RUNTIME_THREADPOOL_H
#define KILN_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
public:
  /// fn(ctx, begin, end) processes [begin, end).
  using RangeFn = void (*)(void *ctx, int64_t begin, int64_t end);

  /// `threads` workers in all, counting the caller; 0 = one per hardware thread.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Number of threads that share work (workers + the caller).
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs fn over [0, n) split into at most `maxThreads` chunks (0: size()).
  /// Not reentrant: call it from one thread at a time.
  void parallelFor(int64_t n, RangeFn fn, void *ctx, int maxThreads = 0);

private:
  void workerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  bool stop_ = false;
  // The current job (written before generation_ is bumped).
  RangeFn fn_ = nullptr;
  void *ctx_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 0;
};

} // namespace kiln

#endif // KILN_RUNTIME_THREADPOOL_H
