// The thread pool behind parallel_region; see parallel.h.
#include "engine/parallel.h"

#include <cblas.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dg {

namespace {

// About 20-50 microseconds of polling before a worker (or the waiting caller) goes to sleep:
// consecutive ops of a training step arrive well within that, an idle program stops burning CPU
// almost at once.
constexpr int kSpinIterations = 4000;

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

thread_local bool t_in_region = false;

int threads_from_environment() {
  for (const char* name : {"DG_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }

  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs the job on `threads` threads (the caller is thread 0), or on the caller alone when
  // another caller holds the pool.
  void run(int threads, const std::function<void(int, int)>& body) {
    std::unique_lock submit(submit_mutex_, std::try_to_lock);
    if (!submit.owns_lock() || threads <= 1) {
      body(0, 1);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      job_ = &body;
      job_threads_ = threads;
      error_ = nullptr;
      remaining_.store(threads - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    try {
      body(0, threads);
    } catch (...) {
      record_error();
    }
    wait_for_workers();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int index) {
    t_in_region = true;  // a region started by a job runs serially on this worker
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpinIterations && generation_.load(std::memory_order_acquire) == seen; ++i)
        cpu_relax();
      const std::function<void(int, int)>* job;
      int threads;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_acquire);
        job = job_;
        threads = job_threads_;
      }
      if (index >= threads) continue;
      try {
        (*job)(index, threads);
      } catch (...) {
        record_error();
      }
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void wait_for_workers() {
    for (int i = 0; i < kSpinIterations && remaining_.load(std::memory_order_acquire) != 0; ++i)
      cpu_relax();
    if (remaining_.load(std::memory_order_acquire) == 0) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
  }

  void record_error() {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }

  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job at a time
  std::mutex mutex_;         // guards job_, job_threads_, stop_ and the condition variables
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  bool stop_ = false;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

struct PoolState {
  // OpenBLAS runs on its caller's thread only: the engine splits GEMMs over its own pool
  // (engine/cpu/blas.h), so BLAS's pthreads never compete with it for the cores.
  PoolState() { openblas_set_num_threads(1); }

  std::mutex mutex;
  int threads = threads_from_environment();
  std::unique_ptr<ThreadPool> pool;
};

PoolState& state() {
  static PoolState* s = new PoolState();  // never destroyed: workers must outlive static tensors
  return *s;
}

ThreadPool& pool() {
  PoolState& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.pool) s.pool = std::make_unique<ThreadPool>(s.threads);
  return *s.pool;
}

}  // namespace

int num_threads() { return state().threads; }

void set_num_threads(int n) {
  PoolState& s = state();
  n = n < 1 ? 1 : n;
  {
    std::lock_guard lock(s.mutex);
    s.threads = n;
    if (s.pool && s.pool->size() < n) s.pool.reset();  // rebuilt larger on next use
  }
}

void parallel_region(int threads, const std::function<void(int, int)>& body) {
  threads = std::min(threads, num_threads());
  if (threads <= 1 || t_in_region) {
    body(0, 1);
    return;
  }
  t_in_region = true;
  struct Reset {
    ~Reset() { t_in_region = false; }
  } reset;
  pool().run(threads, body);
}

}  // namespace dg
