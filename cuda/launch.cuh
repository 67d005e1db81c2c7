// What every .cu file of the backend shares: the grid of a launch over n elements (or lines), the
// element type switch, and the grid-stride loop a strided kernel runs. nvcc only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels.h"

namespace dg::cuda {

constexpr int kBlock = 256;

// Blocks for n items of one thread each, capped: kernels loop (grid stride) past the cap.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > 65536 ? 65536 : blocks);
}

__device__ inline int64_t first_item() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t item_stride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// Calls f.template operator()<T>() with T the C++ type of `type`.
template <class F>
cudaError_t visit_elem(Elem type, F&& f) {
  switch (type) {
    case Elem::f32: return f.template operator()<float>();
    case Elem::f64: return f.template operator()<double>();
    case Elem::i64: return f.template operator()<int64_t>();
    case Elem::b8: return f.template operator()<bool>();
  }
  return cudaErrorInvalidValue;
}

// As visit_elem for the floating types; any other type is cudaErrorInvalidValue (the host side
// refuses it first, with a dg::Error naming the op).
template <class F>
cudaError_t visit_floating_elem(Elem type, F&& f) {
  switch (type) {
    case Elem::f32: return f.template operator()<float>();
    case Elem::f64: return f.template operator()<double>();
    default: return cudaErrorInvalidValue;
  }
}

// f(offsets) for each of the n positions of `index`, offsets in elements per operand.
template <int N, class F>
__global__ void strided_kernel(StridedIndex<N> index, int64_t n, F f) {
  for (int64_t i = first_item(); i < n; i += item_stride()) {
    int64_t off[N];
    index.offsets(i, off);
    f(off);
  }
}

template <int N, class F>
cudaError_t launch_strided(cudaStream_t stream, const StridedIndex<N>& index, int64_t n, F f) {
  if (n == 0) return cudaSuccess;
  strided_kernel<N><<<grid_for(n), kBlock, 0, stream>>>(index, n, f);
  return cudaGetLastError();
}

// f(line_offsets, inner_index, length) for each line of `index`: one thread per line (a line may be
// empty: an empty reduction still writes its identity).
template <int N, class F>
__global__ void line_kernel(LineIndex<N> index, F f) {
  for (int64_t line = first_item(); line < index.lines; line += item_stride()) {
    int64_t off[N];
    index.outer.offsets(line, off);
    f(off, index.inner, index.length);
  }
}

template <int N, class F>
cudaError_t launch_lines(cudaStream_t stream, const LineIndex<N>& index, F f) {
  if (index.lines == 0) return cudaSuccess;
  line_kernel<N><<<grid_for(index.lines), kBlock, 0, stream>>>(index, f);
  return cudaGetLastError();
}

}  // namespace dg::cuda
