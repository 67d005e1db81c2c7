// Products with a matrix stored as its values at the positions of a mode mask: the inference
// kernel of a compacted PAD-Net layer (compact_moe.h), which multiplies only by the values the
// partition kept, so that what the partition made redundant is not computed.
//
// A mask of a rows x cols matrix, packed as a bitmask (pack_bitmask), selects positions in
// row-major order; CompressedRows lists them row by row (the positions where the bit is set, or
// where it is clear for the static part), and a value vector holds one value per listed position,
// in that order, which is exactly the order CompactPartiallyDynamicMoE stores its dynamic and
// static values in. Then
//
//   masked_matmul(x, pattern, values)[t, c] = sum over listed (r, c) of x[t, r] * value(r, c)
//
// is x [T, rows] times the matrix that is zero off the listed positions, at T * nnz multiply-adds
// (what the FLOP counter records), against T * rows * cols for the dense product.
//
// Inference only: no graph is recorded, and calling it while a graph would need its gradient is a
// dg::Error (a compacted layer being fine-tuned takes the dense path, compact_moe.h). The reference
// for its tests is the dense product with the placed matrix.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace dg::partition {

struct CompressedRows {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_starts;  // rows + 1 entries: row r's positions are [row_starts[r], row_starts[r + 1])
  std::vector<int32_t> columns;     // the column of each listed position
  int64_t nnz() const { return static_cast<int64_t>(columns.size()); }
};

// The positions of a rows x cols matrix whose bit in `bitmask` (i64 words, bit j % 64 of word
// j / 64 for flat position j) equals `set`.
CompressedRows compressed_rows(const Tensor& bitmask, int64_t rows, int64_t cols, bool set);

// x [T, rows] (f32 or f64) times the matrix of `values` ([nnz], x's dtype) at `pattern`'s positions
// -> [T, cols]. Splits the rows of x over the engine's threads.
Tensor masked_matmul(const Tensor& x, const CompressedRows& pattern, const Tensor& values);

}  // namespace dg::partition
