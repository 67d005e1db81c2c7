// CUDA kernels of the normalisations (beside engine/cpu/norm_kernels.cpp): layer norm over the
// rows of [M, N] (one thread per row; its backward's weight and bias sums one thread per column)
// and batch norm's three per-channel pieces on [N, C, S] (one thread per channel for the sums, one
// per element for the affine map). Means and variances are the two-pass formulas in double, the
// variance the biased one, as in the reference backend.
#include <cmath>

#include "cuda/launch.cuh"

namespace dg::cuda {
namespace {

template <class T>
__global__ void layer_norm_kernel(T* out, T* mean, T* rstd, const T* x, const T* weight,
                                  const T* bias, int64_t M, int64_t N, double eps) {
  for (int64_t m = first_item(); m < M; m += item_stride()) {
    const T* row = x + m * N;
    double mu = 0;
    for (int64_t n = 0; n < N; ++n) mu += static_cast<double>(row[n]);
    mu /= static_cast<double>(N);
    double var = 0;
    for (int64_t n = 0; n < N; ++n) {
      const double d = static_cast<double>(row[n]) - mu;
      var += d * d;
    }
    var /= static_cast<double>(N);
    const double r = 1.0 / ::sqrt(var + eps);
    mean[m] = static_cast<T>(mu);
    rstd[m] = static_cast<T>(r);
    for (int64_t n = 0; n < N; ++n) {
      double y = (static_cast<double>(row[n]) - mu) * r;
      if (weight) y *= static_cast<double>(weight[n]);
      if (bias) y += static_cast<double>(bias[n]);
      out[m * N + n] = static_cast<T>(y);
    }
  }
}

// grad_input = rstd (dy_hat - mean(dy_hat) - x_hat mean(dy_hat x_hat)), dy_hat = grad_out weight.
template <class T>
__global__ void layer_norm_input_grad_kernel(T* grad_input, const T* grad_out, const T* x,
                                             const T* mean, const T* rstd, const T* weight,
                                             int64_t M, int64_t N) {
  for (int64_t m = first_item(); m < M; m += item_stride()) {
    const double mu = static_cast<double>(mean[m]), r = static_cast<double>(rstd[m]);
    double mean_dy = 0, mean_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n) {
      const double x_hat = (static_cast<double>(x[m * N + n]) - mu) * r;
      const double g = static_cast<double>(grad_out[m * N + n]);
      const double dy_hat = weight ? g * static_cast<double>(weight[n]) : g;
      mean_dy += dy_hat;
      mean_dy_xhat += dy_hat * x_hat;
    }
    mean_dy /= static_cast<double>(N);
    mean_dy_xhat /= static_cast<double>(N);
    for (int64_t n = 0; n < N; ++n) {
      const double x_hat = (static_cast<double>(x[m * N + n]) - mu) * r;
      const double g = static_cast<double>(grad_out[m * N + n]);
      const double dy_hat = weight ? g * static_cast<double>(weight[n]) : g;
      grad_input[m * N + n] = static_cast<T>(r * (dy_hat - mean_dy - x_hat * mean_dy_xhat));
    }
  }
}

// grad_weight[n] = sum_m grad_out x_hat, grad_bias[n] = sum_m grad_out.
template <class T>
__global__ void layer_norm_param_grad_kernel(T* grad_weight, T* grad_bias, const T* grad_out,
                                             const T* x, const T* mean, const T* rstd, int64_t M,
                                             int64_t N) {
  for (int64_t n = first_item(); n < N; n += item_stride()) {
    double gw = 0, gb = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double g = static_cast<double>(grad_out[m * N + n]);
      const double x_hat = (static_cast<double>(x[m * N + n]) - static_cast<double>(mean[m])) *
                           static_cast<double>(rstd[m]);
      gw += g * x_hat;
      gb += g;
    }
    if (grad_weight) grad_weight[n] = static_cast<T>(gw);
    if (grad_bias) grad_bias[n] = static_cast<T>(gb);
  }
}

template <class T>
__global__ void batch_norm_stats_kernel(T* mean, T* var, const T* x, ChannelShape s) {
  const double count = static_cast<double>(s.n * s.spatial);
  for (int64_t c = first_item(); c < s.channels; c += item_stride()) {
    double mu = 0;
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t k = 0; k < s.spatial; ++k)
        mu += static_cast<double>(x[(i * s.channels + c) * s.spatial + k]);
    mu = count > 0 ? mu / count : 0;
    double v = 0;
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t k = 0; k < s.spatial; ++k) {
        const double d = static_cast<double>(x[(i * s.channels + c) * s.spatial + k]) - mu;
        v += d * d;
      }
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(count > 0 ? v / count : 0);
  }
}

template <class T>
__global__ void channel_affine_kernel(T* out, const T* x, const T* scale, const T* shift,
                                      const T* y, const T* y_scale, ChannelShape s) {
  const int64_t total = s.n * s.channels * s.spatial;
  for (int64_t i = first_item(); i < total; i += item_stride()) {
    const int64_t c = (i / s.spatial) % s.channels;
    double v = static_cast<double>(x[i]) * static_cast<double>(scale[c]) +
               static_cast<double>(shift[c]);
    if (y) v += static_cast<double>(y[i]) * static_cast<double>(y_scale[c]);
    out[i] = static_cast<T>(v);
  }
}

template <class T>
__global__ void batch_norm_backward_reduce_kernel(T* sum_dy, T* sum_dy_xmu, const T* grad_out,
                                                  const T* x, const T* mean, ChannelShape s) {
  for (int64_t c = first_item(); c < s.channels; c += item_stride()) {
    const double mu = static_cast<double>(mean[c]);
    double dy = 0, dy_xmu = 0;
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t k = 0; k < s.spatial; ++k) {
        const int64_t at = (i * s.channels + c) * s.spatial + k;
        const double g = static_cast<double>(grad_out[at]);
        dy += g;
        dy_xmu += g * (static_cast<double>(x[at]) - mu);
      }
    sum_dy[c] = static_cast<T>(dy);
    sum_dy_xmu[c] = static_cast<T>(dy_xmu);
  }
}

template <class F>
cudaError_t launch_over(int64_t n, F&& launch) {
  if (n == 0) return cudaSuccess;
  launch(grid_for(n));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_layer_norm(cudaStream_t stream, Elem type, void* out, void* mean, void* rstd,
                              const void* x, const void* weight, const void* bias, int64_t rows,
                              int64_t cols, double eps) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_over(rows, [&](unsigned grid) {
      layer_norm_kernel<T><<<grid, kBlock, 0, stream>>>(
          static_cast<T*>(out), static_cast<T*>(mean), static_cast<T*>(rstd),
          static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
          rows, cols, eps);
    });
  });
}

cudaError_t launch_layer_norm_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       void* grad_weight, void* grad_bias, const void* grad_out,
                                       const void* x, const void* mean, const void* rstd,
                                       const void* weight, int64_t rows, int64_t cols) {
  return visit_floating_elem(type, [&]<class T>() -> cudaError_t {
    const T* g = static_cast<const T*>(grad_out);
    const T* xs = static_cast<const T*>(x);
    const T* mu = static_cast<const T*>(mean);
    const T* r = static_cast<const T*>(rstd);
    if (grad_input) {
      const cudaError_t status = launch_over(rows, [&](unsigned grid) {
        layer_norm_input_grad_kernel<T><<<grid, kBlock, 0, stream>>>(
            static_cast<T*>(grad_input), g, xs, mu, r, static_cast<const T*>(weight), rows, cols);
      });
      if (status != cudaSuccess) return status;
    }
    if (!grad_weight && !grad_bias) return cudaSuccess;
    return launch_over(cols, [&](unsigned grid) {
      layer_norm_param_grad_kernel<T><<<grid, kBlock, 0, stream>>>(
          static_cast<T*>(grad_weight), static_cast<T*>(grad_bias), g, xs, mu, r, rows, cols);
    });
  });
}

cudaError_t launch_batch_norm_stats(cudaStream_t stream, Elem type, void* mean, void* var,
                                    const void* x, const ChannelShape& shape) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_over(shape.channels, [&](unsigned grid) {
      batch_norm_stats_kernel<T><<<grid, kBlock, 0, stream>>>(
          static_cast<T*>(mean), static_cast<T*>(var), static_cast<const T*>(x), shape);
    });
  });
}

cudaError_t launch_channel_affine(cudaStream_t stream, Elem type, void* out, const void* x,
                                  const void* scale, const void* shift, const void* y,
                                  const void* y_scale, const ChannelShape& shape) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_over(shape.n * shape.channels * shape.spatial, [&](unsigned grid) {
      channel_affine_kernel<T><<<grid, kBlock, 0, stream>>>(
          static_cast<T*>(out), static_cast<const T*>(x), static_cast<const T*>(scale),
          static_cast<const T*>(shift), static_cast<const T*>(y), static_cast<const T*>(y_scale),
          shape);
    });
  });
}

cudaError_t launch_batch_norm_backward_reduce(cudaStream_t stream, Elem type, void* sum_dy,
                                              void* sum_dy_xmu, const void* grad_out,
                                              const void* x, const void* mean,
                                              const ChannelShape& shape) {
  return visit_floating_elem(type, [&]<class T>() {
    return launch_over(shape.channels, [&](unsigned grid) {
      batch_norm_backward_reduce_kernel<T><<<grid, kBlock, 0, stream>>>(
          static_cast<T*>(sum_dy), static_cast<T*>(sum_dy_xmu), static_cast<const T*>(grad_out),
          static_cast<const T*>(x), static_cast<const T*>(mean), shape);
    });
  });
}

}  // namespace dg::cuda
