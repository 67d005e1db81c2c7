// The thread pool behind parallel_chunks; see parallel.h.
#include "engine/cpu/parallel.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
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

// How far apart the pool's threads are, measured by how long a spinning worker takes to see a job
// the caller has just published (a cache line crossing from one core to the other). A shared host
// sometimes places the vCPUs far apart for minutes; then everything a region's threads hand each
// other crosses slowly and small regions run faster on one thread (docs/performance.md,
// "Threads"). So while most recent joins are slow, kernels ask for kFarWorkScale times more work
// before they split it (worth_splitting), and a few regions that would have stayed whole are split
// anyway, to keep measuring.
constexpr auto kFarJoin = std::chrono::nanoseconds(300);
constexpr auto kPausedJoin = std::chrono::microseconds(5);  // slower: the worker was preempted
constexpr int kFarEnter = 12, kFarLeave = 4;                 // slow joins among the last 16
constexpr int64_t kFarWorkScale = 16;
// Of every kFarProbeEvery regions that only the far threshold keeps whole, the first kFarProbeRun
// are split: the first wakes the worker, the next ones find it polling and measure.
constexpr uint64_t kFarProbeEvery = 64, kFarProbeRun = 4;

std::atomic<bool> g_far_cores{false};
std::atomic<uint64_t> g_far_probes{0};

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
      published_ = std::chrono::steady_clock::now();
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
      // Saw the job while polling: how long that took measures the distance between the cores
      // (a join after sleeping measures the OS's wake-up instead).
      const bool polled = generation_.load(std::memory_order_acquire) != seen;
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
        if (polled) record_join(std::chrono::steady_clock::now() - published_);
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

  // Under mutex_: one more join latency in the last-16 history, and the verdict on the distance.
  void record_join(std::chrono::steady_clock::duration latency) {
    if (latency > kPausedJoin) return;
    slow_joins_ = static_cast<uint16_t>((slow_joins_ << 1) | (latency > kFarJoin ? 1 : 0));
    const int slow = std::popcount(slow_joins_);
    if (slow >= kFarEnter) g_far_cores.store(true, std::memory_order_relaxed);
    if (slow <= kFarLeave) g_far_cores.store(false, std::memory_order_relaxed);
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
  std::chrono::steady_clock::time_point published_;  // when the current job was published
  uint16_t slow_joins_ = 0;  // the last 16 joins, 1 for each slower than kFarJoin
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

namespace {
std::atomic<int> g_far_override{-1};  // -1: measured; 0 or 1: set by a test
}  // namespace

bool cores_far_apart() {
  const int forced = g_far_override.load(std::memory_order_relaxed);
  return forced >= 0 ? forced == 1 : g_far_cores.load(std::memory_order_relaxed);
}

namespace detail {
void override_cores_far_apart(std::optional<bool> far) {
  g_far_override.store(far ? (*far ? 1 : 0) : -1, std::memory_order_relaxed);
}
}  // namespace detail

bool worth_splitting(int64_t work, int64_t near_cores_work) {
  if (work < near_cores_work) return false;
  if (!cores_far_apart() || work >= near_cores_work * kFarWorkScale) return true;
  // Between the thresholds while far: split only the probes, so the distance is measured again.
  return g_far_probes.fetch_add(1, std::memory_order_relaxed) % kFarProbeEvery < kFarProbeRun;
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
