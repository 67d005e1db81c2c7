// Reference kernels for reductions: sum, max and min over any set of dims, the arg-reductions
// (max or min along one dim with the index where it occurs) and the cumulative sum. Each visits
// the input once in row-major order and accumulates into the output position it belongs to;
// floating sums accumulate in double. NaN propagates through max, min and the arg-reductions, as
// in PyTorch.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

namespace {

// The accumulator of a T: double for floating types, T itself for integers.
template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

template <class A>
A identity(ReduceOp op) {
  if (op == ReduceOp::sum) return A(0);
  if constexpr (std::is_floating_point_v<A>) {
    return op == ReduceOp::max ? -std::numeric_limits<A>::infinity()
                               : std::numeric_limits<A>::infinity();
  } else {
    return op == ReduceOp::max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
}

template <class A>
A combine(ReduceOp op, A running, A x) {
  if (op == ReduceOp::sum) return running + x;
  if constexpr (std::is_floating_point_v<A>) {
    if (std::isnan(running) || std::isnan(x)) return std::numeric_limits<A>::quiet_NaN();
  }
  return op == ReduceOp::max ? (x > running ? x : running) : (x < running ? x : running);
}

// The row-major number of `index` in `shape`.
int64_t ravel(const std::vector<int64_t>& index, const Shape& shape) {
  int64_t flat = 0;
  for (int d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

// Whether x replaces the best value so far: strictly better (so the first index wins a tie), or
// the first NaN (which then stays).
template <class T>
bool replaces(bool is_max, T x, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(best)) return false;
    if (std::isnan(x)) return true;
  }
  return is_max ? x > best : x < best;
}

}  // namespace

void ReferenceBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("reduce: bool tensors must be converted before reducing");
    } else {
      std::vector<Acc<T>> acc(out.numel(), identity<Acc<T>>(op));
      for (int64_t i = 0; i < in.numel(); ++i) {
        std::vector<int64_t> index = unravel(i, in.shape());
        for (int d = 0; d < in.dim(); ++d)
          if (out.shape()[d] == 1) index[d] = 0;  // a reduced dim: every index lands on 0
        Acc<T>& a = acc[ravel(index, out.shape())];
        a = combine<Acc<T>>(op, a, static_cast<Acc<T>>(element<T>(in, i)));
      }
      for (int64_t o = 0; o < out.numel(); ++o) element<T>(out, o) = static_cast<T>(acc[o]);
    }
  });
}

void ReferenceBackend::arg_reduce(bool is_max, const Tensor& values, const Tensor& indices,
                                  const Tensor& in, int dim) {
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("arg_reduce: bool tensors must be converted before reducing");
    } else {
      // One result per position of the keepdim output; walk `dim` from 0.
      for (int64_t o = 0; o < values.numel(); ++o) {
        std::vector<int64_t> index = unravel(o, values.shape());
        index[dim] = 0;
        T best = at_index<T>(in, index);
        int64_t best_at = 0;
        for (int64_t k = 1; k < in.shape()[dim]; ++k) {
          index[dim] = k;
          const T x = at_index<T>(in, index);
          if (replaces(is_max, x, best)) {
            best = x;
            best_at = k;
          }
        }
        element<T>(values, o) = best;
        element<int64_t>(indices, o) = best_at;
      }
    }
  });
}

void ReferenceBackend::cumsum(const Tensor& out, const Tensor& in, int dim) {
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("cumsum: bool tensors must be converted before summing");
    } else {
      // Every position with index 0 along `dim` starts one running sum.
      for (int64_t i = 0; i < in.numel(); ++i) {
        std::vector<int64_t> index = unravel(i, in.shape());
        if (index[dim] != 0) continue;
        Acc<T> running = 0;
        for (int64_t k = 0; k < in.shape()[dim]; ++k) {
          index[dim] = k;
          running += static_cast<Acc<T>>(at_index<T>(in, index));
          at_index<T>(out, index) = static_cast<T>(running);
        }
      }
    }
  });
}

}  // namespace dg::reference
