// Reference kernels for normalisation: layer norm over the rows of an [M, N] matrix with its
// backward, and the three per-channel pieces batch norm is built from on [N, C, S] tensors (the
// batch statistics, the per-channel affine map, and the two sums its backward needs). Means and
// variances are the plain two-pass formulas, in double; the variance is the biased one.
#include <cmath>
#include <vector>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

void ReferenceBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  double eps) {
  const int64_t M = x.shape()[0], N = x.shape()[1];
  visit_floating(x.dtype(), "layer_norm", [&]<class T>() {
    for (int64_t m = 0; m < M; ++m) {
      double mu = 0;
      for (int64_t n = 0; n < N; ++n) mu += at<T>(x, m, n);
      mu /= static_cast<double>(N);
      double var = 0;
      for (int64_t n = 0; n < N; ++n) var += (at<T>(x, m, n) - mu) * (at<T>(x, m, n) - mu);
      var /= static_cast<double>(N);
      const double r = 1.0 / std::sqrt(var + eps);
      at<T>(mean, m) = static_cast<T>(mu);
      at<T>(rstd, m) = static_cast<T>(r);
      for (int64_t n = 0; n < N; ++n) {
        double y = (at<T>(x, m, n) - mu) * r;
        if (weight.defined()) y *= at<T>(weight, n);
        if (bias.defined()) y += at<T>(bias, n);
        at<T>(out, m, n) = static_cast<T>(y);
      }
    }
  });
}

// With x_hat = (x - mean) rstd and dy_hat = grad_out * weight, per row:
//   grad_input = rstd (dy_hat - mean(dy_hat) - x_hat mean(dy_hat x_hat)),
// and over the rows: grad_weight = sum grad_out x_hat, grad_bias = sum grad_out.
void ReferenceBackend::layer_norm_backward(const Tensor& grad_input, const Tensor& grad_weight,
                                           const Tensor& grad_bias, const Tensor& grad_out,
                                           const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                           const Tensor& weight) {
  const int64_t M = x.shape()[0], N = x.shape()[1];
  visit_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    std::vector<double> gw(N, 0.0), gb(N, 0.0);
    for (int64_t m = 0; m < M; ++m) {
      const double mu = at<T>(mean, m), r = at<T>(rstd, m);
      double mean_dy = 0, mean_dy_xhat = 0;
      for (int64_t n = 0; n < N; ++n) {
        const double x_hat = (at<T>(x, m, n) - mu) * r;
        const double g = at<T>(grad_out, m, n);
        const double dy_hat = weight.defined() ? g * static_cast<double>(at<T>(weight, n)) : g;
        mean_dy += dy_hat;
        mean_dy_xhat += dy_hat * x_hat;
        gw[n] += g * x_hat;
        gb[n] += g;
      }
      mean_dy /= static_cast<double>(N);
      mean_dy_xhat /= static_cast<double>(N);
      if (!grad_input.defined()) continue;
      for (int64_t n = 0; n < N; ++n) {
        const double x_hat = (at<T>(x, m, n) - mu) * r;
        const double g = at<T>(grad_out, m, n);
        const double dy_hat = weight.defined() ? g * static_cast<double>(at<T>(weight, n)) : g;
        at<T>(grad_input, m, n) = static_cast<T>(r * (dy_hat - mean_dy - x_hat * mean_dy_xhat));
      }
    }
    for (int64_t n = 0; n < N; ++n) {
      if (grad_weight.defined()) at<T>(grad_weight, n) = static_cast<T>(gw[n]);
      if (grad_bias.defined()) at<T>(grad_bias, n) = static_cast<T>(gb[n]);
    }
  });
}

void ReferenceBackend::batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& x) {
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  visit_floating(x.dtype(), "batch_norm_stats", [&]<class T>() {
    const double count = static_cast<double>(N * S);
    for (int64_t c = 0; c < C; ++c) {
      double mu = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) mu += at<T>(x, n, c, s);
      mu /= count;
      double v = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) v += (at<T>(x, n, c, s) - mu) * (at<T>(x, n, c, s) - mu);
      at<T>(mean, c) = static_cast<T>(mu);
      at<T>(var, c) = static_cast<T>(v / count);
    }
  });
}

void ReferenceBackend::channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale,
                                      const Tensor& shift, const Tensor& y, const Tensor& y_scale) {
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  visit_floating(x.dtype(), "channel_affine", [&]<class T>() {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) {
          double v = static_cast<double>(at<T>(x, n, c, s)) * at<T>(scale, c) + at<T>(shift, c);
          if (y.defined()) v += static_cast<double>(at<T>(y, n, c, s)) * at<T>(y_scale, c);
          at<T>(out, n, c, s) = static_cast<T>(v);
        }
  });
}

void ReferenceBackend::batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu,
                                                  const Tensor& grad_out, const Tensor& x,
                                                  const Tensor& mean) {
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  visit_floating(x.dtype(), "batch_norm_backward_reduce", [&]<class T>() {
    for (int64_t c = 0; c < C; ++c) {
      double dy = 0, dy_xmu = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const double g = at<T>(grad_out, n, c, s);
          dy += g;
          dy_xmu += g * (at<T>(x, n, c, s) - static_cast<double>(at<T>(mean, c)));
        }
      at<T>(sum_dy, c) = static_cast<T>(dy);
      at<T>(sum_dy_xmu, c) = static_cast<T>(dy_xmu);
    }
  });
}

}  // namespace dg::reference
