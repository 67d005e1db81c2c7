// The CPU's one way to walk N same-shaped strided operands: dims of size 1 are dropped, adjacent
// dims that are contiguous in every operand are merged, and the flat index space is split into
// chunks over the engine's threads (engine/cpu/parallel.h). Each chunk calls `inner(ptrs, strides, n)` on runs along the
// innermost dim, so kernels only write a 1-D loop (with a fast path for stride 1 / stride 0).
#pragma once

#include <array>
#include <cstdint>

#include "engine/cpu/parallel.h"
#include "engine/tensor.h"

namespace dg::cpu {

// Below this many elements a loop runs on one thread: the fork/join costs more than it saves.
constexpr int64_t kParallelGrain = 32768;

template <size_t N>
struct StridedLayout {
  int ndim = 0;
  int64_t sizes[Shape::kMaxDims];
  int64_t strides[N][Shape::kMaxDims];  // in elements, outermost dim first
};

template <size_t N>
StridedLayout<N> make_layout(const Shape& shape, const std::array<const Tensor*, N>& operands) {
  StridedLayout<N> layout;
  // Walk from innermost to outermost, building the coalesced dims in reverse.
  int64_t rsizes[Shape::kMaxDims], rstrides[N][Shape::kMaxDims];
  int n = 0;
  for (int d = shape.size() - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (size_t k = 0; k < N && merge; ++k)
      merge = operands[k]->strides()[d] == rstrides[k][n - 1] * rsizes[n - 1];
    if (merge) {
      rsizes[n - 1] *= shape[d];
    } else {
      rsizes[n] = shape[d];
      for (size_t k = 0; k < N; ++k) rstrides[k][n] = operands[k]->strides()[d];
      ++n;
    }
  }
  if (n == 0) {  // a single element
    rsizes[0] = 1;
    for (size_t k = 0; k < N; ++k) rstrides[k][0] = 1;
    n = 1;
  }
  layout.ndim = n;
  for (int i = 0; i < n; ++i) {
    layout.sizes[i] = rsizes[n - 1 - i];
    for (size_t k = 0; k < N; ++k) layout.strides[k][i] = rstrides[k][n - 1 - i];
  }
  return layout;
}

// Calls inner(std::array<char*, N> ptrs, std::array<int64_t, N> inner_strides, int64_t n) over
// every element of the operands (all of shape `shape`). Operand 0 is usually the output.
template <size_t N, class Inner>
void for_each_strided(const Shape& shape, const std::array<const Tensor*, N>& operands,
                      Inner&& inner) {
  const int64_t total = numel(shape);
  if (total == 0) return;
  const StridedLayout<N> L = make_layout(shape, operands);
  std::array<char*, N> base;
  std::array<int64_t, N> item;
  for (size_t k = 0; k < N; ++k) {
    base[k] = static_cast<char*>(operands[k]->raw_data());
    item[k] = static_cast<int64_t>(itemsize(operands[k]->dtype()));
  }
  const int last = L.ndim - 1;
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = L.strides[k][last];

  auto run_range = [&](int64_t begin, int64_t end) {
    // Multi-index of `begin`.
    int64_t idx[Shape::kMaxDims];
    int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % L.sizes[d];
      rem /= L.sizes[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      std::array<char*, N> ptrs;
      for (size_t k = 0; k < N; ++k) {
        int64_t off = 0;
        for (int d = 0; d <= last; ++d) off += idx[d] * L.strides[k][d];
        ptrs[k] = base[k] + off * item[k];
      }
      const int64_t n = std::min(L.sizes[last] - idx[last], end - pos);
      inner(ptrs, inner_strides, n);
      pos += n;
      idx[last] += n;
      for (int d = last; d > 0 && idx[d] == L.sizes[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  };

  const int threads = worth_splitting(total, kParallelGrain) ? num_threads() : 1;
  if (threads <= 1) {
    run_range(0, total);
    return;
  }
  // One chunk per thread; boundaries on 64-element multiples keep threads off each other's
  // cache lines.
  const int64_t chunk = ((total + threads - 1) / threads + 63) / 64 * 64;
  parallel_chunks(threads, threads, [&](int64_t c, int) {
    const int64_t begin = std::min(total, c * chunk), end = std::min(total, begin + chunk);
    if (begin < end) run_range(begin, end);
  });
}

// Splits [0, n) over the engine's threads when n * cost_per_item is large enough to pay for it.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (num_threads() <= 1 || n <= 1 || !worth_splitting(n * cost_per_item, kParallelGrain)) {
    f(int64_t{0}, n);
    return;
  }
  const int threads = num_threads();
  const int64_t chunk = (n + threads - 1) / threads;
  parallel_chunks(threads, threads, [&](int64_t c, int) {
    const int64_t begin = std::min(n, c * chunk), end = std::min(n, begin + chunk);
    if (begin < end) f(begin, end);
  });
}

}  // namespace dg::cpu
