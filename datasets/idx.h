// The IDX file format of MNIST and Fashion-MNIST, raw or gzipped, and the Fashion-MNIST data set
// as installed by the Debian package dataset-fashion-mnist.
//
// An IDX file is a big-endian header (two zero bytes, a type code, the number of dims, then each
// dim as a u32) followed by the values in row-major order. Both readers accept only unsigned-byte
// data (type 0x08), as MNIST stores it, and check everything: magic, type, dim count, that the
// payload is exactly the size the dims promise (a truncated or padded file is an error, never a
// silently short data set) and, for gzip files, the stream's CRC and length.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "datasets/dataset.h"

namespace dg::data {

// Pixel scaling: values are x / 255 in [0, 1], then (x - mean) / std when `mean` and `std` are set.
struct ImageNormalization {
  std::optional<float> mean;
  std::optional<float> std;
};

// An IDX image file ([N, rows, cols] unsigned bytes) as f32 [N, 1, rows, cols].
Tensor read_idx_images(const std::string& path, const ImageNormalization& norm = {});
// An IDX label file ([N] unsigned bytes) as i64 [N].
Tensor read_idx_labels(const std::string& path);

// ---- Fashion-MNIST (Zalando): 60000 training and 10000 test images of 28x28, 10 classes ----

enum class Split { train, test };

struct FashionMnist {
  // Where the Debian package dataset-fashion-mnist installs its four gzipped IDX files.
  static constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
  static constexpr const char* kDebianPackage = "dataset-fashion-mnist";
  static constexpr int64_t kNumClasses = 10;
  // Mean and standard deviation of the training pixels after scaling to [0, 1].
  static constexpr float kMean = 0.2860f;
  static constexpr float kStd = 0.3530f;
  static const std::array<const char*, 10> kClassNames;

  // The image and label file paths of a split in `dir`.
  static std::string images_path(Split split, const std::string& dir = kDefaultDir);
  static std::string labels_path(Split split, const std::string& dir = kDefaultDir);
  // True when both files of both splits exist in `dir`.
  static bool available(const std::string& dir = kDefaultDir);

  // Images f32 [N,1,28,28] (in [0, 1], or standardised with kMean/kStd when `normalize`), labels
  // i64 [N] in [0, 10), class names set. A missing file is an error naming the package and path.
  static TensorDataset load(Split split, bool normalize = false,
                            const std::string& dir = kDefaultDir);
};

}  // namespace dg::data
