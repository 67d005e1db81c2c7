// partition/bitmask.h: packing a mode mask 64 positions per word, reading positions back, and the
// error for a bitmask too short for its matrix.
#include <catch2/catch.hpp>

#include <vector>

#include "engine/error.h"
#include "engine/ops/ops.h"
#include "partition/bitmask.h"

using namespace dg;
using namespace dg::partition;

TEST_CASE("bitmask: packing a 130-position mask and reading its set and clear positions back") {
  std::vector<double> mask(130, 0.0);
  std::vector<int64_t> set_positions, clear_positions;
  for (int64_t j = 0; j < 130; ++j) {
    const bool on = j % 3 == 0 || j == 63 || j == 64 || j == 129;  // word edges included
    mask[static_cast<size_t>(j)] = on ? 1.0 : 0.0;
    (on ? set_positions : clear_positions).push_back(j);
  }
  const Tensor words = pack_bitmask(from_vector(mask, {10, 13}));
  REQUIRE(words.shape() == Shape{3});
  CHECK(bitmask_positions(words, 130, true).to_vector<int64_t>() == set_positions);
  CHECK(bitmask_positions(words, 130, false).to_vector<int64_t>() == clear_positions);
  const std::vector<int64_t> w = words.to_vector<int64_t>();
  for (int64_t j = 0; j < 130; ++j) CHECK(bit(w.data(), j) == (mask[static_cast<size_t>(j)] != 0.0));
}

TEST_CASE("bitmask: a bitmask too short, or not i64, is an error naming the caller and sizes") {
  const Tensor two_words = pack_bitmask(ones({100}));
  CHECK_THROWS_WITH(bitmask_positions(two_words, 129, true),
                    Catch::Contains("bitmask_positions needs an i64 bitmask of 3 words for 129 positions"));
  CHECK_THROWS_WITH(bitmask_positions(ones({3}), 100, true), Catch::Contains("got f32 [3]"));
  CHECK_THROWS_WITH(bitmask_positions(Tensor(), 10, true), Catch::Contains("undefined"));
}
