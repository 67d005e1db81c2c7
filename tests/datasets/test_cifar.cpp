// CIFAR-10 binary reading: a three-record file written here, channel layout, normalisation, class
// names from batches.meta.txt, and rejection of truncated files and bad labels.
#include <catch2/catch.hpp>

#include "datasets/cifar.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

// Record r: label `labels[r]`, pixel (c, y, x) = (r * 50 + c * 70 + y + x) mod 256.
std::vector<uint8_t> cifar_records(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> b;
  for (size_t r = 0; r < labels.size(); ++r) {
    b.push_back(labels[r]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          b.push_back(static_cast<uint8_t>((r * 50 + c * 70 + y + x) % 256));
  }
  return b;
}

}  // namespace

TEST_CASE("cifar10: records become [N,3,32,32] images and i64 labels", "[datasets][cifar]") {
  test::TempDir dir;
  test::write_bytes(dir.file("data_batch_1.bin"), cifar_records({6, 9, 0}));
  const TensorDataset data = read_cifar10_binary({dir.file("data_batch_1.bin")});
  CHECK(data.inputs().shape() == Shape{3, 3, 32, 32});
  CHECK(data.targets().to_vector<int64_t>() == std::vector<int64_t>{6, 9, 0});
  CHECK(data.class_names()[6] == "frog");
  const auto v = data.inputs().to_vector<float>();
  // Record 2, channel 1 (green), y = 3, x = 5: 100 + 70 + 8 = 178.
  CHECK(v[2 * 3072 + 1 * 1024 + 3 * 32 + 5] == Approx(178.0f / 255.0f));

  const TensorDataset normalized =
      read_cifar10_binary({dir.file("data_batch_1.bin")}, kCifar10Normalization);
  CHECK(normalized.inputs().to_vector<float>()[2 * 3072 + 1 * 1024 + 3 * 32 + 5] ==
        Approx((178.0f / 255.0f - 0.4822f) / 0.2435f));
}

TEST_CASE("cifar10: load_cifar10 reads the directory layout and batches.meta.txt",
          "[datasets][cifar]") {
  test::TempDir dir;
  for (int i = 1; i <= 5; ++i)
    test::write_bytes(dir.file(fmt::format("data_batch_{}.bin", i)),
                      cifar_records({static_cast<uint8_t>(i)}));
  test::write_bytes(dir.file("test_batch.bin"), cifar_records({1, 2}));
  const TensorDataset train = load_cifar10(dir.path().string(), Split::train);
  CHECK(train.targets().to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3, 4, 5});
  CHECK(load_cifar10(dir.path().string(), Split::test).size() == 2);

  std::string meta;
  for (int i = 0; i < 10; ++i) meta += fmt::format("class{}\n", i);
  test::write_text(dir.file("batches.meta.txt"), meta + "\n");
  CHECK(load_cifar10(dir.path().string(), Split::test).class_names()[7] == "class7");
}

TEST_CASE("cifar10: truncated files and bad labels are rejected", "[datasets][cifar]") {
  test::TempDir dir;
  auto records = cifar_records({1, 2, 3});
  records.pop_back();
  test::write_bytes(dir.file("cut.bin"), records);
  CHECK_THROWS_WITH(read_cifar10_binary({dir.file("cut.bin")}), Catch::Contains("cut.bin") &&
                                                                    Catch::Contains("9218 bytes") &&
                                                                    Catch::Contains("truncated"));
  test::write_bytes(dir.file("label.bin"), cifar_records({1, 12}));
  CHECK_THROWS_WITH(read_cifar10_binary({dir.file("label.bin")}),
                    Catch::Contains("record 1: label byte 12"));
  CHECK_THROWS_WITH(load_cifar10(dir.file("absent"), Split::test),
                    Catch::Contains("test_batch.bin"));
}
