// CUDA kernels of the reductions (beside engine/cpu/reduce_kernels.cpp): sum, max and min over any
// set of dims, the arg-reductions along one dim, and the cumulative sum. One thread walks one line
// (an output position's inputs, in row-major order): the plain first version, correct for every
// layout, that a block-per-line tree reduction would replace for long lines. Floating sums
// accumulate in double, as the reference backend's do; NaN propagates through max, min and the
// arg-reductions, and the first index wins a tie.
#include <cmath>
#include <limits>
#include <type_traits>

#include "cuda/launch.cuh"

namespace dg::cuda {
namespace {

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

template <class A>
__device__ A identity(ReduceOp op) {
  if (op == ReduceOp::sum) return A(0);
  if constexpr (std::is_floating_point_v<A>) {
    return op == ReduceOp::max ? -INFINITY : INFINITY;
  } else {
    return op == ReduceOp::max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
}

template <class A>
__device__ A combine(ReduceOp op, A running, A x) {
  if (op == ReduceOp::sum) {
    if constexpr (std::is_integral_v<A>) return math::Add{}(running, x);  // wraps
    else return running + x;
  }
  if constexpr (std::is_floating_point_v<A>) {
    if (running != running || x != x) return A(NAN);
  }
  return op == ReduceOp::max ? (x > running ? x : running) : (x < running ? x : running);
}

template <class T>
struct ReduceLine {
  ReduceOp op;
  T* out;
  const T* in;
  __device__ void operator()(const int64_t* base, const StridedIndex<2>& inner,
                             int64_t length) const {
    Acc<T> acc = identity<Acc<T>>(op);
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[2];
      inner.offsets(j, off);
      acc = combine<Acc<T>>(op, acc, static_cast<Acc<T>>(in[base[1] + off[1]]));
    }
    out[base[0]] = static_cast<T>(acc);
  }
};

// Whether x replaces the best value so far: strictly better, or the first NaN (which then stays).
template <class T>
__device__ bool replaces(bool is_max, T x, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return false;
    if (x != x) return true;
  }
  return is_max ? x > best : x < best;
}

template <class T>
struct ArgReduceLine {
  bool is_max;
  T* values;
  int64_t* indices;
  const T* in;
  __device__ void operator()(const int64_t* base, const StridedIndex<3>& inner,
                             int64_t length) const {
    int64_t off[3];
    inner.offsets(0, off);
    T best = in[base[2] + off[2]];
    int64_t best_at = 0;
    for (int64_t j = 1; j < length; ++j) {
      inner.offsets(j, off);
      const T x = in[base[2] + off[2]];
      if (replaces(is_max, x, best)) {
        best = x;
        best_at = j;
      }
    }
    values[base[0]] = best;
    indices[base[1]] = best_at;
  }
};

template <class T>
struct CumsumLine {
  T* out;
  const T* in;
  __device__ void operator()(const int64_t* base, const StridedIndex<2>& inner,
                             int64_t length) const {
    Acc<T> running = 0;
    for (int64_t j = 0; j < length; ++j) {
      int64_t off[2];
      inner.offsets(j, off);
      if constexpr (std::is_integral_v<T>) running = math::Add{}(running, in[base[1] + off[1]]);
      else running += static_cast<Acc<T>>(in[base[1] + off[1]]);
      out[base[0] + off[0]] = static_cast<T>(running);
    }
  }
};

}  // namespace

cudaError_t launch_reduce(cudaStream_t stream, ReduceOp op, Elem type, void* out, const void* in,
                          const LineIndex<2>& index) {
  return visit_elem(type, [&]<class T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;
    } else {
      return launch_lines<2>(stream, index,
                             ReduceLine<T>{op, static_cast<T*>(out), static_cast<const T*>(in)});
    }
  });
}

cudaError_t launch_arg_reduce(cudaStream_t stream, bool is_max, Elem type, void* values,
                              int64_t* indices, const void* in, const LineIndex<3>& index) {
  return visit_elem(type, [&]<class T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;
    } else {
      return launch_lines<3>(stream, index,
                             ArgReduceLine<T>{is_max, static_cast<T*>(values), indices,
                                              static_cast<const T*>(in)});
    }
  });
}

cudaError_t launch_cumsum(cudaStream_t stream, Elem type, void* out, const void* in,
                          const LineIndex<2>& index) {
  return visit_elem(type, [&]<class T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;
    } else {
      return launch_lines<2>(stream, index,
                             CumsumLine<T>{static_cast<T*>(out), static_cast<const T*>(in)});
    }
  });
}

}  // namespace dg::cuda
