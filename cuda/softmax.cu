// CUDA kernels of softmax, log-softmax, their backward, and the fused cross-entropy (beside
// engine/cpu/softmax_kernels.cpp). One thread per row (a softmax line along `dim`, or one position
// of the cross-entropy's [N, C, S] logits): the plain first version, correct for any strides.
// Sums accumulate in double. The target distribution of the cross-entropy is
// math::target_mass (engine/scalar_math.h), the CPU kernels' own.
#include <cmath>

#include "cuda/launch.cuh"

namespace dg::cuda {
namespace {

template <class T>
struct SoftmaxLine {
  T* out;
  const T* in;
  bool log;
  __device__ void operator()(const int64_t* base, const StridedIndex<2>& inner,
                             int64_t length) const {
    int64_t off[2];
    // The row's maximum; a NaN or +inf anywhere, or a row of only -inf, makes the row NaN.
    T shift = -INFINITY;
    bool nan_row = false;
    for (int64_t j = 0; j < length; ++j) {
      inner.offsets(j, off);
      const T x = in[base[1] + off[1]];
      if (x != x || x == T(INFINITY)) nan_row = true;
      if (x > shift) shift = x;
    }
    if (shift == T(-INFINITY)) nan_row = true;
    if (nan_row) {
      for (int64_t j = 0; j < length; ++j) {
        inner.offsets(j, off);
        out[base[0] + off[0]] = T(NAN);
      }
      return;
    }
    double total = 0;
    for (int64_t j = 0; j < length; ++j) {
      inner.offsets(j, off);
      total += static_cast<double>(math::Exp{}(in[base[1] + off[1]] - shift));
    }
    const T log_total = static_cast<T>(::log(total));
    const T inv_total = static_cast<T>(1.0 / total);
    for (int64_t j = 0; j < length; ++j) {
      inner.offsets(j, off);
      const T z = in[base[1] + off[1]] - shift;
      out[base[0] + off[0]] = log ? z - log_total : math::Exp{}(z) * inv_total;
    }
  }
};

// grad_in = y (g - sum(g y)), or for log-softmax g - exp(y) sum(g). Operands: grad_in, g, y.
template <class T>
struct SoftmaxBackwardLine {
  T* grad_in;
  const T* grad_out;
  const T* out;
  bool log;
  __device__ void operator()(const int64_t* base, const StridedIndex<3>& inner,
                             int64_t length) const {
    int64_t off[3];
    double total = 0;
    for (int64_t j = 0; j < length; ++j) {
      inner.offsets(j, off);
      const T g = grad_out[base[1] + off[1]];
      total += log ? static_cast<double>(g) : static_cast<double>(g * out[base[2] + off[2]]);
    }
    const T t = static_cast<T>(total);
    for (int64_t j = 0; j < length; ++j) {
      inner.offsets(j, off);
      const T g = grad_out[base[1] + off[1]], y = out[base[2] + off[2]];
      grad_in[base[0] + off[0]] = log ? g - math::Exp{}(y) * t : y * (g - t);
    }
  }
};

template <class T>
__device__ double weight_sum(const T* weight, int64_t classes) {
  if (!weight) return static_cast<double>(classes);
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += static_cast<double>(weight[c]);
  return sum;
}

template <class T>
__device__ math::TargetMass mass_at(const CrossEntropyShape& shape, const T* weight, int64_t t,
                                    double weights) {
  const bool ignored = t == shape.ignore_index;
  return math::target_mass(ignored, ignored || !weight ? 1.0 : static_cast<double>(weight[t]),
                           shape.label_smoothing, shape.classes, weights);
}

template <class T>
__global__ void cross_entropy_kernel(T* loss, T* lse, const T* logits, const int64_t* target,
                                     const T* weight, CrossEntropyShape shape) {
  const int64_t C = shape.classes, S = shape.positions, positions = shape.n * S;
  const double weights = weight_sum(weight, C);
  for (int64_t p = first_item(); p < positions; p += item_stride()) {
    const int64_t n = p / S, s = p % S;
    const T* x = logits + n * C * S + s;  // class c at x[c * S]
    T shift = x[0];
    for (int64_t c = 1; c < C; ++c) shift = x[c * S] > shift ? x[c * S] : shift;
    double total = 0, gaps = 0;
    for (int64_t c = 0; c < C; ++c) {
      total += static_cast<double>(math::Exp{}(x[c * S] - shift));
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      gaps += static_cast<double>(shift - x[c * S]) * w;
    }
    const double log_sum = ::log(total);
    lse[p] = shift;
    lse[positions + p] = static_cast<T>(log_sum);
    const int64_t t = target[p];
    const math::TargetMass m = mass_at(shape, weight, t, weights);
    if (m.total == 0) {
      loss[p] = T(0);
      continue;
    }
    double l = m.on_target * (static_cast<double>(shift - x[t * S]) + log_sum);
    if (m.smooth != 0) l += m.smooth * (gaps + weights * log_sum);
    loss[p] = static_cast<T>(l);
  }
}

template <class T>
__global__ void cross_entropy_backward_kernel(T* grad, const T* grad_loss, int64_t g_stride_n,
                                              int64_t g_stride_s, const T* logits, const T* lse,
                                              const int64_t* target, const T* weight,
                                              CrossEntropyShape shape) {
  const int64_t C = shape.classes, S = shape.positions, positions = shape.n * S;
  const double weights = weight_sum(weight, C);
  for (int64_t p = first_item(); p < positions; p += item_stride()) {
    const int64_t n = p / S, s = p % S;
    const T* x = logits + n * C * S + s;
    T* gx = grad + n * C * S + s;
    const int64_t t = target[p];
    const math::TargetMass m = mass_at(shape, weight, t, weights);
    const double g = static_cast<double>(grad_loss[n * g_stride_n + s * g_stride_s]);
    const T shift = lse[p], log_sum = lse[positions + p];
    for (int64_t c = 0; c < C; ++c) {
      if (m.total == 0) {
        gx[c * S] = T(0);
        continue;
      }
      const T prob = math::Exp{}((x[c * S] - shift) - log_sum);
      double v = static_cast<double>(prob) * g * m.total;
      v -= g * m.smooth * (weight ? static_cast<double>(weight[c]) : 1.0);
      if (c == t) v -= g * m.on_target;
      gx[c * S] = static_cast<T>(v);
    }
  }
}

}  // namespace

cudaError_t launch_softmax(cudaStream_t stream, Elem type, void* out, const void* in,
                           const LineIndex<2>& index, bool log) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_lines<2>(stream, index,
                           SoftmaxLine<T>{static_cast<T*>(out), static_cast<const T*>(in), log});
  });
}

cudaError_t launch_softmax_backward(cudaStream_t stream, Elem type, void* grad_in,
                                    const void* grad_out, const void* out,
                                    const LineIndex<3>& index, bool log) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_lines<3>(stream, index,
                           SoftmaxBackwardLine<T>{static_cast<T*>(grad_in),
                                                  static_cast<const T*>(grad_out),
                                                  static_cast<const T*>(out), log});
  });
}

cudaError_t launch_cross_entropy(cudaStream_t stream, Elem type, void* loss, void* lse,
                                 const void* logits, const int64_t* target, const void* weight,
                                 const CrossEntropyShape& shape) {
  const int64_t positions = shape.n * shape.positions;
  if (positions == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    cross_entropy_kernel<T><<<grid_for(positions), kBlock, 0, stream>>>(
        static_cast<T*>(loss), static_cast<T*>(lse), static_cast<const T*>(logits), target,
        static_cast<const T*>(weight), shape);
    return cudaGetLastError();
  });
}

cudaError_t launch_cross_entropy_backward(cudaStream_t stream, Elem type, void* grad_logits,
                                          const void* grad_loss, int64_t grad_loss_stride_n,
                                          int64_t grad_loss_stride_s, const void* logits,
                                          const void* lse, const int64_t* target,
                                          const void* weight, const CrossEntropyShape& shape) {
  const int64_t positions = shape.n * shape.positions;
  if (positions == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    cross_entropy_backward_kernel<T><<<grid_for(positions), kBlock, 0, stream>>>(
        static_cast<T*>(grad_logits), static_cast<const T*>(grad_loss), grad_loss_stride_n,
        grad_loss_stride_s, static_cast<const T*>(logits), static_cast<const T*>(lse), target,
        static_cast<const T*>(weight), shape);
    return cudaGetLastError();
  });
}

}  // namespace dg::cuda
