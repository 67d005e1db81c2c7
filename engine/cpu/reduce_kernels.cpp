// CPU kernels for reductions (sum, max, min over any set of dims), arg-reductions and cumsum.
// A reduction is brought to one of two 2-D layouts: rows ([K, R] contiguous: each output reduces a
// contiguous run, vectorised by Eigen) or columns ([R, K] contiguous: outputs accumulate whole
// rows, vectorised along K). Any other layout is permuted into rows with one copy. float sums add
// blocks of 4096 in float and the block sums in double, so a sum over millions of elements keeps
// float precision. arg_reduce and cumsum work along one dim and see the tensor as
// [outer, n, inner]: each task keeps a running value per column of a block of `inner` and walks
// the n rows in memory order, which is a plain row scan when the dim is the last one.
#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

constexpr int64_t kBlock = 4096;

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

template <class T>
T identity(ReduceOp op) {
  if (op == ReduceOp::sum) return T(0);
  if constexpr (std::is_floating_point_v<T>) {
    return op == ReduceOp::max ? -std::numeric_limits<T>::infinity()
                               : std::numeric_limits<T>::infinity();
  } else {
    return op == ReduceOp::max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
}

template <class T>
T combine(ReduceOp op, T a, T b) {
  if (op == ReduceOp::sum) return a + b;
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a || b != b) return std::numeric_limits<T>::quiet_NaN();  // NaN propagates
  }
  return op == ReduceOp::max ? (a > b ? a : b) : (a < b ? a : b);
}

// Reduces one contiguous run of n elements.
template <class T>
T reduce_run(ReduceOp op, const T* p, int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (n == 0) return identity<T>(op);
  if (op == ReduceOp::sum) {
    Acc<T> total = 0;
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t len = std::min(kBlock, n - start);
      total += Eigen::Map<const Array>(p + start, len).sum();
    }
    return static_cast<T>(total);
  }
  T r = identity<T>(op);
  for (int64_t i = 0; i < n; ++i) r = combine(op, r, p[i]);
  return r;
}

template <class T>
void reduce_rows(ReduceOp op, T* out, const T* in, int64_t K, int64_t R) {
  if (K == 1 && R >= 2 * kParallelGrain) {
    // One output over a long run: split the run over threads and combine the partials.
    const int nt = num_threads();
    std::vector<T> partial(nt, identity<T>(op));
    parallel_for(nt, kParallelGrain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t chunk = (R + nt - 1) / nt, start = std::min(R, t * chunk);
        partial[t] = reduce_run(op, in + start, std::min(chunk, R - start));
      }
    });
    T r = partial[0];
    for (int t = 1; t < nt; ++t) r = combine(op, r, partial[t]);
    *out = r;
    return;
  }
  parallel_for(K, R, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) out[k] = reduce_run(op, in + k * R, R);
  });
}

template <class T>
void reduce_columns(ReduceOp op, T* out, const T* in, int64_t R, int64_t K) {
  parallel_for(K, R, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) out[k] = identity<T>(op);
    for (int64_t r = 0; r < R; ++r) {
      const T* row = in + r * K;
      if (op == ReduceOp::sum) {
        for (int64_t k = b; k < e; ++k) out[k] += row[k];
      } else {
        for (int64_t k = b; k < e; ++k) out[k] = combine(op, out[k], row[k]);
      }
    }
  });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  // Kept dims first, then reduced dims; dims of size 1 matter to neither.
  Shape perm;
  int64_t K = 1, R = 1;
  int first_kept = in.dim(), last_reduced = -1;
  for (int d = 0; d < in.dim(); ++d) {
    const bool reduced = out.shape()[d] == 1 && in.shape()[d] != 1;
    if (!reduced) {
      perm.push_back(d);
      K *= in.shape()[d];
      if (in.shape()[d] != 1 && first_kept == in.dim()) first_kept = d;
    } else {
      last_reduced = d;
    }
  }
  for (int d = 0; d < in.dim(); ++d)
    if (out.shape()[d] == 1 && in.shape()[d] != 1) {
      perm.push_back(d);
      R *= in.shape()[d];
    }
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("reduce: bool tensors must be converted before reducing");
    } else {
      T* o = out.data<T>();
      if (in.is_contiguous() && last_reduced < first_kept && K > 1 && R > 1) {
        reduce_columns(op, o, in.data<T>(), R, K);
        return;
      }
      Shape shape, strides;
      for (int64_t d : perm) {
        shape.push_back(in.shape()[d]);
        strides.push_back(in.strides()[d]);
      }
      Tensor rows = make_view(in, shape, strides, in.offset());
      if (!rows.is_contiguous()) {
        Tensor c = Tensor::empty(shape, rows.dtype(), rows.device());
        copy(c, rows);
        rows = c;
      }
      reduce_rows(op, o, rows.data<T>(), K, R);
    }
  });
}

// ---------------------------------------------------------------- arg_reduce and cumsum

namespace {

// A tensor seen as [outer, n, inner] around one dim: `outer` the product of the sizes before the
// dim, `n` its size, `inner` the product of the sizes after it.
struct AroundDim {
  int64_t outer = 1, n = 1, inner = 1;
};

AroundDim around_dim(const Shape& shape, int dim) {
  AroundDim s;
  for (int d = 0; d < shape.size(); ++d) {
    if (d < dim) s.outer *= shape[d];
    if (d > dim) s.inner *= shape[d];
  }
  s.n = shape[dim];
  return s;
}

// Columns of `inner` handled by one task: enough to keep a cache line busy, few enough that the
// running values stay in L1.
constexpr int64_t kColumnBlock = 256;

// Calls f(o, c0, c1) for every outer index o and block [c0, c1) of inner columns, in parallel over
// (o, block) tasks when there is enough work. f walks k = 0..n-1 itself, keeping one running value
// per column, so memory is read in order whatever the dim: with inner == 1 it is a row scan.
template <class F>
void for_each_column_block(const AroundDim& s, F&& f) {
  const int64_t blocks = (s.inner + kColumnBlock - 1) / kColumnBlock;
  parallel_for(s.outer * blocks, s.n * std::min(s.inner, kColumnBlock), [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / blocks, c0 = (task % blocks) * kColumnBlock;
      f(o, c0, std::min(s.inner, c0 + kColumnBlock));
    }
  });
}

// Whether v replaces the running best: strictly better, so the first index wins ties; a NaN
// replaces any number and is never replaced, so NaN propagates (PyTorch's semantics).
template <bool IsMax, class T>
inline bool replaces(T v, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (v != v) return best == best;
  }
  return IsMax ? v > best : v < best;
}

// values and indices are [outer, 1, inner] contiguous; in is [outer, n, inner] contiguous.
template <bool IsMax, class T>
void arg_reduce_contiguous(T* values, int64_t* indices, const T* in, const AroundDim& s) {
  for_each_column_block(s, [&](int64_t o, int64_t c0, int64_t c1) {
    const T* slab = in + o * s.n * s.inner;
    if (s.inner == 1) {  // one contiguous row
      T best = slab[0];
      int64_t at = 0;
      for (int64_t k = 1; k < s.n; ++k)
        if (replaces<IsMax>(slab[k], best)) {
          best = slab[k];
          at = k;
        }
      values[o] = best;
      indices[o] = at;
      return;
    }
    // Running values in local arrays (which cannot alias `in`) and a branch-free update, so the
    // column loop vectorises.
    const int64_t width = c1 - c0;
    T best[kColumnBlock];
    int64_t at[kColumnBlock];
    for (int64_t c = 0; c < width; ++c) {
      best[c] = slab[c0 + c];
      at[c] = 0;
    }
    for (int64_t k = 1; k < s.n; ++k) {
      const T* row = slab + k * s.inner + c0;
      for (int64_t c = 0; c < width; ++c) {
        const bool take = replaces<IsMax>(row[c], best[c]);
        best[c] = take ? row[c] : best[c];
        at[c] = take ? k : at[c];
      }
    }
    std::copy(best, best + width, values + o * s.inner + c0);
    std::copy(at, at + width, indices + o * s.inner + c0);
  });
}

// out and in are [outer, n, inner] contiguous and may be the same buffer. float sums run in double.
template <class T>
void cumsum_contiguous(T* out, const T* in, const AroundDim& s) {
  for_each_column_block(s, [&](int64_t o, int64_t c0, int64_t c1) {
    const int64_t base = o * s.n * s.inner;
    if (s.inner == 1) {  // one contiguous row
      Acc<T> running = 0;
      for (int64_t k = 0; k < s.n; ++k) {
        running += in[base + k];
        out[base + k] = static_cast<T>(running);
      }
      return;
    }
    Acc<T> running[kColumnBlock] = {};
    for (int64_t k = 0; k < s.n; ++k) {
      const T* src = in + base + k * s.inner + c0;
      T* dst = out + base + k * s.inner + c0;
      for (int64_t c = 0; c < c1 - c0; ++c) {
        running[c] += src[c];
        dst[c] = static_cast<T>(running[c]);
      }
    }
  });
}

}  // namespace

void CpuBackend::arg_reduce(bool is_max, const Tensor& values, const Tensor& indices,
                            const Tensor& in, int dim) {
  // Other layouts (transposed, broadcast) are copied once into [outer, n, inner] order.
  Tensor src = in;
  if (!src.is_contiguous()) {
    src = Tensor::empty(in.shape(), in.dtype(), in.device());
    copy(src, in);
  }
  const AroundDim s = around_dim(in.shape(), dim);
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("arg_reduce: bool tensors must be converted before reducing");
    } else if (is_max) {
      arg_reduce_contiguous<true>(values.data<T>(), indices.data<int64_t>(), src.data<T>(), s);
    } else {
      arg_reduce_contiguous<false>(values.data<T>(), indices.data<int64_t>(), src.data<T>(), s);
    }
  });
}

void CpuBackend::cumsum(const Tensor& out, const Tensor& in, int dim) {
  // A strided input is copied into `out` first and summed there in place.
  const bool in_place = !in.is_contiguous();
  if (in_place) copy(out, in);
  const AroundDim s = around_dim(in.shape(), dim);
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("cumsum: bool tensors must be converted before summing");
    } else {
      cumsum_contiguous(out.data<T>(), in_place ? out.data<T>() : in.data<T>(), s);
    }
  });
}

}  // namespace dg::cpu
