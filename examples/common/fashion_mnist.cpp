// The examples' Fashion-MNIST loaders (see fashion_mnist.h).
#include "examples/common/fashion_mnist.h"

#include <cstdio>
#include <numeric>
#include <vector>

#include "datasets/idx.h"

namespace dg::experiment {

namespace {

// The directory to read, or nothing (with the message printed) when the files are not there.
std::optional<std::string> data_dir(const std::string& dir) {
  const std::string path = dir.empty() ? data::FashionMnist::kDefaultDir : dir;
  if (data::FashionMnist::available(path)) return path;
  std::printf("Fashion-MNIST is not in %s: install the Debian package %s (or pass --data DIR)\n",
              path.c_str(), data::FashionMnist::kDebianPackage);
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const data::Dataset> first_n(std::shared_ptr<const data::Dataset> all, int64_t n) {
  if (n <= 0 || n >= all->size()) return all;
  std::vector<int64_t> indices(static_cast<size_t>(n));
  std::iota(indices.begin(), indices.end(), 0);
  return std::make_shared<data::Subset>(std::move(all), std::move(indices));
}

std::optional<FashionMnistSplits> load_fashion_mnist(const std::string& dir, int64_t train_examples,
                                                     int64_t test_examples) {
  const std::optional<std::string> path = data_dir(dir);
  if (!path) return std::nullopt;
  auto load = [&](data::Split split, int64_t n) {
    return first_n(std::make_shared<data::TensorDataset>(
                       data::FashionMnist::load(split, /*normalize=*/true, *path)),
                   n);
  };
  return FashionMnistSplits{load(data::Split::train, train_examples),
                            load(data::Split::test, test_examples)};
}

std::optional<LabelledSplits> load_fashion_mnist_tensors(const std::string& dir,
                                                         int64_t train_examples,
                                                         int64_t test_examples) {
  const std::optional<std::string> path = data_dir(dir);
  if (!path) return std::nullopt;
  auto load = [&](data::Split split, int64_t n) {
    const data::TensorDataset all = data::FashionMnist::load(split, /*normalize=*/true, *path);
    const LabelledImages images{all.inputs(), all.targets()};
    return n > 0 ? slice_examples(images, 0, n) : images;
  };
  return LabelledSplits{load(data::Split::train, train_examples),
                        load(data::Split::test, test_examples)};
}

}  // namespace dg::experiment
