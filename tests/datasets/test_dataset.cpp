// The common dataset pieces: TensorDataset rows and errors, Subset renumbering, split_indices
// (seeded, disjoint, sizes as documented) and TextDataset helpers.
#include <catch2/catch.hpp>
#include <set>

#include "datasets/dataset.h"
#include "engine/ops/ops.h"

using namespace dg;
using namespace dg::data;

TEST_CASE("dataset: TensorDataset rows, gathered batches and errors", "[datasets][dataset]") {
  const auto data = std::make_shared<TensorDataset>(
      arange(0.0, 12.0, 1.0, DType::f32).reshape({4, 3}), tensor_i64({7, 8, 9, 10}),
      std::vector<std::string>{"a", "b"});
  CHECK(data->size() == 4);
  CHECK(data->num_classes() == 2);
  const Example e = data->get(2);
  CHECK(e.input.to_vector<float>() == std::vector<float>{6, 7, 8});
  CHECK(e.target.item<int64_t>() == 9);
  const Batch b = data->get_batch(std::vector<int64_t>{3, 0, 3});
  CHECK(b.input.shape() == Shape{3, 3});
  CHECK(b.input.to_vector<float>() == std::vector<float>{9, 10, 11, 0, 1, 2, 9, 10, 11});
  CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{10, 7, 10});
  // A non-contiguous input is made contiguous once, up front.
  const TensorDataset transposed(arange(0.0, 6.0, 1.0, DType::f32).reshape({2, 3}).transpose(0, 1),
                                 tensor_i64({0, 1, 2}));
  CHECK(transposed.get_batch(std::vector<int64_t>{2}).input.to_vector<float>() ==
        std::vector<float>{2, 5});

  CHECK_THROWS_WITH(data->get(4), Catch::Contains("index 4 out of range for 4 examples"));
  CHECK_THROWS_WITH(data->get_batch(std::vector<int64_t>{-1}), Catch::Contains("index -1"));
  CHECK_THROWS_WITH(TensorDataset(zeros({3, 2}), tensor_i64({1, 2})),
                    Catch::Contains("[3,2] and targets [2]"));
}

TEST_CASE("dataset: Subset renumbers its base's examples", "[datasets][dataset]") {
  const auto base = std::make_shared<TensorDataset>(
      arange(0.0, 5.0, 1.0, DType::f32).reshape({5, 1}), tensor_i64({0, 1, 2, 3, 4}));
  const Subset subset(base, {4, 1, 3});
  CHECK(subset.size() == 3);
  CHECK(subset.get(0).target.item<int64_t>() == 4);
  const Batch b = subset.get_batch(std::vector<int64_t>{2, 1});
  CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{3, 1});
  CHECK(b.indices == std::vector<int64_t>{2, 1});
  CHECK_THROWS_WITH(Subset(base, {5}), Catch::Contains("index 5 out of range for a dataset of 5"));
}

TEST_CASE("dataset: split_indices is a seeded partition with floor-sized parts",
          "[datasets][dataset]") {
  const auto parts = split_indices(101, {0.8, 0.1, 0.1}, 5);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].size() == 80);
  CHECK(parts[1].size() == 10);
  CHECK(parts[2].size() == 11);
  std::set<int64_t> all;
  for (const auto& p : parts) all.insert(p.begin(), p.end());
  CHECK(all.size() == 101);
  CHECK(*all.rbegin() == 100);
  CHECK(split_indices(101, {0.8, 0.1, 0.1}, 5) == parts);
  CHECK(split_indices(101, {0.8, 0.1, 0.1}, 6) != parts);
  CHECK_THROWS_WITH(split_indices(10, {0.8, 0.5}, 1), Catch::Contains("sum to 1.3"));
}

TEST_CASE("dataset: TextDataset subset and all_texts", "[datasets][dataset]") {
  TextDataset text;
  text.class_names = {"x", "y"};
  text.examples = {{{"a", "b"}, 0, 0.0}, {{"c"}, 1, 0.0}};
  const TextDataset sub = text.subset(std::vector<int64_t>{1});
  CHECK(sub.size() == 1);
  CHECK(sub.class_names == text.class_names);
  CHECK(sub.examples[0].texts[0] == "c");
  CHECK(text.all_texts() == std::vector<std::string>{"a", "b", "c"});
  CHECK_THROWS_WITH(text.subset(std::vector<int64_t>{2}), Catch::Contains("index 2 out of range"));
}
