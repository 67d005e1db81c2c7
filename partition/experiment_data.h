// The data of the PAD-Net experiment programs (examples/padnet_*.cpp): Fashion-MNIST from the
// Debian package dataset-fashion-mnist, as the plain tensors partition/experiment.h trains on.
#pragma once

#include <optional>

#include "partition/experiment.h"
#include "partition/experiment_flags.h"

namespace dg::partition {

struct ExperimentData {
  LabelledImages train, test;
};

// The first flags.train_examples training and flags.test_examples test images (all of a split
// when 0), standardised with the training set's pixel mean and std, from flags.data_dir (the
// Debian package's directory when empty).
// When the files are not there it prints where it looked and which package provides them, and
// returns nothing: the programs then exit with 77, the test suite's "skipped".
std::optional<ExperimentData> load_fashion_mnist(const ExperimentFlags& flags);

}  // namespace dg::partition
