// How a CUDA kernel finds its elements in strided memory, shared by every kernel of cuda/: plain
// structs of sizes and strides that the host side fills from Tensors (layout.h) and passes to a
// kernel by value, and the __host__ __device__ arithmetic that turns a thread's flat number into
// element offsets. Included by nvcc and by the C++ compiler alike, so it names nothing of Tensor.
//   StridedIndex<N>: N operands of one shape (an elementwise kernel: out, a, b, ...). Offset of
//     operand k at row-major number i of the (coalesced) shape.
//   LineIndex<N>: the same shape split into "outer" dims, one line per outer position, and the
//     "inner" dims a line runs along (the reduced dims of a reduction, the dim of a softmax or
//     cumsum). A kernel takes one line per thread and walks it.
#pragma once

#include <cstdint>

#include "engine/scalar_math.h"  // DG_HOST_DEVICE

namespace dg::cuda {

constexpr int kMaxDims = 8;  // Shape::kMaxDims (checked in layout.h)

template <int N>
struct StridedIndex {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};  // in elements, outermost dim first

  DG_HOST_DEVICE void offsets(int64_t i, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t at = i % sizes[d];
      i /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += at * strides[k][d];
    }
  }
};

template <int N>
struct LineIndex {
  StridedIndex<N> outer;  // one position per line
  StridedIndex<N> inner;  // the positions along a line
  int64_t lines = 0, length = 0;
};

}  // namespace dg::cuda
