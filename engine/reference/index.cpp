// Reference kernels for indexing: index_select and gather (each output element reads the input
// element its index names), scatter and index_add (each source element is written, or added, to
// the output element its index names, in row-major order, so the last of duplicate indices wins
// a plain scatter), and topk and sort (each row along `dim` is ordered with a stable sort). NaN
// counts as larger than every number, as in PyTorch. Index values were checked by the op layer.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

namespace {

// a > b, with NaN above every number (and NaNs equal to each other).
template <class T>
bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

// Calls f(index) for the multi-index of every row along `dim` of `shape`: index[dim] is 0.
template <class F>
void for_each_row(const Shape& shape, int dim, F&& f) {
  for (int64_t i = 0; i < numel(shape); ++i) {
    std::vector<int64_t> index = unravel(i, shape);
    if (index[dim] == 0) f(index);
  }
}

// Writes the first values.shape()[dim] entries of `order` (positions in the row of `in` at
// `index`) to values and indices.
template <class T>
void write_ordered_row(const Tensor& values, const Tensor& indices, const Tensor& in,
                       std::vector<int64_t> index, int dim, const std::vector<int64_t>& order) {
  std::vector<int64_t> from = index;
  for (int64_t j = 0; j < values.shape()[dim]; ++j) {
    from[dim] = order[j];
    index[dim] = j;
    at_index<T>(values, index) = at_index<T>(in, from);
    at_index<int64_t>(indices, index) = order[j];
  }
}

// The positions 0..n-1 of the row of `in` at `index`, stably sorted so that `first(a, b)` holds
// for every a placed before b.
template <class T, class First>
std::vector<int64_t> ordered_row(const Tensor& in, std::vector<int64_t> index, int dim,
                                 First first) {
  const int64_t n = in.shape()[dim];
  std::vector<T> row(n);
  for (int64_t j = 0; j < n; ++j) {
    index[dim] = j;
    row[j] = at_index<T>(in, index);
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return first(row[a], row[b]); });
  return order;
}

}  // namespace

void ReferenceBackend::index_select(const Tensor& out, const Tensor& in, int dim,
                                    const Tensor& index) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for (int64_t o = 0; o < out.numel(); ++o) {
      std::vector<int64_t> position = unravel(o, out.shape());
      position[dim] = at<int64_t>(index, position[dim]);
      element<T>(out, o) = at_index<T>(in, position);
    }
  });
}

void ReferenceBackend::gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for (int64_t o = 0; o < out.numel(); ++o) {
      std::vector<int64_t> position = unravel(o, out.shape());
      position[dim] = element<int64_t>(index, o);
      element<T>(out, o) = at_index<T>(in, position);
    }
  });
}

void ReferenceBackend::scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
                               bool accumulate) {
  visit_dtype(out.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      if (accumulate) fail("scatter_add: not defined for bool tensors");
    }
    for (int64_t i = 0; i < index.numel(); ++i) {
      std::vector<int64_t> position = unravel(i, index.shape());
      const T value = at_index<T>(src, position);
      position[dim] = element<int64_t>(index, i);
      T& target = at_index<T>(out, position);
      if constexpr (std::is_same_v<T, bool>) {
        target = value;
      } else {
        target = accumulate ? target + value : value;
      }
    }
  });
}

void ReferenceBackend::index_add(const Tensor& out, int dim, const Tensor& index,
                                 const Tensor& src) {
  visit_dtype(out.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("index_add: not defined for bool tensors");
    } else {
      for (int64_t i = 0; i < src.numel(); ++i) {
        std::vector<int64_t> position = unravel(i, src.shape());
        const T value = at_index<T>(src, position);
        position[dim] = at<int64_t>(index, position[dim]);
        at_index<T>(out, position) += value;
      }
    }
  });
}

void ReferenceBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in,
                            int64_t k, int dim, bool largest, bool sorted) {
  // The reference always returns the k in order; an unsorted result may list them in any order.
  visit_dtype(in.dtype(), [&]<class T>() {
    for_each_row(in.shape(), dim, [&](const std::vector<int64_t>& index) {
      const auto order = ordered_row<T>(
          in, index, dim, [largest](T a, T b) { return largest ? greater(a, b) : greater(b, a); });
      write_ordered_row<T>(values, indices, in, index, dim, order);
    });
  });
}

void ReferenceBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
                            bool descending) {
  visit_dtype(in.dtype(), [&]<class T>() {
    for_each_row(in.shape(), dim, [&](const std::vector<int64_t>& index) {
      const auto order = ordered_row<T>(in, index, dim, [descending](T a, T b) {
        return descending ? greater(a, b) : greater(b, a);
      });
      write_ordered_row<T>(values, indices, in, index, dim, order);
    });
  });
}

}  // namespace dg::reference
