// How the reference kernels reach one element of a strided tensor: by its multi-index
// (at<T>(t, i, j, k) = the element t[i][j][k], whatever t's strides) or by its row-major number
// (element<T>(t, flat)). Every reference kernel is written with these two, so none of them needs
// to know how a view is laid out in memory; it is the slowest way to walk a tensor and the
// plainest.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace dg::reference {

// Offset (in elements, from t's first element) of the element whose row-major number in t's shape
// is `flat`.
inline int64_t offset_of(const Tensor& t, int64_t flat) {
  int64_t offset = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    offset += (flat % t.shape()[d]) * t.strides()[d];
    flat /= t.shape()[d];
  }
  return offset;
}

// The element with row-major number `flat`.
template <class T>
T& element(const Tensor& t, int64_t flat) {
  return t.data<T>()[offset_of(t, flat)];
}

// The element at multi-index (i0, i1, ...); one index per dim of t.
template <class T, class... Index>
T& at(const Tensor& t, Index... index) {
  const int64_t idx[] = {static_cast<int64_t>(index)...};
  int64_t offset = 0;
  for (size_t d = 0; d < sizeof...(Index); ++d) offset += idx[d] * t.strides()[d];
  return t.data<T>()[offset];
}

// The multi-index of row-major number `flat` in `shape`.
inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int d = shape.size() - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

// The element at a multi-index given as a vector.
template <class T>
T& at_index(const Tensor& t, const std::vector<int64_t>& index) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) offset += index[d] * t.strides()[d];
  return t.data<T>()[offset];
}

}  // namespace dg::reference
