// Host side of indexing.h: StridedIndex and LineIndex filled from Tensors. StridedIndex reuses the
// CPU's coalescing (engine/cpu/strided_loop.h: size-1 dims dropped, dims contiguous in every
// operand merged), so both backends walk a view through the same few dims.
#pragma once

#include <array>

#include "cuda/indexing.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cuda {

static_assert(kMaxDims == Shape::kMaxDims);

template <int N>
StridedIndex<N> strided_index(const Shape& shape, const std::array<const Tensor*, N>& operands) {
  const cpu::StridedLayout<N> L = cpu::make_layout<N>(shape, operands);
  StridedIndex<N> index;
  index.ndim = L.ndim;
  for (int d = 0; d < L.ndim; ++d) {
    index.sizes[d] = L.sizes[d];
    for (int k = 0; k < N; ++k) index.strides[k][d] = L.strides[k][d];
  }
  return index;
}

// Lines of `shape` along the dims where inner_dims[d] is true. An operand whose size at a dim is 1
// while shape's is not (a keepdim reduction's output) gets stride 0 there.
template <int N>
LineIndex<N> line_index(const Shape& shape, const bool* inner_dims,
                        const std::array<const Tensor*, N>& operands) {
  LineIndex<N> index;
  index.lines = 1;
  index.length = 1;
  for (int d = 0; d < shape.size(); ++d) {
    StridedIndex<N>& part = inner_dims[d] ? index.inner : index.outer;
    const int at = part.ndim++;
    part.sizes[at] = shape[d];
    for (int k = 0; k < N; ++k)
      part.strides[k][at] = operands[k]->shape()[d] == 1 ? 0 : operands[k]->strides()[d];
    (inner_dims[d] ? index.length : index.lines) *= shape[d];
  }
  for (StridedIndex<N>* part : {&index.outer, &index.inner})
    if (part->ndim == 0) {  // no dims: one position at offset 0
      part->ndim = 1;
      part->sizes[0] = 1;
    }
  return index;
}

// Lines along one dim.
template <int N>
LineIndex<N> line_index(const Shape& shape, int dim, const std::array<const Tensor*, N>& operands) {
  bool inner[Shape::kMaxDims] = {};
  inner[dim] = true;
  return line_index<N>(shape, inner, operands);
}

}  // namespace dg::cuda
