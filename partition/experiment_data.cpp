// load_fashion_mnist: see experiment_data.h.
#include "partition/experiment_data.h"

#include <cstdio>
#include <string>

#include "datasets/idx.h"

namespace dg::partition {

namespace {

LabelledImages first_examples(data::Split split, int64_t n, const std::string& dir) {
  const data::TensorDataset all = data::FashionMnist::load(split, /*normalize=*/true, dir);
  const LabelledImages images{all.inputs(), all.targets()};
  return n > 0 ? slice_examples(images, 0, n) : images;
}

}  // namespace

std::optional<ExperimentData> load_fashion_mnist(const ExperimentFlags& flags) {
  const std::string dir = flags.data_dir.empty() ? data::FashionMnist::kDefaultDir : flags.data_dir;
  if (!data::FashionMnist::available(dir)) {
    std::printf("Fashion-MNIST is not in %s: install the Debian package %s (or pass --data DIR)\n",
                dir.c_str(), data::FashionMnist::kDebianPackage);
    return std::nullopt;
  }
  return ExperimentData{first_examples(data::Split::train, flags.train_examples, dir),
                        first_examples(data::Split::test, flags.test_examples, dir)};
}

}  // namespace dg::partition
