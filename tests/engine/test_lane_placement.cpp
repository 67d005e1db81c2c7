// Tests of the eight-lane placement of values at increasing positions (engine/cpu/fast/lane_placement.h),
// used by the compacted PAD-Net layer's inference: against one-at-a-time stores over densities
// from one position to all of them, buffer sizes with and without a partial last chunk, blocks of
// the smallest size, and positions that all fall in the tail; that lanes without a position keep
// the buffer's values; that decreasing or repeated positions get no plan; and that the plan is
// cached on the positions' storage and rebuilt after they are written.
#include <vector>

#include "engine/cpu/fast/lane_placement.h"
#include "tests/engine/test_util.h"

using namespace dg;

namespace {

// Places `values` at `positions` of a buffer of distinct values with the plan, block by block as
// the convolution kernel does (each block's values copied to a scratch run with 8 floats of
// slack), and compares with storing them one at a time.
void check_placement(int64_t buffer_size, const std::vector<int64_t>& positions, int64_t max_block) {
  CAPTURE(buffer_size, positions.size(), max_block);
  const int64_t count = static_cast<int64_t>(positions.size());
  const Tensor positions_tensor = from_vector(positions, {count});
  const auto plan = cpu::lane_placement(positions_tensor, buffer_size, max_block);
  REQUIRE(plan);
  std::vector<float> values(count), buffer(buffer_size), expected(buffer_size);
  for (int64_t i = 0; i < count; ++i) values[i] = 1000.0f + static_cast<float>(i);
  for (int64_t j = 0; j < buffer_size; ++j) buffer[j] = expected[j] = -static_cast<float>(j);
  for (int64_t i = 0; i < count; ++i) expected[positions[i]] = values[i];

  int64_t covered = 0;
  for (size_t b = 0; b < plan->blocks.size(); ++b) {
    const auto& block = plan->blocks[b];
    REQUIRE(block.value_begin == covered);
    REQUIRE(block.value_end - block.value_begin <= max_block + 7);
    covered = block.value_end;
    std::vector<float> run(values.begin() + block.value_begin, values.begin() + block.value_end);
    run.resize(run.size() + 8, 12345.0f);  // slack the last chunk may read
    cpu::place_block(*plan, b, run.data(), buffer.data());
  }
  REQUIRE(covered == count);
  REQUIRE(buffer == expected);
}

}  // namespace

TEST_CASE("lane placement equals one-at-a-time stores", "[lane_placement]") {
  for (int64_t buffer_size : {8, 13, 64, 203, 2304, 36864 + 5}) {
    for (double density : {0.01, 0.3, 0.7, 1.0}) {
      const auto positions = test::increasing_positions(buffer_size, density, buffer_size);
      if (positions.empty()) continue;
      for (int64_t max_block : {8, 64, 512}) check_placement(buffer_size, positions, max_block);
    }
  }
  check_placement(100, {0}, 8);
  check_placement(100, {99}, 8);              // only the tail (100 = 12 chunks + 4)
  check_placement(100, {96, 97, 98, 99}, 8);  // the whole tail
  check_placement(16, {7, 8}, 8);             // one position on each side of a chunk edge
}

TEST_CASE("lane placement has no plan for positions out of order or repeated", "[lane_placement]") {
  REQUIRE_FALSE(cpu::lane_placement(from_vector(std::vector<int64_t>{3, 1, 5}, {3}), 8, 512));
  REQUIRE_FALSE(cpu::lane_placement(from_vector(std::vector<int64_t>{1, 1}, {2}), 8, 512));
  REQUIRE_FALSE(cpu::lane_placement(from_vector(std::vector<int64_t>{1, 2}, {2}), 8, 4));
}

TEST_CASE("lane placement caches its plan on the positions and rebuilds it after a write",
          "[lane_placement]") {
  Tensor positions = from_vector(std::vector<int64_t>{1, 4, 9, 20}, {4});
  const auto first = cpu::lane_placement(positions, 32, 512);
  REQUIRE(first);
  REQUIRE(cpu::lane_placement(positions, 32, 512) == first);
  REQUIRE(first->lanes == std::vector<uint8_t>{(1 << 1) | (1 << 4), 1 << 1, 1 << 4, 0});

  positions.copy_(from_vector(std::vector<int64_t>{0, 2, 3, 31}, {4}));  // bumps the version
  const auto second = cpu::lane_placement(positions, 32, 512);
  REQUIRE(second != first);
  REQUIRE(second->lanes == std::vector<uint8_t>{(1 << 0) | (1 << 2) | (1 << 3), 0, 0, 1 << 7});
  // Another buffer size is another plan.
  REQUIRE(cpu::lane_placement(positions, 36, 512) != second);
}
