// DataLoader: walks a Dataset in batches, one epoch at a time. Each epoch's order is either the
// dataset's order or a seeded shuffle that depends only on (seed, epoch), so a run is repeatable
// and epoch 3 can be replayed without replaying epochs 0-2. With `background` on, a worker thread
// prepares the next batches (reading, decoding, collating) while the caller trains on the current
// one, keeping at most `prefetch` finished batches in a bounded queue; the batches are exactly
// those that synchronous loading gives, in the same order.
//
//   DataLoader loader(dataset, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch)
//     for (const Batch& batch : loader.epoch(epoch)) train_step(batch.input, batch.target);
//
// Threading: the worker only calls Dataset::get_batch, which must be thread-safe (the datasets of
// this library allocate tensors through the engine's mutex-protected allocator and copy bytes; no
// autograd graph is involved). An exception thrown by get_batch on the worker is rethrown to the
// consumer when it reaches that batch, after the batches before it. An Epoch owns its worker and
// everything the worker touches (a shared pointer to the dataset, its own copy of the batch plan),
// so the DataLoader may go away mid-epoch; leaving the loop early (break, exception) destroys the
// Epoch, which stops the worker and joins it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "datasets/dataset.h"

namespace dg::data {

struct DataLoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = false;
  uint64_t seed = 0;       // shuffling seed; epoch e uses a generator seeded from (seed, e)
  bool drop_last = false;  // drop a final batch smaller than batch_size
  bool background = true;  // prepare batches on a worker thread
  int prefetch = 2;        // finished batches the worker may hold ahead of the consumer (1 or more)
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  class Epoch;

  // The batches of epoch `index`, to iterate once with a range-for.
  Epoch epoch(int64_t index) const;
  // The dataset indices of each batch of epoch `index`, in order.
  std::vector<std::vector<int64_t>> batch_plan(int64_t index) const;
  int64_t num_batches() const;

  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
};

// One pass over the batch plan of one epoch: an input range whose iterator yields Batch
// references valid until the iterator is advanced. Movable, not copyable.
class DataLoader::Epoch {
 public:
  Epoch(std::shared_ptr<const Dataset> dataset, std::vector<std::vector<int64_t>> plan,
        bool background, int prefetch);
  ~Epoch();
  Epoch(Epoch&&) noexcept;
  Epoch& operator=(Epoch&&) noexcept;
  Epoch(const Epoch&) = delete;
  Epoch& operator=(const Epoch&) = delete;

  // The next batch, or nullopt at the end of the epoch. Rethrows a worker's exception.
  std::optional<Batch> next();
  int64_t num_batches() const;

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Batch& operator*() { return *current_; }
    Batch* operator->() { return &*current_; }
    Iterator& operator++() {
      current_ = epoch_->next();
      return *this;
    }
    bool operator==(std::default_sentinel_t) const { return !current_.has_value(); }

   private:
    friend class Epoch;
    explicit Iterator(Epoch* epoch) : epoch_(epoch), current_(epoch->next()) {}
    Epoch* epoch_;
    std::optional<Batch> current_;
  };
  // Starts the iteration (call once per Epoch).
  Iterator begin() { return Iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dg::data
