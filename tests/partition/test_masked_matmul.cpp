// masked_matmul, the compacted PAD-Net layer's inference product: x times a matrix stored as its
// values at a mask's positions equals x times the dense matrix built entry by entry here (f64 to
// 1e-12, f32 to 1e-5), the set and clear positions together give the whole matrix, the FLOP
// counter records T * nnz multiply-adds (nnz counted from the mask here), and misuse is a dg::Error.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "partition/masked_matmul.h"

using namespace dg;
using namespace dg::partition;

namespace {

// A rows x cols mask drawn with P(1) = ratio, as 0/1 values and as packed i64 words.
struct Mask {
  std::vector<int> bits;
  Tensor words;
};
Mask random_mask(int64_t rows, int64_t cols, double ratio, uint64_t seed) {
  Generator g(seed);
  Mask m;
  std::vector<int64_t> words(static_cast<size_t>((rows * cols + 63) / 64), 0);
  for (int64_t j = 0; j < rows * cols; ++j) {
    const int bit = g.next_double() < ratio ? 1 : 0;
    m.bits.push_back(bit);
    if (bit) words[static_cast<size_t>(j / 64)] |= int64_t(uint64_t{1} << (j % 64));
  }
  m.words = from_vector(words);
  return m;
}

}  // namespace

TEST_CASE("masked_matmul: equals the dense product with the matrix placed entry by entry",
          "[partition][masked_matmul]") {
  const int64_t T = 37, rows = 11, cols = 70;  // 770 positions: 13 words, the last one partial
  for (const double ratio : {0.0, 0.3, 1.0}) {
    const Mask mask = random_mask(rows, cols, ratio, 5);
    const CompressedRows dyn = compressed_rows(mask.words, rows, cols, true);
    const CompressedRows stat = compressed_rows(mask.words, rows, cols, false);
    int64_t ones = 0;
    for (int b : mask.bits) ones += b;
    CHECK(dyn.nnz() == ones);
    CHECK(stat.nnz() == rows * cols - ones);

    Generator g(9);
    const Tensor x = randn({T, rows}, g, DType::f64);
    const Tensor dyn_values = randn({dyn.nnz()}, g, DType::f64);
    const Tensor stat_values = randn({stat.nnz()}, g, DType::f64);
    // The dense matrices: the k-th set (clear) position in row-major order takes value k.
    std::vector<double> dense_dyn(static_cast<size_t>(rows * cols), 0.0), dense_stat = dense_dyn;
    int64_t kd = 0, ks = 0;
    for (int64_t j = 0; j < rows * cols; ++j) {
      if (mask.bits[static_cast<size_t>(j)]) dense_dyn[static_cast<size_t>(j)] = dyn_values.to_vector<double>()[static_cast<size_t>(kd++)];
      else dense_stat[static_cast<size_t>(j)] = stat_values.to_vector<double>()[static_cast<size_t>(ks++)];
    }
    const Tensor expected_dyn = matmul(x, from_vector(dense_dyn, {rows, cols}));
    const Tensor expected_all = matmul(x, from_vector(dense_dyn, {rows, cols}) + from_vector(dense_stat, {rows, cols}));

    const Tensor got_dyn = masked_matmul(x, dyn, dyn_values);
    const Tensor got_all = got_dyn + masked_matmul(x, stat, stat_values);
    CHECK(max(abs(got_dyn - expected_dyn)).item<double>() < 1e-12);
    CHECK(max(abs(got_all - expected_all)).item<double>() < 1e-12);

    // f32 as well.
    const Tensor got32 = masked_matmul(x.to(DType::f32), dyn, dyn_values.to(DType::f32));
    CHECK(max(abs(got32.to(DType::f64) - expected_dyn)).item<double>() < 1e-5);
  }
}

TEST_CASE("masked_matmul: the FLOP counter records T * nnz multiply-adds",
          "[partition][masked_matmul]") {
  const int64_t T = 64, rows = 48, cols = 96;
  const Mask mask = random_mask(rows, cols, 0.25, 3);
  int64_t ones = 0;
  for (int b : mask.bits) ones += b;
  const CompressedRows dyn = compressed_rows(mask.words, rows, cols, true);
  const Tensor x = ones_like(zeros({T, rows}));
  const Tensor values = ones_like(zeros({ones}));
  FlopScope scope;
  const Tensor y = masked_matmul(x, dyn, values);
  CHECK(scope.count() == T * ones);  // against T * rows * cols = 294912 for the dense product
  CHECK(ones < rows * cols / 2);
  // Every output column sums the ones of its column of the mask.
  for (int64_t c = 0; c < cols; ++c) {
    int64_t column_ones = 0;
    for (int64_t r = 0; r < rows; ++r) column_ones += mask.bits[static_cast<size_t>(r * cols + c)];
    CHECK(y.narrow(1, c, 1).narrow(0, 0, 1).item<float>() == static_cast<float>(column_ones));
  }
}

TEST_CASE("masked_matmul: misuse is a dg::Error", "[partition][masked_matmul]") {
  const Mask mask = random_mask(4, 6, 0.5, 1);
  const CompressedRows dyn = compressed_rows(mask.words, 4, 6, true);
  const Tensor values = zeros({dyn.nnz()});
  CHECK_THROWS_WITH(masked_matmul(zeros({3, 5}), dyn, values), Catch::Contains("for a 4 x 6 matrix"));
  CHECK_THROWS_WITH(masked_matmul(zeros({3, 4}), dyn, zeros({dyn.nnz() + 1})),
                    Catch::Contains("positions of a 4 x 6 matrix"));
  CHECK_THROWS_WITH(masked_matmul(zeros({3, 4}, DType::f64), dyn, values), Catch::Contains("dtype f64"));
  Tensor x = zeros({3, 4});
  x.set_requires_grad(true);
  CHECK_THROWS_WITH(masked_matmul(x, dyn, values), Catch::Contains("inference only"));
  {
    NoGradGuard no_grad;  // no graph: allowed
    CHECK(masked_matmul(x, dyn, values).shape() == Shape{3, 6});
  }
  CHECK_THROWS_WITH(compressed_rows(from_vector(std::vector<int64_t>{0}), 10, 10, true),
                    Catch::Contains("needs an i64 bitmask of 2 words"));
}
