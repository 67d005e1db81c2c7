// IDX reading: raw and gzipped files written here, rejection of corrupt and truncated ones, the
// missing-file message, and (when the Debian package is installed) the real Fashion-MNIST.
#include <catch2/catch.hpp>
#include <cmath>

#include "datasets/idx.h"
#include "datasets/io.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

// An IDX3 file of n images of rows x cols, pixel (i, r, c) = (i * 31 + r * 7 + c) mod 256.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> b{0, 0, 0x08, 3};
  put_u32(b, n);
  put_u32(b, rows);
  put_u32(b, cols);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t r = 0; r < rows; ++r)
      for (uint32_t c = 0; c < cols; ++c)
        b.push_back(static_cast<uint8_t>((i * 31 + r * 7 + c) % 256));
  return b;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> b{0, 0, 0x08, 1};
  put_u32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

}  // namespace

TEST_CASE("idx: raw and gzipped image files give the same [N,1,R,C] tensor in [0,1]",
          "[datasets][idx]") {
  test::TempDir dir;
  const auto bytes = idx_images(3, 4, 5);
  test::write_bytes(dir.file("images.idx"), bytes);
  test::write_bytes(dir.file("images.idx.gz"), gzip(bytes));

  const Tensor raw = read_idx_images(dir.file("images.idx"));
  const Tensor gz = read_idx_images(dir.file("images.idx.gz"));
  CHECK(raw.shape() == Shape{3, 1, 4, 5});
  CHECK(raw.dtype() == DType::f32);
  CHECK(raw.to_vector<float>() == gz.to_vector<float>());
  const auto v = raw.to_vector<float>();
  // Image 2, row 3, col 4: (62 + 21 + 4) = 87.
  CHECK(v[2 * 20 + 3 * 5 + 4] == Approx(87.0f / 255.0f));
  CHECK(v[0] == 0.0f);

  const Tensor normalized = read_idx_images(dir.file("images.idx.gz"), {0.5f, 0.25f});
  CHECK(normalized.to_vector<float>()[2 * 20 + 3 * 5 + 4] ==
        Approx((87.0f / 255.0f - 0.5f) / 0.25f));
}

TEST_CASE("idx: label files give i64 [N]", "[datasets][idx]") {
  test::TempDir dir;
  test::write_bytes(dir.file("labels.gz"), gzip(idx_labels({3, 0, 9, 7})));
  const Tensor labels = read_idx_labels(dir.file("labels.gz"));
  CHECK(labels.dtype() == DType::i64);
  CHECK(labels.to_vector<int64_t>() == std::vector<int64_t>{3, 0, 9, 7});
}

TEST_CASE("idx: corrupt and truncated files are rejected with clear errors", "[datasets][idx]") {
  test::TempDir dir;
  const auto good = idx_images(2, 3, 3);
  const auto write_and_read = [&](const std::vector<uint8_t>& bytes) {
    test::write_bytes(dir.file("bad"), bytes);
    return read_idx_images(dir.file("bad"));
  };

  auto truncated = good;
  truncated.pop_back();
  CHECK_THROWS_WITH(write_and_read(truncated),
                    Catch::Contains("truncated") && Catch::Contains("implies 34"));
  auto padded = good;
  padded.push_back(0);
  CHECK_THROWS_WITH(write_and_read(padded), Catch::Contains("longer than declared"));
  auto bad_magic = good;
  bad_magic[0] = 1;
  CHECK_THROWS_WITH(write_and_read(bad_magic), Catch::Contains("IDX magic"));
  auto float_type = good;
  float_type[2] = 0x0D;
  CHECK_THROWS_WITH(write_and_read(float_type), Catch::Contains("f32 data (type 0x0d)"));
  CHECK_THROWS_WITH(write_and_read(idx_labels({1, 2})),
                    Catch::Contains("has 1 dims; an IDX image file has 3"));
  CHECK_THROWS_WITH(write_and_read({0, 0, 8}), Catch::Contains("too short"));
  CHECK_THROWS_WITH(write_and_read({0, 0, 8, 3, 0, 0}),
                    Catch::Contains("truncated inside its header"));

  // A gzip stream cut short, and one with a flipped byte in its compressed data or CRC.
  auto gz = gzip(good);
  auto gz_cut = std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2);
  CHECK_THROWS_WITH(write_and_read(gz_cut), Catch::Contains("truncated gzip"));
  auto gz_crc = gz;
  gz_crc[gz_crc.size() - 6] ^= 0xFF;  // inside the CRC32 of the trailer
  CHECK_THROWS_WITH(write_and_read(gz_crc), Catch::Contains("not valid gzip data"));
}

TEST_CASE("idx: a missing file names the path and the Debian package", "[datasets][idx]") {
  test::TempDir dir;
  const std::string path = dir.file("nowhere/train-images-idx3-ubyte.gz");
  CHECK_THROWS_WITH(read_idx_images(path),
                    Catch::Contains(path) && Catch::Contains("dataset-fashion-mnist"));
  CHECK_THROWS_WITH(FashionMnist::load(Split::train, false, dir.file("nowhere")),
                    Catch::Contains("nowhere/train-images-idx3-ubyte.gz") &&
                        Catch::Contains("dataset-fashion-mnist"));
  CHECK_FALSE(FashionMnist::available(dir.file("nowhere")));
}

TEST_CASE("idx: FashionMnist::load reads a directory laid out like the Debian package",
          "[datasets][idx]") {
  test::TempDir dir;
  for (Split s : {Split::train, Split::test}) {
    test::write_bytes(FashionMnist::images_path(s, dir.path().string()),
                      gzip(idx_images(4, 28, 28)));
    test::write_bytes(FashionMnist::labels_path(s, dir.path().string()),
                      gzip(idx_labels({0, 9, 2, 5})));
  }
  CHECK(FashionMnist::available(dir.path().string()));
  const TensorDataset test_set = FashionMnist::load(Split::test, true, dir.path().string());
  CHECK(test_set.size() == 4);
  CHECK(test_set.num_classes() == 10);
  CHECK(test_set.class_names()[9] == "Ankle boot");
  CHECK(test_set.inputs().to_vector<float>()[0] ==
        Approx(-FashionMnist::kMean / FashionMnist::kStd));

  // A label file that disagrees with the images, and a label out of range.
  test::write_bytes(FashionMnist::labels_path(Split::train, dir.path().string()),
                    gzip(idx_labels({1, 2})));
  CHECK_THROWS_WITH(FashionMnist::load(Split::train, false, dir.path().string()),
                    Catch::Contains("4 images") && Catch::Contains("2 labels"));
  test::write_bytes(FashionMnist::labels_path(Split::train, dir.path().string()),
                    gzip(idx_labels({1, 2, 10, 0})));
  CHECK_THROWS_WITH(FashionMnist::load(Split::train, false, dir.path().string()),
                    Catch::Contains("label 10 of example 2"));
}

TEST_CASE("idx: the real Fashion-MNIST from dataset-fashion-mnist", "[datasets][idx][real]") {
  if (!FashionMnist::available()) {
    WARN("skipped: Fashion-MNIST not found in " << FashionMnist::kDefaultDir
                                                << " (apt-get install dataset-fashion-mnist)");
    return;
  }
  const TensorDataset train = FashionMnist::load(Split::train);
  const TensorDataset test_set = FashionMnist::load(Split::test);
  CHECK(train.inputs().shape() == Shape{60000, 1, 28, 28});
  CHECK(test_set.inputs().shape() == Shape{10000, 1, 28, 28});
  CHECK(train.targets().shape() == Shape{60000});
  CHECK(test_set.targets().shape() == Shape{10000});
  CHECK(train.num_classes() == 10);
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  std::vector<int64_t> counts(10, 0);
  for (int64_t y : train.targets().to_vector<int64_t>()) ++counts.at(y);
  CHECK(counts == std::vector<int64_t>(10, 6000));
  // The documented normalisation constants are the training set's statistics.
  const float* pixels = train.inputs().data<float>();
  const int64_t count = train.inputs().numel();
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < count; ++i) {
    sum += pixels[i];
    sum_sq += static_cast<double>(pixels[i]) * pixels[i];
  }
  const double mean = sum / count;
  CHECK(mean == Approx(FashionMnist::kMean).margin(5e-4));
  CHECK(std::sqrt(sum_sq / count - mean * mean) == Approx(FashionMnist::kStd).margin(5e-4));
}
