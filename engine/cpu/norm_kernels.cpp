// CPU kernels for normalisation: layer norm forward and backward over contiguous rows, and the
// three pieces batch norm is built from (per-channel statistics, a per-channel affine map, and
// the per-channel sums its backward needs). Every kernel reads its input once or twice in memory
// order: a layer-norm row stays in cache between its passes, and a batch-norm channel is walked
// as N runs of S contiguous elements. Sums over many elements add short runs in the element type
// (vectorised by Eigen) and the run totals in double, so float statistics over a large batch keep
// float precision. Rows (layer norm) and channels (batch norm) are split over the engine's thread
// pool (engine/cpu/parallel.h).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"

namespace dg::cpu {

namespace {

template <class T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using ConstMap = Eigen::Map<const Array<T>>;
template <class T>
using MutMap = Eigen::Map<Array<T>>;

constexpr int64_t kBlock = 4096;  // elements summed in T before the total moves to double
constexpr int64_t kShortRun = 16;  // below this, a plain loop beats setting up an Eigen map

// Pointer to a tensor's data, or null for an undefined (optional) tensor.
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mutable_data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// sum of p[i] for i < n.
template <class T>
double sum_run(const T* p, int64_t n) {
  double total = 0;
  if (n < kShortRun) {
    for (int64_t i = 0; i < n; ++i) total += p[i];
    return total;
  }
  for (int64_t start = 0; start < n; start += kBlock)
    total += ConstMap<T>(p + start, std::min(kBlock, n - start)).sum();
  return total;
}

// sum of (p[i] - mu)^2 for i < n.
template <class T>
double sum_squared_deviation(const T* p, int64_t n, T mu) {
  double total = 0;
  if (n < kShortRun) {
    for (int64_t i = 0; i < n; ++i) total += double(p[i] - mu) * double(p[i] - mu);
    return total;
  }
  for (int64_t start = 0; start < n; start += kBlock)
    total += (ConstMap<T>(p + start, std::min(kBlock, n - start)) - mu).square().sum();
  return total;
}

// sum of dy[i] * (x[i] - mu) for i < n.
template <class T>
double sum_product_deviation(const T* dy, const T* x, int64_t n, T mu) {
  double total = 0;
  if (n < kShortRun) {
    for (int64_t i = 0; i < n; ++i) total += double(dy[i]) * double(x[i] - mu);
    return total;
  }
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    total += (ConstMap<T>(dy + start, len) * (ConstMap<T>(x + start, len) - mu)).sum();
  }
  return total;
}

// ---------------------------------------------------------------- layer norm

template <class T>
void layer_norm_forward(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t M,
                        int64_t N, double eps) {
  parallel_for(M, 3 * N, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      const T* row = x + m * N;
      const T mu = static_cast<T>(sum_run(row, N) / N);
      const double var = sum_squared_deviation(row, N, mu) / N;
      const T r = static_cast<T>(1.0 / std::sqrt(var + eps));
      mean[m] = mu;
      rstd[m] = r;
      ConstMap<T> xr(row, N);
      MutMap<T> o(out + m * N, N);
      if (w && b) o = (xr - mu) * r * ConstMap<T>(w, N) + ConstMap<T>(b, N);
      else if (w) o = (xr - mu) * r * ConstMap<T>(w, N);
      else if (b) o = (xr - mu) * r + ConstMap<T>(b, N);
      else o = (xr - mu) * r;
    }
  });
}

// With xhat = (x - mean) * rstd and g = dy * w (or dy), per row:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
// and over all rows dw = sum(dy * xhat), db = sum(dy). Rows are split into one chunk per thread;
// each chunk sums its dw/db into its own double buffer, and the buffers are added at the end.
template <class T>
void layer_norm_backward_rows(T* gx, T* gw, T* gb, const T* dy, const T* x, const T* mean,
                              const T* rstd, const T* w, int64_t M, int64_t N) {
  const bool parallel = M > 1 && M * N >= kParallelGrain;
  const int64_t chunks = parallel ? std::min<int64_t>(num_threads(), M) : 1;
  const bool want_wb = gw || gb;
  std::vector<double> partial(want_wb ? chunks * 2 * N : 0, 0.0);
  parallel_for(chunks, kParallelGrain, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t c = chunk_begin; c < chunk_end; ++c) {
      const int64_t row_begin = M * c / chunks, row_end = M * (c + 1) / chunks;
      for (int64_t m = row_begin; m < row_end; ++m) {
        ConstMap<T> dyr(dy + m * N, N), xr(x + m * N, N);
        const T mu = mean[m], r = rstd[m];
        if (gx) {
          MutMap<T> gxr(gx + m * N, N);
          // dx = r * g - r * mean(g) - (x - mu) * r^3 * mean(g * (x - mu)).
          if (w) {
            ConstMap<T> wr(w, N);
            const T mean_g = (dyr * wr).sum() / N;
            const T mean_g_xmu = (dyr * wr * (xr - mu)).sum() / N;
            gxr = r * (dyr * wr - mean_g) - (xr - mu) * (r * r * r * mean_g_xmu);
          } else {
            const T mean_g = dyr.sum() / N;
            const T mean_g_xmu = (dyr * (xr - mu)).sum() / N;
            gxr = r * (dyr - mean_g) - (xr - mu) * (r * r * r * mean_g_xmu);
          }
        }
        if (gw) {
          Eigen::Map<Eigen::ArrayXd> acc(partial.data() + c * 2 * N, N);
          acc += (dyr * (xr - mu) * r).template cast<double>();
        }
        if (gb) {
          Eigen::Map<Eigen::ArrayXd> acc(partial.data() + c * 2 * N + N, N);
          acc += dyr.template cast<double>();
        }
      }
    }
  });
  for (int64_t j = 0; j < N && want_wb; ++j) {
    double sw = 0, sb = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      sw += partial[c * 2 * N + j];
      sb += partial[c * 2 * N + N + j];
    }
    if (gw) gw[j] = static_cast<T>(sw);
    if (gb) gb[j] = static_cast<T>(sb);
  }
}

// ---------------------------------------------------------------- batch norm
// A [N, C, S] tensor: channel c is the N runs x[(n * C + c) * S + s], s < S.

template <class T>
void batch_norm_stats_impl(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t S) {
  const double count = static_cast<double>(N * S);
  parallel_for(C, 2 * N * S, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double total = 0;
      for (int64_t n = 0; n < N; ++n) total += sum_run(x + (n * C + c) * S, S);
      const T mu = static_cast<T>(total / count);
      double squares = 0;
      for (int64_t n = 0; n < N; ++n) squares += sum_squared_deviation(x + (n * C + c) * S, S, mu);
      mean[c] = mu;
      var[c] = static_cast<T>(squares / count);
    }
  });
}

template <class T>
void channel_affine_impl(T* out, const T* x, const T* scale, const T* shift, const T* y,
                         const T* y_scale, int64_t N, int64_t C, int64_t S) {
  if (S == 1) {  // [N, C]: each row is one element per channel, so map whole rows
    ConstMap<T> a(scale, C), b(shift, C);
    parallel_for(N, C, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        MutMap<T> o(out + n * C, C);
        if (y) o = ConstMap<T>(x + n * C, C) * a + b + ConstMap<T>(y + n * C, C) * ConstMap<T>(y_scale, C);
        else o = ConstMap<T>(x + n * C, C) * a + b;
      }
    });
    return;
  }
  parallel_for(N * C, S, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t c = nc % C;
      MutMap<T> o(out + nc * S, S);
      if (y) o = ConstMap<T>(x + nc * S, S) * scale[c] + shift[c] + ConstMap<T>(y + nc * S, S) * y_scale[c];
      else o = ConstMap<T>(x + nc * S, S) * scale[c] + shift[c];
    }
  });
}

template <class T>
void batch_norm_backward_reduce_impl(T* sum_dy, T* sum_dy_xmu, const T* dy, const T* x,
                                     const T* mean, int64_t N, int64_t C, int64_t S) {
  parallel_for(C, 2 * N * S, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double total = 0, product = 0;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t at = (n * C + c) * S;
        total += sum_run(dy + at, S);
        product += sum_product_deviation(dy + at, x + at, S, mean[c]);
      }
      sum_dy[c] = static_cast<T>(total);
      sum_dy_xmu[c] = static_cast<T>(product);
    }
  });
}

// [N, C, S] of a batch-norm operand.
struct ChannelLayout {
  int64_t N, C, S;
};
ChannelLayout channel_layout(const Tensor& t) {
  return {t.shape()[0], t.shape()[1], t.shape()[2]};
}

}  // namespace

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                            const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  visit_floating(x.dtype(), "layer_norm", [&]<class T>() {
    layer_norm_forward<T>(out.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(),
                          data_or_null<T>(weight), data_or_null<T>(bias), x.shape()[0],
                          x.shape()[1], eps);
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_input, const Tensor& grad_weight,
                                     const Tensor& grad_bias, const Tensor& grad_out,
                                     const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& weight) {
  visit_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    layer_norm_backward_rows<T>(mutable_data_or_null<T>(grad_input),
                                mutable_data_or_null<T>(grad_weight),
                                mutable_data_or_null<T>(grad_bias), grad_out.data<T>(),
                                x.data<T>(), mean.data<T>(), rstd.data<T>(),
                                data_or_null<T>(weight), x.shape()[0], x.shape()[1]);
  });
}

void CpuBackend::batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& x) {
  const ChannelLayout L = channel_layout(x);
  visit_floating(x.dtype(), "batch_norm", [&]<class T>() {
    batch_norm_stats_impl<T>(mean.data<T>(), var.data<T>(), x.data<T>(), L.N, L.C, L.S);
  });
}

void CpuBackend::channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale,
                                const Tensor& shift, const Tensor& y, const Tensor& y_scale) {
  const ChannelLayout L = channel_layout(x);
  visit_floating(x.dtype(), "batch_norm", [&]<class T>() {
    channel_affine_impl<T>(out.data<T>(), x.data<T>(), scale.data<T>(), shift.data<T>(),
                           data_or_null<T>(y), data_or_null<T>(y_scale), L.N, L.C, L.S);
  });
}

void CpuBackend::batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu,
                                            const Tensor& grad_out, const Tensor& x,
                                            const Tensor& mean) {
  const ChannelLayout L = channel_layout(x);
  visit_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    batch_norm_backward_reduce_impl<T>(sum_dy.data<T>(), sum_dy_xmu.data<T>(), grad_out.data<T>(),
                                       x.data<T>(), mean.data<T>(), L.N, L.C, L.S);
  });
}

}  // namespace dg::cpu
