// Parameter initialisation; see init.h.
#include "nn/init.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::nn::init {

namespace {
Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

// Overwrites t's values with `values` (same shape), outside autograd.
Tensor& assign(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}
}  // namespace

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  check(w.dim() >= 2, "init: fan in/out need a tensor with at least 2 dims, got {}", w.shape());
  int64_t receptive = 1;
  for (int d = 2; d < w.dim(); ++d) receptive *= w.shape()[d];
  return {w.shape()[1] * receptive, w.shape()[0] * receptive};
}

double gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::linear: return 1.0;
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
  }
  return 1.0;
}

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen) {
  Tensor u = rand(t.shape(), pick(gen), t.dtype(), t.device());
  NoGradGuard no_grad;
  return assign(t, u * (high - low) + low);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  Tensor n = randn(t.shape(), pick(gen), t.dtype(), t.device());
  NoGradGuard no_grad;
  return assign(t, n * std + mean);
}

Tensor& constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

static double kaiming_std(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  auto [fan_in, fan_out] = fans(t);
  const int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
  check(fan > 0, "kaiming init: zero fan for a tensor of shape {}", t.shape());
  return gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  return normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity), gen);
}

Tensor& xavier_uniform_(Tensor& t, double g, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  const double bound = g * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, -bound, bound, gen);
}

Tensor& xavier_normal_(Tensor& t, double g, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  return normal_(t, 0.0, g * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

}  // namespace dg::nn::init
