// Storing values at fixed positions of a float buffer, eight lanes at a time: the compacted PAD-Net
// layer's inference (kernel_mixture_conv2d with a base kernel) mixes D values per sample and
// stores them at the same D positions of the sample's kernel, every sample.
//
// One value at a time, those stores cost more than the mixing they follow (about 2.5 cycles each
// for 11059 unstructured positions of a 64 x 64 x 3 x 3 kernel; AVX2 has no scatter). Positions in
// increasing order make each 8-float chunk of the kernel take a contiguous run of the values, so a
// chunk is filled with one load of the run, one permutation that spreads it to the chunk's
// dynamic lanes, and one blend that keeps the base values in the others. The plan (a lane mask per
// chunk) depends only on the positions, so it is built once and cached on the positions tensor's
// Storage, checked against its version.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace dg::cpu {

struct LanePlacement final : DerivedData {
  // lanes[c] describes the 8-float chunk [8c, 8c + 8) of the buffer: lane l is set when 8c + l is
  // a position. Chunk by chunk, the set lanes take the next values in lane order, so a chunk's
  // run of values starts where the previous chunk's ended. One byte per whole chunk of the buffer.
  std::vector<uint8_t> lanes;
  // Chunks [chunk_begin, chunk_end) take values [value_begin, value_end): blocks of at most
  // max_block values (plus the tail, in the last block) that start on a chunk, so a block of
  // values can be mixed, then placed.
  struct Block {
    int64_t chunk_begin, chunk_end, value_begin, value_end;
  };
  std::vector<Block> blocks;
  // Positions in a last chunk that runs past the buffer's end, stored one at a time:
  // value tail_first_value + i goes to tail_positions[i].
  std::vector<int64_t> tail_positions;
  int64_t tail_first_value = 0;
  // What the plan was built from.
  int64_t positions_offset = 0, count = 0, buffer_size = 0, max_block = 0;
  uint64_t version = 0;
};

// The plan for `positions` (i64, 1-D) in a buffer of buffer_size floats, from the positions'
// cache or built and cached now; nullptr when the positions are not strictly increasing or
// max_block < 8 (the caller then stores one value at a time). Positions must be in range.
std::shared_ptr<const LanePlacement> lane_placement(const Tensor& positions, int64_t buffer_size,
                                                    int64_t max_block);

// buffer[position of value v] = values[v - block.value_begin] for the values of
// plan.blocks[block_index]. `values` must be readable 7 floats past the block's last value (a
// chunk loads 8). A block holds at most max_block + 7 values (the tail joins the last one).
void place_block(const LanePlacement& plan, size_t block_index, const float* values,
                 float* buffer);

}  // namespace dg::cpu
