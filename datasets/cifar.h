// The CIFAR-10 binary format (the "binary version" of Krizhevsky's data set: data_batch_1.bin ..
// data_batch_5.bin, test_batch.bin, batches.meta.txt). Each record is 1 label byte (0-9) followed
// by 3072 pixel bytes: the 1024 red values of the 32x32 image in row-major order, then green, then
// blue, which is already the [3,32,32] channel-first layout. CIFAR-10 is not packaged in Debian:
// the user downloads it and passes the directory.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/idx.h"

namespace dg::data {

struct CifarNormalization {
  bool enabled = false;
  std::array<float, 3> mean{};  // per channel, on the [0, 1] scale
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
};

// The usual CIFAR-10 training-set channel statistics.
inline constexpr CifarNormalization kCifar10Normalization{
    true, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};

// Reads one or more CIFAR-10 binary files into images f32 [N,3,32,32] (x / 255, then per-channel
// standardisation when enabled) and labels i64 [N]. An empty file, a file whose length is not a
// multiple of 3073, or a label byte outside 0-9 is an error naming the file.
TensorDataset read_cifar10_binary(const std::vector<std::string>& paths,
                                  const CifarNormalization& norm = {});

// The CIFAR-10 directory layout: data_batch_1..5.bin (train) or test_batch.bin (test), with class
// names from batches.meta.txt when present (else the standard ten names).
TensorDataset load_cifar10(const std::string& dir, Split split,
                           const CifarNormalization& norm = {});

}  // namespace dg::data
