// The thread pool behind parallel_chunks; see parallel.h.
#include "engine/parallel.h"

#include <cblas.h>

#include <algorithm>
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

  // Runs job(thread) on the caller (thread 0) and on the workers 1 .. threads-1 that pick the job
  // up before the caller has finished its own part; the job claims its chunks of work from a
  // shared counter, so a worker that comes late finds nothing left and is not waited for. On the
  // caller alone when another caller holds the pool.
  void run(int threads, const std::function<void(int)>& job) {
    std::unique_lock submit(submit_mutex_, std::try_to_lock);
    if (!submit.owns_lock() || threads <= 1) {
      job(0);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      job_threads_ = threads;
      error_ = nullptr;
      open_ = true;
      joined_ = 0;
      finished_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    try {
      job(0);
    } catch (...) {
      record_error();
    }
    int joined;
    {
      std::lock_guard lock(mutex_);
      open_ = false;  // from here on a waking worker skips this job
      joined = joined_;
    }
    wait_for_workers(joined);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int index) {
    t_in_region = true;  // a region started by a job runs serially on this worker
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpinIterations && generation_.load(std::memory_order_acquire) == seen; ++i)
        cpu_relax();
      const std::function<void(int)>* job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_acquire);
        // Too late (the caller has already done this job's chunks) or not part of this job.
        if (!open_ || index >= job_threads_) continue;
        ++joined_;
        job = job_;
      }
      try {
        (*job)(index);
      } catch (...) {
        record_error();
      }
      finished_.fetch_add(1, std::memory_order_acq_rel);
      {
        std::lock_guard lock(mutex_);  // no lost wake-up: the caller checks under this mutex
      }
      done_.notify_one();
    }
  }

  void wait_for_workers(int joined) {
    for (int i = 0; i < kSpinIterations && finished_.load(std::memory_order_acquire) < joined; ++i)
      cpu_relax();
    if (finished_.load(std::memory_order_acquire) >= joined) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) >= joined; });
  }

  void record_error() {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }

  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job at a time
  std::mutex mutex_;  // guards job_, job_threads_, open_, joined_, stop_ and the condition variables
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> finished_{0};  // workers of the current job that are done with it
  const std::function<void(int)>* job_ = nullptr;
  int job_threads_ = 0;
  bool open_ = false;  // workers may still join the current job
  int joined_ = 0;     // workers that did
  bool stop_ = false;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

struct PoolState {
  // OpenBLAS runs on its caller's thread only: the engine splits GEMMs over its own pool
  // (engine/cpu/blas.h), so BLAS's pthreads never compete with it for the cores.
  // OpenBLAS is therefore called from several threads at once, which its single-threaded build
  // does not survive (CMakeLists.txt links the OpenMP build, which at one thread starts none).
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

void parallel_chunks(int64_t chunks, int threads, const std::function<void(int64_t, int)>& body) {
  threads = static_cast<int>(std::min<int64_t>({threads, num_threads(), chunks}));
  if (threads <= 1 || t_in_region) {
    for (int64_t chunk = 0; chunk < chunks; ++chunk) body(chunk, 0);
    return;
  }
  t_in_region = true;
  struct Reset {
    ~Reset() { t_in_region = false; }
  } reset;
  std::atomic<int64_t> next{0};
  pool().run(threads, [&](int thread) {
    for (int64_t chunk = next.fetch_add(1, std::memory_order_relaxed); chunk < chunks;
         chunk = next.fetch_add(1, std::memory_order_relaxed))
      body(chunk, thread);
  });
}

}  // namespace dg
