// Products with a matrix stored at the positions of a mode mask (see masked_matmul.h).
#include "partition/masked_matmul.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/autograd.h"
#include "engine/cpu/parallel.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/ops.h"
#include "partition/bitmask.h"

namespace dg::partition {

CompressedRows compressed_rows(const Tensor& bitmask, int64_t rows, int64_t cols, bool set) {
  check(rows >= 0 && cols >= 0 && cols <= INT32_MAX, "compressed_rows: a {} x {} matrix", rows, cols);
  const int64_t size = rows * cols;
  check_bitmask(bitmask, size, fmt::format("compressed_rows: a {} x {} matrix", rows, cols));
  const Tensor words = bitmask.contiguous();
  const auto* w = words.data<int64_t>();
  CompressedRows out;
  out.rows = rows;
  out.cols = cols;
  out.row_starts.reserve(static_cast<size_t>(rows + 1));
  out.row_starts.push_back(0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (bit(w, r * cols + c) == set) out.columns.push_back(static_cast<int32_t>(c));
    }
    out.row_starts.push_back(out.nnz());
  }
  return out;
}

namespace {

// Tokens [first, last) of y^T += W^T x^T, one stored value at a time: value (r, c) adds
// value * x^T[r, first:last] to y^T[c, first:last], a contiguous multiply-add over the tokens
// (x^T and y^T are [rows, T] and [cols, T], so the inner loop vectorises).
template <class T>
void masked_matmul_tokens(const T* x_t, const CompressedRows& p, const T* values, T* y_t,
                          int64_t tokens, int64_t first, int64_t last) {
  const int64_t length = last - first;
  for (int64_t r = 0; r < p.rows; ++r) {
    const T* __restrict x_row = x_t + r * tokens + first;
    for (int64_t k = p.row_starts[static_cast<size_t>(r)]; k < p.row_starts[static_cast<size_t>(r + 1)]; ++k) {
      T* __restrict y_row = y_t + static_cast<int64_t>(p.columns[static_cast<size_t>(k)]) * tokens + first;
      const T value = values[k];
      for (int64_t t = 0; t < length; ++t) y_row[t] += value * x_row[t];
    }
  }
}

}  // namespace

Tensor masked_matmul(const Tensor& x, const CompressedRows& pattern, const Tensor& values) {
  check(!needs_grad(x, values),
        "masked_matmul: inference only (no gradient), but x or values require grad with grad mode on");
  check(x.dim() == 2 && x.shape()[1] == pattern.rows,
        "masked_matmul: x of shape {} for a {} x {} matrix (needs [T, {}])", x.shape(), pattern.rows,
        pattern.cols, pattern.rows);
  check(values.dim() == 1 && values.numel() == pattern.nnz() && values.dtype() == x.dtype(),
        "masked_matmul: values {} {} for {} positions of a {} x {} matrix and x of dtype {}",
        values.dtype(), values.shape(), pattern.nnz(), pattern.rows, pattern.cols, x.dtype());
  check(x.dtype() == DType::f32 || x.dtype() == DType::f64,
        "masked_matmul: dtype {} (needs f32 or f64)", x.dtype());
  check(static_cast<int64_t>(pattern.row_starts.size()) == pattern.rows + 1,
        "masked_matmul: a pattern of {} rows with {} row starts", pattern.rows, pattern.row_starts.size());
  const int64_t tokens = x.shape()[0];
  const Tensor x_t = x.transpose(0, 1).contiguous();  // [rows, T]
  Tensor y_t = zeros({pattern.cols, tokens}, x.dtype());
  const Tensor vc = values.contiguous();
  // Token ranges of 64 (each range writes its own columns of y^T: no two threads share an element).
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (tokens + kChunk - 1) / kChunk;
  const bool split = worth_splitting(tokens * pattern.nnz(), int64_t{1} << 18);
  auto run = [&]<class T>() {
    const T* xp = x_t.data<T>();
    const T* vp = vc.data<T>();
    T* yp = y_t.data<T>();
    parallel_chunks(chunks, split ? num_threads() : 1, [&](int64_t chunk, int) {
      masked_matmul_tokens<T>(xp, pattern, vp, yp, tokens, chunk * kChunk,
                              std::min(tokens, (chunk + 1) * kChunk));
    });
  };
  if (x.dtype() == DType::f32) run.template operator()<float>();
  else run.template operator()<double>();
  flops::add(tokens * pattern.nnz());
  return y_t.transpose(0, 1).contiguous();
}

}  // namespace dg::partition
