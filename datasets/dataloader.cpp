// DataLoader: batch plans (seeded per epoch) and the Epoch that walks one, either synchronously or
// with a worker thread feeding a bounded queue (see dataloader.h).
#include "datasets/dataloader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include "engine/error.h"
#include "engine/random.h"

namespace dg::data {
namespace {

// splitmix64's finaliser: spreads a user seed over all 64 bits before the epoch is added, so that
// (seed, epoch) pairs give unrelated generator seeds.
uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  check(dataset_ != nullptr, "DataLoader: no dataset");
  check(options_.batch_size > 0, "DataLoader: batch_size must be positive, got {}",
        options_.batch_size);
  check(options_.prefetch >= 1, "DataLoader: prefetch must be at least 1, got {}",
        options_.prefetch);
}

std::vector<std::vector<int64_t>> DataLoader::batch_plan(int64_t index) const {
  check(index >= 0, "DataLoader: epoch index must be non-negative, got {}", index);
  const int64_t n = dataset_->size();
  std::vector<int64_t> order(n);
  if (options_.shuffle && n > 0) {
    Generator gen(mix(options_.seed) + static_cast<uint64_t>(index));
    order = randperm(n, gen).to_vector<int64_t>();
  } else {
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  std::vector<std::vector<int64_t>> plan;
  for (int64_t start = 0; start < n; start += options_.batch_size) {
    const int64_t end = std::min(n, start + options_.batch_size);
    if (options_.drop_last && end - start < options_.batch_size) break;
    plan.emplace_back(order.begin() + start, order.begin() + end);
  }
  return plan;
}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

DataLoader::Epoch DataLoader::epoch(int64_t index) const {
  return Epoch(dataset_, batch_plan(index), options_.background, options_.prefetch);
}

// ---------------------------------------------------------------- Epoch

struct DataLoader::Epoch::State {
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::vector<int64_t>> plan;
  size_t next_batch = 0;  // synchronous mode: the next plan entry to load
  bool background = false;
  size_t capacity = 2;

  // Shared with the worker, under `mutex`.
  std::mutex mutex;
  std::condition_variable not_full, not_empty;
  std::deque<Batch> ready;
  bool stop = false;         // consumer -> worker: give up
  bool worker_done = false;  // worker -> consumer: no more batches will come
  std::exception_ptr error;  // what the worker threw, to rethrow once in the consumer
  std::thread worker;

  void run_worker() {
    for (const std::vector<int64_t>& indices : plan) {
      Batch batch;
      try {
        batch = dataset->get_batch(indices);
      } catch (...) {
        std::lock_guard lock(mutex);
        error = std::current_exception();
        worker_done = true;
        not_empty.notify_one();
        return;
      }
      std::unique_lock lock(mutex);
      not_full.wait(lock, [&] { return stop || ready.size() < capacity; });
      if (stop) return;
      ready.push_back(std::move(batch));
      not_empty.notify_one();
    }
    std::lock_guard lock(mutex);
    worker_done = true;
    not_empty.notify_one();
  }

  void stop_worker() {
    if (!worker.joinable()) return;
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    not_full.notify_all();
    worker.join();
  }
};

DataLoader::Epoch::Epoch(std::shared_ptr<const Dataset> dataset,
                         std::vector<std::vector<int64_t>> plan, bool background, int prefetch)
    : state_(std::make_unique<State>()) {
  state_->dataset = std::move(dataset);
  state_->plan = std::move(plan);
  state_->background = background;
  state_->capacity = static_cast<size_t>(std::max(1, prefetch));
  if (background && !state_->plan.empty())
    state_->worker = std::thread([s = state_.get()] { s->run_worker(); });
}

DataLoader::Epoch::~Epoch() {
  if (state_) state_->stop_worker();
}

DataLoader::Epoch::Epoch(Epoch&&) noexcept = default;

DataLoader::Epoch& DataLoader::Epoch::operator=(Epoch&& other) noexcept {
  if (this != &other) {
    if (state_) state_->stop_worker();
    state_ = std::move(other.state_);
  }
  return *this;
}

int64_t DataLoader::Epoch::num_batches() const {
  return state_ ? static_cast<int64_t>(state_->plan.size()) : 0;
}

std::optional<Batch> DataLoader::Epoch::next() {
  check(state_ != nullptr, "DataLoader::Epoch: used after being moved from");
  State& s = *state_;
  if (!s.background) {
    if (s.next_batch >= s.plan.size()) return std::nullopt;
    return s.dataset->get_batch(s.plan[s.next_batch++]);
  }
  if (!s.worker.joinable()) return std::nullopt;  // an empty plan: no worker was started
  std::unique_lock lock(s.mutex);
  s.not_empty.wait(lock, [&] { return !s.ready.empty() || s.worker_done; });
  if (!s.ready.empty()) {
    Batch batch = std::move(s.ready.front());
    s.ready.pop_front();
    s.not_full.notify_one();
    return batch;
  }
  if (s.error) {
    std::exception_ptr error = std::exchange(s.error, nullptr);
    std::rethrow_exception(error);
  }
  return std::nullopt;
}

}  // namespace dg::data
