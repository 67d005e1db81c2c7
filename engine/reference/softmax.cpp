// Reference kernels for softmax and cross-entropy: softmax and log-softmax along one dim with
// their vector-Jacobian products, and the cross-entropy of logits against class targets (with
// per-class weights, an ignored index and label smoothing) with its gradient. Each row is shifted
// by its maximum before exp, which changes nothing mathematically and keeps exp in range.
// Accumulation is in double.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

namespace {

// Calls f(index) for the multi-index of every row along `dim` of `shape`: index[dim] is 0.
template <class F>
void for_each_row(const Shape& shape, int dim, F&& f) {
  for (int64_t i = 0; i < numel(shape); ++i) {
    std::vector<int64_t> index = unravel(i, shape);
    if (index[dim] == 0) f(index);
  }
}

// max(a, b), NaN if either is NaN.
double nan_max(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? std::numeric_limits<double>::quiet_NaN() : std::max(a, b);
}

}  // namespace

void ReferenceBackend::softmax(const Tensor& out, const Tensor& in, int dim, bool log) {
  const int64_t n = in.shape()[dim];
  visit_floating(in.dtype(), "softmax", [&]<class T>() {
    for_each_row(in.shape(), dim, [&](std::vector<int64_t> index) {
      std::vector<double> x(n);
      double shift = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        index[dim] = j;
        x[j] = static_cast<double>(at_index<T>(in, index));
        shift = nan_max(shift, x[j]);
      }
      // A row holding NaN or +inf, or only -inf, makes x - shift NaN somewhere and the row NaN.
      double total = 0;
      for (int64_t j = 0; j < n; ++j) total += std::exp(x[j] - shift);
      for (int64_t j = 0; j < n; ++j) {
        index[dim] = j;
        const double y = log ? (x[j] - shift) - std::log(total) : std::exp(x[j] - shift) / total;
        at_index<T>(out, index) = static_cast<T>(y);
      }
    });
  });
}

// softmax:      grad_in = y (g - sum_j g_j y_j)
// log_softmax:  grad_in = g - exp(y) sum_j g_j
void ReferenceBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out,
                                        const Tensor& out, int dim, bool log) {
  const int64_t n = out.shape()[dim];
  visit_floating(out.dtype(), "softmax_backward", [&]<class T>() {
    for_each_row(out.shape(), dim, [&](std::vector<int64_t> index) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        index[dim] = j;
        const double g = static_cast<double>(at_index<T>(grad_out, index));
        sum += log ? g : g * static_cast<double>(at_index<T>(out, index));
      }
      for (int64_t j = 0; j < n; ++j) {
        index[dim] = j;
        const double g = static_cast<double>(at_index<T>(grad_out, index));
        const double y = static_cast<double>(at_index<T>(out, index));
        at_index<T>(grad_in, index) = static_cast<T>(log ? g - std::exp(y) * sum : y * (g - sum));
      }
    });
  });
}

namespace {

// The target distribution of one position: T_c = (1 - smoothing) w[t] [c == t] + smoothing w[c] / C
// (w = the class weights, or ones), all zero at an ignored position.
template <class T>
std::vector<double> target_distribution(const Backend::CrossEntropyTarget& spec, int64_t t,
                                        int64_t C) {
  std::vector<double> dist(C, 0.0);
  if (t == spec.ignore_index) return dist;
  auto w = [&](int64_t c) {
    return spec.weight.defined() ? static_cast<double>(spec.weight.data<T>()[c]) : 1.0;
  };
  for (int64_t c = 0; c < C; ++c) dist[c] = spec.label_smoothing * w(c) / static_cast<double>(C);
  dist[t] += (1.0 - spec.label_smoothing) * w(t);
  return dist;
}

}  // namespace

void ReferenceBackend::cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                                     const CrossEntropyTarget& spec) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1], S = logits.shape()[2];
  visit_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        double shift = -std::numeric_limits<double>::infinity();
        for (int64_t c = 0; c < C; ++c) shift = nan_max(shift, at<T>(logits, n, c, s));
        double total = 0;
        for (int64_t c = 0; c < C; ++c) total += std::exp(at<T>(logits, n, c, s) - shift);
        const double log_sum = std::log(total);
        at<T>(lse, 0, n, s) = static_cast<T>(shift);
        at<T>(lse, 1, n, s) = static_cast<T>(log_sum);
        // loss = -sum_c T_c log_softmax(x)_c
        const std::vector<double> dist =
            target_distribution<T>(spec, at<int64_t>(spec.target, n, s), C);
        double l = 0;
        for (int64_t c = 0; c < C; ++c)
          if (dist[c] != 0) l -= dist[c] * ((at<T>(logits, n, c, s) - shift) - log_sum);
        at<T>(loss, n, s) = static_cast<T>(l);
      }
  });
}

// d loss / d x_c = softmax(x)_c sum_c' T_c' - T_c, times the incoming gradient.
void ReferenceBackend::cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                                              const Tensor& logits, const Tensor& lse,
                                              const CrossEntropyTarget& spec) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1], S = logits.shape()[2];
  visit_floating(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const std::vector<double> dist =
            target_distribution<T>(spec, at<int64_t>(spec.target, n, s), C);
        double dist_sum = 0;
        for (double d : dist) dist_sum += d;
        const double g = static_cast<double>(at<T>(grad_loss, n, s));
        const double shift = at<T>(lse, 0, n, s), log_sum = at<T>(lse, 1, n, s);
        for (int64_t c = 0; c < C; ++c) {
          const double p = std::exp((at<T>(logits, n, c, s) - shift) - log_sum);
          at<T>(grad_logits, n, c, s) =
              static_cast<T>(dist_sum == 0 ? 0.0 : g * (p * dist_sum - dist[c]));
        }
      }
  });
}

}  // namespace dg::reference
