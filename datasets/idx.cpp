// IDX reading (MNIST / Fashion-MNIST format, raw or gzipped) with strict validation, and the
// Fashion-MNIST loader over the files of the Debian package dataset-fashion-mnist.
#include "datasets/idx.h"

#include <filesystem>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

constexpr uint8_t kTypeUnsignedByte = 0x08;
constexpr std::string_view kMissingHint =
    "Fashion-MNIST's IDX files come from the Debian package dataset-fashion-mnist "
    "(apt-get install dataset-fashion-mnist)";

std::string_view idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return "unknown";
  }
}

struct IdxData {
  std::vector<uint8_t> bytes;  // the whole (decompressed) file
  std::vector<int64_t> dims;
  size_t payload_offset = 0;
  const uint8_t* payload() const { return bytes.data() + payload_offset; }
};

// Reads and validates an unsigned-byte IDX file with `expected_dims` dims.
IdxData read_idx_u8(const std::string& path, int expected_dims, std::string_view kind) {
  IdxData idx;
  idx.bytes = read_maybe_gzipped(path, "idx", kMissingHint);
  const std::vector<uint8_t>& b = idx.bytes;
  check(b.size() >= 4, "idx: '{}' is too short for an IDX header ({} bytes)", path, b.size());
  check(b[0] == 0 && b[1] == 0,
        "idx: '{}' does not start with the IDX magic (00 00 type ndims): first bytes are {:02x} "
        "{:02x}",
        path, b[0], b[1]);
  check(b[2] == kTypeUnsignedByte,
        "idx: '{}' holds {} data (type 0x{:02x}); MNIST-style files hold unsigned bytes (0x08)",
        path, idx_type_name(b[2]), b[2]);
  check(b[3] == expected_dims, "idx: '{}' has {} dims; an IDX {} file has {}", path, b[3], kind,
        expected_dims);
  const size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  check(b.size() >= header, "idx: '{}' is truncated inside its header ({} of {} bytes)", path,
        b.size(), header);
  uint64_t count = 1;
  for (int d = 0; d < expected_dims; ++d) {
    const uint8_t* p = b.data() + 4 + 4 * d;
    const uint32_t size = static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
    idx.dims.push_back(size);
    // Checked at every step: three sizes below 2^32 can multiply past 2^64 and wrap to a small
    // count (2^17 x 2^16 x 2^31 wraps to 0) that a short file would then match.
    check(!__builtin_mul_overflow(count, uint64_t{size}, &count) && count < (uint64_t{1} << 40),
          "idx: '{}' declares an implausible size (dims {})", path, fmt::join(idx.dims, "x"));
  }
  const uint64_t expected = header + count;
  check(b.size() == expected,
        "idx: '{}' has {} bytes but its header (dims {}) implies {}: the file is {}", path,
        b.size(), fmt::join(idx.dims, "x"), expected,
        b.size() < expected ? "truncated" : "longer than declared");
  idx.payload_offset = header;
  return idx;
}

}  // namespace

Tensor read_idx_images(const std::string& path, const ImageNormalization& norm) {
  check(norm.mean.has_value() == norm.std.has_value(),
        "read_idx_images: give both mean and std for normalisation, or neither");
  check(!norm.std || *norm.std > 0, "read_idx_images: std must be positive, got {}",
        norm.std.value_or(0));
  const IdxData idx = read_idx_u8(path, 3, "image");
  const int64_t n = idx.dims[0], rows = idx.dims[1], cols = idx.dims[2];
  Tensor images = Tensor::empty({n, 1, rows, cols}, DType::f32);
  // One lookup table per byte value: the same float for the same pixel, whatever the scaling.
  std::array<float, 256> table;
  for (int v = 0; v < 256; ++v) {
    float x = static_cast<float>(v) / 255.0f;
    if (norm.mean) x = (x - *norm.mean) / *norm.std;
    table[v] = x;
  }
  float* out = images.data<float>();
  const uint8_t* in = idx.payload();
  for (int64_t i = 0, total = n * rows * cols; i < total; ++i) out[i] = table[in[i]];
  return images;
}

Tensor read_idx_labels(const std::string& path) {
  const IdxData idx = read_idx_u8(path, 1, "label");
  const int64_t n = idx.dims[0];
  Tensor labels = Tensor::empty({n}, DType::i64);
  int64_t* out = labels.data<int64_t>();
  const uint8_t* in = idx.payload();
  for (int64_t i = 0; i < n; ++i) out[i] = in[i];
  return labels;
}

// ---------------------------------------------------------------- Fashion-MNIST

const std::array<const char*, 10> FashionMnist::kClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string FashionMnist::images_path(Split split, const std::string& dir) {
  return (std::filesystem::path(dir) /
          (split == Split::train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz"))
      .string();
}

std::string FashionMnist::labels_path(Split split, const std::string& dir) {
  return (std::filesystem::path(dir) /
          (split == Split::train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz"))
      .string();
}

bool FashionMnist::available(const std::string& dir) {
  std::error_code ec;
  for (Split s : {Split::train, Split::test})
    if (!std::filesystem::is_regular_file(images_path(s, dir), ec) ||
        !std::filesystem::is_regular_file(labels_path(s, dir), ec))
      return false;
  return true;
}

TensorDataset FashionMnist::load(Split split, bool normalize, const std::string& dir) {
  ImageNormalization norm;
  if (normalize) norm = {kMean, kStd};
  const std::string images_file = images_path(split, dir), labels_file = labels_path(split, dir);
  Tensor images = read_idx_images(images_file, norm);
  Tensor labels = read_idx_labels(labels_file);
  check(images.size(0) == labels.size(0), "FashionMnist: '{}' has {} images but '{}' has {} labels",
        images_file, images.size(0), labels_file, labels.size(0));
  check(images.size(2) == 28 && images.size(3) == 28,
        "FashionMnist: '{}' holds images of {}x{}, expected 28x28", images_file, images.size(2),
        images.size(3));
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    check(y[i] >= 0 && y[i] < kNumClasses,
          "FashionMnist: '{}': label {} of example {} is not in [0, {})", labels_file, y[i], i,
          kNumClasses);
  return TensorDataset(std::move(images), std::move(labels),
                       std::vector<std::string>(kClassNames.begin(), kClassNames.end()));
}

}  // namespace dg::data
