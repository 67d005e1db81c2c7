// CUDA kernels of 2-D max and average pooling and their adjoints (beside
// engine/cpu/pool_kernels.cpp). The forward kernels take one thread per output; the backward
// kernels one thread per plane, which zeroes its plane of the gradient and then adds each output's
// share in order (overlapping windows add into the same inputs, so this needs no atomics and adds
// in the reference's order). Windows come from the host-computed table (kernels.h).
#include "cuda/launch.cuh"

namespace dg::cuda {
namespace {

struct Windows {
  const int64_t* table;
  int64_t out_h, out_w;
  __device__ int64_t row_begin(int64_t oh) const { return table[oh]; }
  __device__ int64_t row_end(int64_t oh) const { return table[out_h + oh]; }
  __device__ int64_t col_begin(int64_t ow) const { return table[2 * out_h + ow]; }
  __device__ int64_t col_end(int64_t ow) const { return table[2 * out_h + out_w + ow]; }
};

__device__ inline int64_t divisor(const Windows& w, const PoolShape& s, int64_t oh, int64_t ow) {
  if (s.fixed_divisor) return s.fixed_divisor;
  return (w.row_end(oh) - w.row_begin(oh)) * (w.col_end(ow) - w.col_begin(ow));
}

template <class T>
__global__ void max_pool_kernel(T* out, int64_t* indices, const T* x, Windows w, PoolShape s) {
  const int64_t total = s.planes * s.out_h * s.out_w;
  for (int64_t o = first_item(); o < total; o += item_stride()) {
    const int64_t ow = o % s.out_w, oh = (o / s.out_w) % s.out_h, p = o / (s.out_w * s.out_h);
    // The first maximum in row-major order; a NaN beats every number and the first NaN stays.
    T best = T(0);
    int64_t best_at = -1;
    for (int64_t h = w.row_begin(oh); h < w.row_end(oh); ++h)
      for (int64_t c = w.col_begin(ow); c < w.col_end(ow); ++c) {
        const T v = x[(p * s.in_h + h) * s.in_w + c];
        const bool better = best_at < 0 || (best == best && (v != v || v > best));
        if (better) {
          best = v;
          best_at = h * s.in_w + c;
        }
      }
    out[o] = best;
    if (indices) indices[o] = best_at;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(T* grad_input, const T* grad_out, const int64_t* indices,
                                         PoolShape s) {
  const int64_t inputs = s.in_h * s.in_w, outputs = s.out_h * s.out_w;
  for (int64_t p = first_item(); p < s.planes; p += item_stride()) {
    T* gi = grad_input + p * inputs;
    for (int64_t i = 0; i < inputs; ++i) gi[i] = T(0);
    for (int64_t o = 0; o < outputs; ++o) gi[indices[p * outputs + o]] += grad_out[p * outputs + o];
  }
}

template <class T>
__global__ void avg_pool_kernel(T* out, const T* x, Windows w, PoolShape s) {
  const int64_t total = s.planes * s.out_h * s.out_w;
  for (int64_t o = first_item(); o < total; o += item_stride()) {
    const int64_t ow = o % s.out_w, oh = (o / s.out_w) % s.out_h, p = o / (s.out_w * s.out_h);
    double sum = 0;
    for (int64_t h = w.row_begin(oh); h < w.row_end(oh); ++h)
      for (int64_t c = w.col_begin(ow); c < w.col_end(ow); ++c)
        sum += static_cast<double>(x[(p * s.in_h + h) * s.in_w + c]);
    out[o] = static_cast<T>(sum / static_cast<double>(divisor(w, s, oh, ow)));
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(T* grad_input, const T* grad_out, Windows w,
                                         PoolShape s) {
  const int64_t inputs = s.in_h * s.in_w;
  for (int64_t p = first_item(); p < s.planes; p += item_stride()) {
    T* gi = grad_input + p * inputs;
    for (int64_t i = 0; i < inputs; ++i) gi[i] = T(0);
    for (int64_t oh = 0; oh < s.out_h; ++oh)
      for (int64_t ow = 0; ow < s.out_w; ++ow) {
        const T share = static_cast<T>(
            static_cast<double>(grad_out[(p * s.out_h + oh) * s.out_w + ow]) /
            static_cast<double>(divisor(w, s, oh, ow)));
        for (int64_t h = w.row_begin(oh); h < w.row_end(oh); ++h)
          for (int64_t c = w.col_begin(ow); c < w.col_end(ow); ++c) gi[h * s.in_w + c] += share;
      }
  }
}

}  // namespace

cudaError_t launch_max_pool2d(cudaStream_t stream, Elem type, void* out, int64_t* indices,
                              const void* input, const int64_t* windows, const PoolShape& shape) {
  const int64_t total = shape.planes * shape.out_h * shape.out_w;
  if (total == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    max_pool_kernel<T><<<grid_for(total), kBlock, 0, stream>>>(
        static_cast<T*>(out), indices, static_cast<const T*>(input),
        Windows{windows, shape.out_h, shape.out_w}, shape);
    return cudaGetLastError();
  });
}

cudaError_t launch_max_pool2d_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       const void* grad_out, const int64_t* indices,
                                       const PoolShape& shape) {
  if (shape.planes == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    max_pool_backward_kernel<T><<<grid_for(shape.planes), kBlock, 0, stream>>>(
        static_cast<T*>(grad_input), static_cast<const T*>(grad_out), indices, shape);
    return cudaGetLastError();
  });
}

cudaError_t launch_avg_pool2d(cudaStream_t stream, Elem type, void* out, const void* input,
                              const int64_t* windows, const PoolShape& shape) {
  const int64_t total = shape.planes * shape.out_h * shape.out_w;
  if (total == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    avg_pool_kernel<T><<<grid_for(total), kBlock, 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(input),
        Windows{windows, shape.out_h, shape.out_w}, shape);
    return cudaGetLastError();
  });
}

cudaError_t launch_avg_pool2d_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       const void* grad_out, const int64_t* windows,
                                       const PoolShape& shape) {
  if (shape.planes == 0) return cudaSuccess;
  return visit_floating_elem(type, [&]<class T>() {
    avg_pool_backward_kernel<T><<<grid_for(shape.planes), kBlock, 0, stream>>>(
        static_cast<T*>(grad_input), static_cast<const T*>(grad_out),
        Windows{windows, shape.out_h, shape.out_w}, shape);
    return cudaGetLastError();
  });
}

}  // namespace dg::cuda
