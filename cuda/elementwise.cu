// CUDA kernels of the elementwise family (beside engine/cpu/elementwise_kernels.cpp): fill, copy
// with dtype conversion, unary, binary, where and the Adam step. Each is one strided kernel
// (launch.cuh) around the per-element math of engine/scalar_math.h, the same functors the CPU
// backend calls; operands may have any strides (a stride of 0 is a broadcast dim).
#include "cuda/launch.cuh"
#include "engine/scalar_math.h"

namespace dg::cuda {
namespace {

// The per-position bodies of the kernels (extended __device__ lambdas cannot sit inside the
// generic lambdas of the type switch, so these are plain functors).
template <class T>
struct FillAt {
  T* o;
  T v;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = v; }
};
template <class D, class S>
struct CopyAt {
  D* o;
  const S* x;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = static_cast<D>(x[off[1]]); }
};
template <class O, class T, class F>
struct UnaryAt {
  O* o;
  const T* x;
  F f;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = f(x[off[1]]); }
};
struct LogicalNot {
  __host__ __device__ bool operator()(bool x) const { return !x; }
};
template <class O, class T, class F>
struct BinaryAt {
  O* o;
  const T* a;
  const T* b;
  F f;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = f(a[off[1]], b[off[2]]); }
};
template <class T>
struct WhereAt {
  T* o;
  const bool* c;
  const T* a;
  const T* b;
  __device__ void operator()(const int64_t* off) const {
    o[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
  }
};
template <class T>
struct AdamAt {
  T* p;
  const T* g;
  T* m;
  T* v;
  math::AdamCoefficients<T> k;
  __device__ void operator()(const int64_t* off) const {
    math::adam_update(p[off[0]], g[off[1]], m[off[2]], v[off[3]], k);
  }
};

template <class O, class T, class F>
cudaError_t binary_with(cudaStream_t stream, void* out, const void* a, const void* b,
                        const StridedIndex<3>& index, int64_t n, F f) {
  return launch_strided<3>(stream, index, n,
                           BinaryAt<O, T, F>{static_cast<O*>(out), static_cast<const T*>(a),
                                             static_cast<const T*>(b), f});
}

}  // namespace

cudaError_t launch_fill(cudaStream_t stream, Elem type, void* out, const StridedIndex<1>& index,
                        int64_t n, double value) {
  return visit_elem(type, [&]<class T>() {
    return launch_strided<1>(stream, index, n,
                             FillAt<T>{static_cast<T*>(out), static_cast<T>(value)});
  });
}

cudaError_t launch_copy(cudaStream_t stream, Elem dst_type, Elem src_type, void* dst,
                        const void* src, const StridedIndex<2>& index, int64_t n) {
  return visit_elem(dst_type, [&]<class D>() {
    return visit_elem(src_type, [&]<class S>() {
      return launch_strided<2>(stream, index, n,
                               CopyAt<D, S>{static_cast<D*>(dst), static_cast<const S*>(src)});
    });
  });
}

cudaError_t launch_unary(cudaStream_t stream, UnaryOp op, Elem type, void* out, const void* in,
                         const StridedIndex<2>& index, int64_t n, double p0, double p1) {
  if (op == UnaryOp::logical_not)
    return launch_strided<2>(stream, index, n,
                             UnaryAt<bool, bool, LogicalNot>{static_cast<bool*>(out),
                                                             static_cast<const bool*>(in), {}});
  return visit_elem(type, [&]<class T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorInvalidValue;  // refused by the host side first
    } else {
      cudaError_t status = cudaErrorInvalidValue;
      math::dispatch_unary(op, p0, p1, [&](auto f) {
        status = launch_strided<2>(stream, index, n,
                                   UnaryAt<T, T, decltype(f)>{static_cast<T*>(out),
                                                              static_cast<const T*>(in), f});
      });
      return status;
    }
  });
}

cudaError_t launch_binary(cudaStream_t stream, BinaryOp op, Elem type, void* out, const void* a,
                          const void* b, const StridedIndex<3>& index, int64_t n) {
  cudaError_t status = cudaErrorInvalidValue;
  if (math::is_logical(op)) {
    math::dispatch_logical(op, [&](auto f) {
      status = binary_with<bool, bool>(stream, out, a, b, index, n, f);
    });
    return status;
  }
  visit_elem(type, [&]<class T>() {
    if (math::is_comparison(op)) {
      math::dispatch_comparison(op, [&](auto f) {
        status = binary_with<bool, T>(stream, out, a, b, index, n, f);
      });
    } else if constexpr (!std::is_same_v<T, bool>) {
      math::dispatch_arithmetic(op, [&](auto f) {
        status = binary_with<T, T>(stream, out, a, b, index, n, f);
      });
    }
    return cudaSuccess;
  });
  return status;
}

cudaError_t launch_where(cudaStream_t stream, Elem type, void* out, const void* cond,
                         const void* a, const void* b, const StridedIndex<4>& index, int64_t n) {
  return visit_elem(type, [&]<class T>() {
    return launch_strided<4>(stream, index, n,
                             WhereAt<T>{static_cast<T*>(out), static_cast<const bool*>(cond),
                                        static_cast<const T*>(a), static_cast<const T*>(b)});
  });
}

cudaError_t launch_adam(cudaStream_t stream, Elem type, void* param, const void* grad,
                        void* exp_avg, void* exp_avg_sq, const StridedIndex<4>& index, int64_t n,
                        double beta1, double beta2, double eps, double step_size,
                        double bias_correction2_sqrt) {
  return visit_floating_elem(type, [&]<class T>() {
    const auto k =
        math::adam_coefficients<T>(beta1, beta2, eps, step_size, bias_correction2_sqrt);
    return launch_strided<4>(stream, index, n,
                             AdamAt<T>{static_cast<T*>(param), static_cast<const T*>(grad),
                                       static_cast<T*>(exp_avg), static_cast<T*>(exp_avg_sq), k});
  });
}

}  // namespace dg::cuda
