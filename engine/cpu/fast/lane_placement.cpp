// Eight-lane placement of values at fixed increasing positions (engine/cpu/fast/lane_placement.h).
#include "engine/cpu/fast/lane_placement.h"

#include <array>
#include <bit>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace dg::cpu {

namespace {

constexpr int64_t kLanes = 8;

// spread[mask][lane] = how many set lanes of mask lie below `lane`: the index, within a chunk's
// run of values, of the value that a set lane takes. Set lanes also carry the sign bit, which is
// what blendv selects on, and which the permutation ignores (it reads the low 3 bits), so one
// table row is both the permutation and the blend mask.
constexpr std::array<std::array<int32_t, kLanes>, 256> make_spread_table() {
  std::array<std::array<int32_t, kLanes>, 256> table{};
  for (int mask = 0; mask < 256; ++mask) {
    int32_t rank = 0;
    for (int lane = 0; lane < kLanes; ++lane) {
      const bool set = (mask >> lane) & 1;
      table[mask][lane] = set ? static_cast<int32_t>(0x80000000u | static_cast<uint32_t>(rank)) : 0;
      rank += set;
    }
  }
  return table;
}
constexpr auto kSpread = make_spread_table();

std::shared_ptr<const LanePlacement> build(const Tensor& positions, int64_t buffer_size,
                                           int64_t max_block) {
  auto plan = std::make_shared<LanePlacement>();
  plan->positions_offset = positions.offset();
  plan->count = positions.numel();
  plan->buffer_size = buffer_size;
  plan->max_block = max_block;
  plan->version = positions.version();
  const int64_t* at = positions.data<int64_t>();
  const int64_t count = positions.numel();
  if (max_block < kLanes) return nullptr;  // a block must hold a whole chunk
  for (int64_t i = 1; i < count; ++i)
    if (at[i] <= at[i - 1]) return nullptr;  // not strictly increasing

  const int64_t full_chunks = buffer_size / kLanes;  // chunks wholly inside the buffer
  plan->lanes.assign(full_chunks, 0);
  int64_t v = 0;
  for (; v < count && at[v] < full_chunks * kLanes; ++v)
    plan->lanes[at[v] / kLanes] |= static_cast<uint8_t>(1u << (at[v] % kLanes));
  // Blocks: whole chunks, closed before the chunk that would take them past max_block values.
  LanePlacement::Block block{0, 0, 0, 0};
  for (int64_t c = 0; c < full_chunks; ++c) {
    const int64_t taken = std::popcount(plan->lanes[c]);
    if (block.value_end + taken - block.value_begin > max_block) {
      plan->blocks.push_back(block);
      block = {c, c, block.value_end, block.value_end};
    }
    block.chunk_end = c + 1;
    block.value_end += taken;
  }
  // The positions in a last, partial chunk (at most 7) join the last block, stored one at a time.
  plan->tail_first_value = v;
  plan->tail_positions.assign(at + v, at + count);
  block.value_end = count;
  if (block.value_end > block.value_begin) plan->blocks.push_back(block);
  return plan;
}

}  // namespace

std::shared_ptr<const LanePlacement> lane_placement(const Tensor& positions, int64_t buffer_size,
                                                    int64_t max_block) {
  Storage& storage = *positions.storage();
  auto plan = std::dynamic_pointer_cast<const LanePlacement>(storage.derived_cache());
  if (plan && plan->positions_offset == positions.offset() && plan->count == positions.numel() &&
      plan->buffer_size == buffer_size && plan->max_block == max_block &&
      plan->version == positions.version())
    return plan;
  plan = build(positions, buffer_size, max_block);
  if (plan) storage.set_derived_cache(plan);
  return plan;
}

void place_block(const LanePlacement& plan, size_t block_index, const float* values,
                 float* buffer) {
  const LanePlacement::Block& block = plan.blocks[block_index];
  const float* run_base = values - block.value_begin;  // run_base[v] is value v
  const float* run = values;
  const uint8_t* lanes = plan.lanes.data();
  for (int64_t c = block.chunk_begin, end = block.chunk_end; c < end; ++c) {
    if (lanes[c] == 0) continue;
    const std::array<int32_t, kLanes>& spread = kSpread[lanes[c]];
    float* dst = buffer + c * kLanes;
#if defined(__AVX2__)
    const __m256i spread_and_take = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(spread.data()));
    const __m256 spread_values = _mm256_permutevar8x32_ps(_mm256_loadu_ps(run), spread_and_take);
    _mm256_storeu_ps(dst, _mm256_blendv_ps(_mm256_loadu_ps(dst), spread_values,
                                           _mm256_castsi256_ps(spread_and_take)));
#else
    for (int lane = 0; lane < kLanes; ++lane)
      if ((lanes[c] >> lane) & 1) dst[lane] = run[spread[lane] & (kLanes - 1)];
#endif
    run += std::popcount(lanes[c]);
  }
  if (block_index + 1 == plan.blocks.size()) {  // the tail belongs to the last block
    for (size_t i = 0; i < plan.tail_positions.size(); ++i)
      buffer[plan.tail_positions[i]] = run_base[plan.tail_first_value + static_cast<int64_t>(i)];
  }
}

}  // namespace dg::cpu
