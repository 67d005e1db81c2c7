// The bitmask a compacted partially dynamic layer stores its mode mask as: a 0/1 mask of any shape,
// read row-major, packed 64 positions per i64 word (bit j % 64 of word j / 64). One byte holds
// eight positions, so a model's mask costs 1/32 of the float it marks (partition/compaction.h,
// compact_moe.h); the products that read it (masked_matmul.h) decode it through `bit` below.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace dg::partition {

// Packs a 0/1 mask (any shape, row-major) into i64 [ceil(numel / 64)]; a nonzero value is a 1.
Tensor pack_bitmask(const Tensor& mask);

// The positions (ascending flat indices among the first `size`) whose bit is set (`set` true) or
// clear (false), as i64 [count]. Throws dg::Error when `bitmask` is not i64 [>= ceil(size / 64)].
Tensor bitmask_positions(const Tensor& bitmask, int64_t size, bool set);

// Position j of packed words `words`.
inline bool bit(const int64_t* words, int64_t j) {
  return (static_cast<uint64_t>(words[j / 64]) >> (j % 64)) & 1u;
}

// Checks that `bitmask` can hold `size` positions: i64, one dimension, >= ceil(size / 64) words;
// `what` names the caller in the error ("compressed_rows: a 3 x 4 matrix").
void check_bitmask(const Tensor& bitmask, int64_t size, const std::string& what);

}  // namespace dg::partition
