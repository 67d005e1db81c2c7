// CPU kernels for reductions (sum, max, min over any set of dims), arg-reductions and cumsum.
// A reduction is brought to one of two 2-D layouts: rows ([K, R] contiguous: each output reduces a
// contiguous run, vectorised by Eigen) or columns ([R, K] contiguous: outputs accumulate whole
// rows, vectorised along K). Any other layout is permuted into rows with one copy. float sums add
// blocks of 4096 in float and the block sums in double, so a sum over millions of elements keeps
// float precision.
#include <Eigen/Core>
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
    const int nt = omp_get_max_threads();
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

}  // namespace dg::cpu

// PLACEHOLDER until the arg-reduction and cumsum kernels land.
namespace dg::cpu {
void CpuBackend::arg_reduce(bool, const Tensor&, const Tensor&, const Tensor&, int) { fail("arg_reduce: pending"); }
void CpuBackend::cumsum(const Tensor&, const Tensor&, int) { fail("cumsum: pending"); }
}  // namespace dg::cpu
