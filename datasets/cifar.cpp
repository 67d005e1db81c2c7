// CIFAR-10 binary reading (see cifar.h).
#include "datasets/cifar.h"

#include <filesystem>
#include <fstream>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;
constexpr int64_t kRecordBytes = 1 + kPixels;
constexpr int64_t kNumClasses = 10;

const std::array<const char*, 10> kCifar10ClassNames = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

}  // namespace

TensorDataset read_cifar10_binary(const std::vector<std::string>& paths,
                                  const CifarNormalization& norm) {
  check(!paths.empty(), "cifar10: no files given");
  for (float s : norm.std) check(s > 0, "cifar10: normalisation std must be positive, got {}", s);
  std::vector<std::vector<uint8_t>> files;
  int64_t total = 0;
  for (const std::string& path : paths) {
    files.push_back(read_file_bytes(path, "cifar10"));
    const int64_t size = static_cast<int64_t>(files.back().size());
    check(size > 0, "cifar10: '{}' is empty (0 bytes); a CIFAR-10 batch holds {}-byte records",
          path, kRecordBytes);
    check(size % kRecordBytes == 0,
          "cifar10: '{}' has {} bytes, not a whole number of {}-byte records (1 label + 3072 "
          "pixels): truncated or not a CIFAR-10 binary file",
          path, size, kRecordBytes);
    total += size / kRecordBytes;
  }

  Tensor images = Tensor::empty({total, 3, 32, 32}, DType::f32);
  Tensor labels = Tensor::empty({total}, DType::i64);
  std::array<std::array<float, 256>, 3> table;  // byte -> scaled value, per channel
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v)
      table[c][v] = norm.enabled ? (v / 255.0f - norm.mean[c]) / norm.std[c] : v / 255.0f;

  float* x = images.data<float>();
  int64_t* y = labels.data<int64_t>();
  int64_t n = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& bytes = files[f];
    for (size_t r = 0; r < bytes.size(); r += kRecordBytes, ++n) {
      const uint8_t* record = bytes.data() + r;
      check(record[0] < kNumClasses, "cifar10: '{}' record {}: label byte {} is not in 0-9",
            paths[f], r / kRecordBytes, record[0]);
      y[n] = record[0];
      float* out = x + n * kPixels;
      for (int64_t i = 0; i < kPixels; ++i) out[i] = table[i / 1024][record[1 + i]];
    }
  }
  return TensorDataset(
      std::move(images), std::move(labels),
      std::vector<std::string>(kCifar10ClassNames.begin(), kCifar10ClassNames.end()));
}

TensorDataset load_cifar10(const std::string& dir, Split split, const CifarNormalization& norm) {
  const std::filesystem::path root(dir);
  std::vector<std::string> paths;
  if (split == Split::train) {
    for (int i = 1; i <= 5; ++i)
      paths.push_back((root / fmt::format("data_batch_{}.bin", i)).string());
  } else {
    paths.push_back((root / "test_batch.bin").string());
  }
  TensorDataset data = read_cifar10_binary(paths, norm);

  std::vector<std::string> names;
  std::ifstream meta(root / "batches.meta.txt");
  for (std::string line; std::getline(meta, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) return data;
  check(names.size() == kNumClasses, "cifar10: '{}' lists {} class names, expected 10",
        (root / "batches.meta.txt").string(), names.size());
  return TensorDataset(data.inputs(), data.targets(), std::move(names));
}

}  // namespace dg::data
