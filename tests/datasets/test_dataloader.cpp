// DataLoader: batch plans (order, seeded shuffling per epoch, drop_last), collation and padding,
// that the background worker yields exactly the synchronous batches, early exit and loader
// destruction mid-epoch, and worker exceptions reaching the consumer.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "datasets/dataloader.h"
#include "engine/ops/ops.h"

using namespace dg;
using namespace dg::data;

namespace {

// Inputs [n, 2] with row i = (i, 10 i); targets i.
std::shared_ptr<TensorDataset> counting_dataset(int64_t n) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(10.0f * i);
    y.push_back(i);
  }
  return std::make_shared<TensorDataset>(from_vector(x, {n, 2}), from_vector(y, {n}));
}

// Example i is the token sequence 1, 2, ..., (i % 4) + 1 with target i; padded by collation.
class VariableLength : public Dataset {
 public:
  explicit VariableLength(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    check(i != fail_at_, "VariableLength: example {} is broken", i);
    std::vector<int64_t> ids;
    for (int64_t k = 0; k <= i % 4; ++k) ids.push_back(k + 1);
    return {from_vector(ids), tensor_i64({i}).reshape({})};
  }
  CollateOptions collate_options() const override { return {true, 0.0, -100.0}; }

 private:
  int64_t n_, fail_at_;
};

std::vector<std::vector<int64_t>> collect_indices(const DataLoader& loader, int64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  for (const Batch& b : loader.epoch(epoch)) out.push_back(b.target.to_vector<int64_t>());
  return out;
}

}  // namespace

TEST_CASE("dataloader: order, batch sizes and drop_last", "[datasets][dataloader]") {
  const auto data = counting_dataset(10);
  DataLoaderOptions options;
  options.batch_size = 4;
  const DataLoader loader(data, options);
  CHECK(loader.num_batches() == 3);
  const auto batches = collect_indices(loader, 0);
  CHECK(batches == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});

  const Batch first = *loader.epoch(0).next();
  CHECK(first.input.shape() == Shape{4, 2});
  CHECK(first.input.to_vector<float>() == std::vector<float>{0, 0, 1, 10, 2, 20, 3, 30});
  CHECK(first.indices == std::vector<int64_t>{0, 1, 2, 3});
  CHECK_FALSE(first.mask.defined());

  options.drop_last = true;
  const DataLoader dropping(data, options);
  CHECK(dropping.num_batches() == 2);
  CHECK(collect_indices(dropping, 0).size() == 2);
  CHECK_THROWS_WITH(DataLoader(data, {.batch_size = 0}),
                    Catch::Contains("batch_size must be positive"));
}

TEST_CASE("dataloader: seeded shuffling is repeatable and differs between epochs",
          "[datasets][dataloader]") {
  const auto data = counting_dataset(50);
  DataLoaderOptions options;
  options.batch_size = 8;
  options.shuffle = true;
  options.seed = 42;
  const DataLoader a(data, options), b(data, options);
  const auto epoch0 = collect_indices(a, 0);
  CHECK(epoch0 == collect_indices(b, 0));
  CHECK(collect_indices(a, 1) == collect_indices(b, 1));
  CHECK(epoch0 != collect_indices(a, 1));
  // Every example exactly once per epoch.
  std::multiset<int64_t> seen;
  for (const auto& batch : epoch0) seen.insert(batch.begin(), batch.end());
  CHECK(seen.size() == 50);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 50);
  options.seed = 43;
  CHECK(collect_indices(DataLoader(data, options), 0) != epoch0);
  // The plan is the same with or without the worker thread.
  options.seed = 42;
  options.background = false;
  CHECK(collect_indices(DataLoader(data, options), 0) == epoch0);
}

TEST_CASE("dataloader: the background thread yields the same batches as synchronous loading",
          "[datasets][dataloader]") {
  const auto data = std::make_shared<VariableLength>(37);
  DataLoaderOptions options;
  options.batch_size = 5;
  options.shuffle = true;
  options.seed = 3;
  options.prefetch = 1;
  const DataLoader threaded(data, options);
  options.background = false;
  const DataLoader sync(data, options);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    auto e1 = threaded.epoch(epoch);
    auto e2 = sync.epoch(epoch);
    int64_t count = 0;
    for (auto b1 = e1.next(), b2 = e2.next(); b1 || b2; b1 = e1.next(), b2 = e2.next(), ++count) {
      REQUIRE(b1.has_value());
      REQUIRE(b2.has_value());
      CHECK(b1->indices == b2->indices);
      CHECK(b1->input.shape() == b2->input.shape());
      CHECK(b1->input.to_vector<int64_t>() == b2->input.to_vector<int64_t>());
      CHECK(b1->mask.to_vector<bool>() == b2->mask.to_vector<bool>());
      CHECK(b1->lengths.to_vector<int64_t>() == b2->lengths.to_vector<int64_t>());
      CHECK(b1->target.to_vector<int64_t>() == b2->target.to_vector<int64_t>());
    }
    CHECK(count == 8);
  }
}

TEST_CASE("dataloader: variable-length sequences are padded to the batch max with a mask",
          "[datasets][dataloader]") {
  const DataLoader loader(std::make_shared<VariableLength>(6), {.batch_size = 3});
  auto epoch = loader.epoch(0);
  const Batch b = *epoch.next();  // examples 0, 1, 2: lengths 1, 2, 3
  CHECK(b.input.shape() == Shape{3, 3});
  CHECK(b.input.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 1, 2, 0, 1, 2, 3});
  CHECK(b.mask.shape() == Shape{3, 3});
  CHECK(b.mask.to_vector<bool>() ==
        std::vector<bool>{true, false, false, true, true, false, true, true, true});
  CHECK(b.lengths.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  CHECK(b.target.shape() == Shape{3});
  const Batch b2 = *epoch.next();  // examples 3, 4, 5: lengths 4, 1, 2
  CHECK(b2.input.shape() == Shape{3, 4});
  CHECK_FALSE(epoch.next().has_value());

  // Without padding, different lengths are an error that says what to do.
  std::vector<Example> examples{{tensor_i64({1, 2}), scalar(0)}, {tensor_i64({1}), scalar(0)}};
  CHECK_THROWS_WITH(
      collate(examples, std::vector<int64_t>{0, 1}),
      Catch::Contains("input shape [1] but example 0 has [2]") && Catch::Contains("pad_inputs"));
  // Variable-length targets are padded with target_pad.
  examples = {{tensor_i64({1, 2}), tensor_i64({7, 8})}, {tensor_i64({1}), tensor_i64({9})}};
  const Batch padded = collate(examples, std::vector<int64_t>{0, 1}, {true, 0.0, -100.0});
  CHECK(padded.target.to_vector<int64_t>() == std::vector<int64_t>{7, 8, 9, -100});
}

TEST_CASE("dataloader: stopping mid-epoch and destroying the loader shut the worker down",
          "[datasets][dataloader]") {
  const auto data = counting_dataset(1000);
  auto loader =
      std::make_unique<DataLoader>(data, DataLoaderOptions{.batch_size = 2, .prefetch = 2});
  {
    int64_t seen = 0;
    for (const Batch& b : loader->epoch(0)) {
      CHECK(b.size() == 2);
      if (++seen == 3) break;  // the Epoch (and its worker, blocked on a full queue) goes away here
    }
    CHECK(seen == 3);
  }
  auto epoch = loader->epoch(1);
  loader.reset();  // the epoch keeps the dataset and its plan
  const auto batch = epoch.next();
  REQUIRE(batch.has_value());
  CHECK(batch->indices == std::vector<int64_t>{0, 1});
  // The epoch is destroyed with the worker still holding prepared batches.
}

TEST_CASE("dataloader: an exception in the worker reaches the consumer after the good batches",
          "[datasets][dataloader]") {
  const auto data = std::make_shared<VariableLength>(10, /*fail_at=*/5);
  const DataLoader loader(data, {.batch_size = 2});
  auto epoch = loader.epoch(0);
  CHECK(epoch.next().has_value());  // 0, 1
  CHECK(epoch.next().has_value());  // 2, 3
  CHECK_THROWS_WITH(epoch.next(), Catch::Contains("example 5 is broken"));
  CHECK_FALSE(epoch.next().has_value());

  const DataLoader sync(data, {.batch_size = 2, .background = false});
  auto sync_epoch = sync.epoch(0);
  sync_epoch.next();
  sync_epoch.next();
  CHECK_THROWS_WITH(sync_epoch.next(), Catch::Contains("example 5 is broken"));
}

TEST_CASE("dataloader: the worker prepares the next batch while the consumer holds this one",
          "[datasets][dataloader]") {
  // Counts the examples fetched. While the consumer holds batch 0 without asking for more, the
  // background worker must go on to fetch batch 1; synchronous loading must not. (A property of
  // the mechanism, not a timing: the wait below only bounds how long a broken worker can hang.)
  class Counting : public Dataset {
   public:
    int64_t size() const override { return 8; }
    Example get(int64_t i) const override {
      ++fetched;
      return {scalar(static_cast<double>(i)), scalar(0)};
    }
    mutable std::atomic<int> fetched{0};
  };
  const auto data = std::make_shared<Counting>();
  {
    const DataLoader loader(data, {.batch_size = 2, .background = true});
    auto epoch = loader.epoch(0);
    REQUIRE(epoch.next().has_value());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (data->fetched.load() < 4 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(data->fetched.load() >= 4);  // batch 1 was prepared ahead of the request
  }
  data->fetched = 0;
  const DataLoader sync(data, {.batch_size = 2, .background = false});
  auto epoch = sync.epoch(0);
  REQUIRE(epoch.next().has_value());
  CHECK(data->fetched.load() == 2);  // nothing is fetched before it is asked for
}
