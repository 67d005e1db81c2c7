// Fashion-MNIST for the examples, from the Debian package dataset-fashion-mnist: the first n
// images of each split (the files are in no particular class order, so every class is present),
// pixels standardised with the training set's mean and std. When the files are not there the
// loaders print where they looked and which package provides them, and return nothing: the
// programs then exit with 77, the test suite's "skipped".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "datasets/dataset.h"
#include "examples/common/experiment.h"

namespace dg::experiment {

// The first n examples of `all` (all of it when n <= 0 or n >= its size).
std::shared_ptr<const data::Dataset> first_n(std::shared_ptr<const data::Dataset> all, int64_t n);

struct FashionMnistSplits {
  std::shared_ptr<const data::Dataset> train, test;
};
// As data sets for a DataLoader; 0 = the whole split. An empty `dir` is the package's directory.
std::optional<FashionMnistSplits> load_fashion_mnist(const std::string& dir, int64_t train_examples,
                                                     int64_t test_examples);

struct LabelledSplits {
  LabelledImages train, test;
};
// As plain tensors for experiment.h's training loop.
std::optional<LabelledSplits> load_fashion_mnist_tensors(const std::string& dir,
                                                         int64_t train_examples,
                                                         int64_t test_examples);

}  // namespace dg::experiment
