// CPU kernels for the indexing family: gather and index_select, scatter / scatter_add and
// index_add, topk and sort. Index tensors arrive already validated by the op layer (i64, every
// value in [0, size)), so these loops never check bounds.
//
// Two loop shapes cover the first four kernels:
//  - gather-like kernels write each output element exactly once, so they are one flat strided loop
//    over the output (parallel when big). The input is "restrided" with stride 0 along `dim`: the
//    loop then hands us the address of element 0 of the indexed row, and the index adds
//    index * stride to it. index_select is a gather whose index is broadcast (stride 0) over
//    every dim but `dim`.
//  - scatter-like kernels may write one output element many times (duplicate indices), so they
//    loop over the positions off `dim`, where writes can never collide, and walk `dim` serially
//    inside each position. Threads split positions only, which keeps scatter_add and index_add
//    race-free and deterministic (and makes the last duplicate win in scatter). index_add is a
//    scatter_add whose index is broadcast like index_select's.
// topk and sort copy each row along `dim` into a scratch buffer and order index arrays over it;
// rows are split over threads. NaN orders above every number (as in PyTorch): it comes last in an
// ascending sort, first in a descending one, and counts as the largest value in topk.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

// `t` seen with `shape` (same rank as t) and t's strides, except stride `dim_stride` along `dim`.
Tensor restrided(const Tensor& t, const Shape& shape, int dim, int64_t dim_stride) {
  Shape strides = t.strides();
  strides[dim] = dim_stride;
  return make_view(t, shape, strides, t.offset());
}

// A 1-D index seen with `shape`: it varies along `dim` and is broadcast over every other dim.
Tensor broadcast_index(const Tensor& index, const Shape& shape, int dim) {
  Shape strides = Shape::filled(shape.size(), 0);
  strides[dim] = index.strides()[0];
  return make_view(index, shape, strides, index.offset());
}

// out[p] = rows[p + index[p] * dim_stride], where `rows` has stride 0 along the indexed dim.
void gather_loop(const Tensor& out, const Tensor& rows, const Tensor& index, int64_t dim_stride) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for_each_strided<3>(out.shape(), {&out, &rows, &index}, [dim_stride](auto p, auto s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* x = reinterpret_cast<const T*>(p[1]);
      const int64_t* idx = reinterpret_cast<const int64_t*>(p[2]);
      if (s[2] == 0) {  // one index for the whole run (index_select): copy a slice of one row
        const T* row = x + *idx * dim_stride;
        if (s[0] == 1 && s[1] == 1) {
          std::copy(row, row + n, o);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = row[i * s[1]];
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = x[i * s[1] + idx[i * s[2]] * dim_stride];
    });
  });
}

// For every position off `dim` of index's shape, and j along `dim`:
//   out[position, index[position, j]] = (or +=) src[position, j].
void scatter_loop(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
                  bool accumulate) {
  // An empty index writes nothing; the per-position views below would otherwise address element
  // 0 of what may be an empty storage (make_view refuses such a view).
  if (index.numel() == 0) return;
  Shape positions = index.shape();
  const int64_t count = positions[dim];
  positions[dim] = 1;
  const Tensor out_at = make_view(out, positions, out.strides(), out.offset());
  const Tensor index_at = make_view(index, positions, index.strides(), index.offset());
  const Tensor src_at = make_view(src, positions, src.strides(), src.offset());
  const int64_t out_step = out.strides()[dim], index_step = index.strides()[dim],
                src_step = src.strides()[dim];
  visit_dtype(out.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      if (accumulate) fail("scatter_add: not defined for bool tensors");
    }
    for_each_strided<3>(positions, {&out_at, &index_at, &src_at}, [=](auto p, auto s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const int64_t* idx = reinterpret_cast<const int64_t*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      auto write = [=](T& target, T value) {
        if constexpr (std::is_same_v<T, bool>) {
          target = value;
        } else {
          target = accumulate ? target + value : value;
        }
      };
      // j outside, so a run along a contiguous dim stays contiguous in the inner loop.
      for (int64_t j = 0; j < count; ++j) {
        const T* from = x + j * src_step;
        if (s[1] == 0) {  // one index for the whole run (index_add): one row of out
          T* row = o + idx[j * index_step] * out_step;
          for (int64_t i = 0; i < n; ++i) write(row[i * s[0]], from[i * s[2]]);
        } else {
          for (int64_t i = 0; i < n; ++i)
            write(o[i * s[0] + idx[i * s[1] + j * index_step] * out_step], from[i * s[2]]);
        }
      }
    });
  });
}

// ---- topk and sort ----

// a > b, with NaN above every number (and NaNs equivalent to each other).
template <class T>
bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

// Element offset of row `r` (rows numbered row-major over `rows_shape`) in a tensor with `strides`.
int64_t row_offset(int64_t r, const Shape& rows_shape, const Shape& strides) {
  int64_t offset = 0;
  for (int d = rows_shape.size() - 1; d >= 0; --d) {
    offset += (r % rows_shape[d]) * strides[d];
    r /= rows_shape[d];
  }
  return offset;
}

// Calls order_row(keys, order) for every row of `in` along `dim`: keys holds the row's values,
// order is [0, length) to be rearranged; the first values.size(dim) entries of the result are
// written to `values` and `indices`.
template <class T, class OrderRow>
void for_each_row(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
                  OrderRow order_row) {
  Shape rows_shape = in.shape();
  const int64_t length = rows_shape[dim], keep = values.shape()[dim];
  rows_shape[dim] = 1;
  const int64_t in_step = in.strides()[dim], values_step = values.strides()[dim],
                indices_step = indices.strides()[dim];
  const T* x = in.data<T>();
  T* v = values.data<T>();
  int64_t* ix = indices.data<int64_t>();
  // vector<bool> is packed; keep bools as bytes so the scratch row is a plain array.
  using Key = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
  parallel_for(numel(rows_shape), length, [&](int64_t begin, int64_t end) {
    std::vector<Key> keys(length);
    std::vector<int64_t> order(length);
    for (int64_t r = begin; r < end; ++r) {
      const T* row = x + row_offset(r, rows_shape, in.strides());
      for (int64_t i = 0; i < length; ++i) keys[i] = row[i * in_step];
      std::iota(order.begin(), order.end(), int64_t{0});
      order_row(keys, order);
      T* v_row = v + row_offset(r, rows_shape, values.strides());
      int64_t* ix_row = ix + row_offset(r, rows_shape, indices.strides());
      for (int64_t j = 0; j < keep; ++j) {
        v_row[j * values_step] = static_cast<T>(keys[order[j]]);
        ix_row[j * indices_step] = order[j];
      }
    }
  });
}

}  // namespace

void CpuBackend::gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) {
  gather_loop(out, restrided(in, index.shape(), dim, 0), index, in.strides()[dim]);
}

void CpuBackend::index_select(const Tensor& out, const Tensor& in, int dim, const Tensor& index) {
  gather_loop(out, restrided(in, out.shape(), dim, 0), broadcast_index(index, out.shape(), dim),
              in.strides()[dim]);
}

void CpuBackend::scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
                         bool accumulate) {
  scatter_loop(out, dim, index, src, accumulate);
}

void CpuBackend::index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) {
  scatter_loop(out, dim, broadcast_index(index, src.shape(), dim), src, /*accumulate=*/true);
}

void CpuBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                      int dim, bool largest, bool sorted) {
  if (values.numel() == 0) return;
  visit_dtype(in.dtype(), [&]<class T>() {
    for_each_row<T>(values, indices, in, dim, [k, largest, sorted](const auto& keys, auto& order) {
      // Ties go to the lower index, so the result never depends on the algorithm's whims.
      auto before = [&](int64_t a, int64_t b) {
        const bool a_first = largest ? greater(keys[a], keys[b]) : greater(keys[b], keys[a]);
        const bool b_first = largest ? greater(keys[b], keys[a]) : greater(keys[a], keys[b]);
        return a_first || (!b_first && a < b);
      };
      if (sorted) {
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      } else {
        std::nth_element(order.begin(), order.begin() + k, order.end(), before);
      }
    });
  });
}

void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
                      bool descending) {
  if (values.numel() == 0) return;
  visit_dtype(in.dtype(), [&]<class T>() {
    for_each_row<T>(values, indices, in, dim, [descending](const auto& keys, auto& order) {
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return descending ? greater(keys[a], keys[b]) : greater(keys[b], keys[a]);
      });
    });
  });
}

}  // namespace dg::cpu
