// BatchNorm2d and LayerNorm: see normalization.h. The arithmetic (and the in-place running-stat
// update) is in dg::batch_norm and dg::layer_norm; these layers own the state and pick the mode.
#include "nn/normalization.h"

#include <fmt/format.h>

#include "engine/autograd.h"
#include "engine/ops/functional.h"

namespace dg::nn {

BatchNorm2d::BatchNorm2d(int64_t num_features, const BatchNormOptions& options,
                         const ParamOptions& param)
    : num_features(num_features), options(options) {
  check(num_features > 0, "BatchNorm2d: num_features must be positive, got {}", num_features);
  check(options.eps > 0, "BatchNorm2d: eps must be positive, got {}", options.eps);
  check(!options.momentum || (*options.momentum >= 0 && *options.momentum <= 1),
        "BatchNorm2d: momentum must be in [0, 1], got {}", options.momentum.value_or(0));
  if (options.affine) {
    weight = register_parameter("weight", ones({num_features}, param.dtype));
    bias = register_parameter("bias", zeros({num_features}, param.dtype));
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}, param.dtype));
    running_var = register_buffer("running_var", ones({num_features}, param.dtype));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

void BatchNorm2d::reset_running_stats() {
  if (!options.track_running_stats) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  check(x.defined() && x.dim() == 4, "BatchNorm2d: expected a 4-D input [N, C, H, W], got {}",
        x.defined() ? x.shape() : Shape{});
  check(x.shape()[1] == num_features,
        "BatchNorm2d: input {} has {} channels but the layer was built for {}", x.shape(),
        x.shape()[1], num_features);
  const bool batch_statistics = is_training() || !options.track_running_stats;
  double momentum = options.momentum.value_or(0.0);
  if (is_training() && options.track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1.0);
    if (!options.momentum) momentum = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Passing the running statistics in training mode is what makes batch_norm update them.
  return batch_norm(x, running_mean, running_var, weight, bias, batch_statistics, momentum,
                    options.eps);
}

std::string BatchNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features,
                     options.eps,
                     options.momentum ? fmt::format("{}", *options.momentum) : "None",
                     options.affine ? "True" : "False",
                     options.track_running_stats ? "True" : "False");
}

LayerNorm::LayerNorm(const Shape& normalized_shape, double eps, bool elementwise_affine,
                     const ParamOptions& param)
    : normalized_shape(normalized_shape), eps(eps) {
  check(!normalized_shape.empty() && numel(normalized_shape) > 0,
        "LayerNorm: normalized_shape must be non-empty with positive sizes, got {}",
        normalized_shape);
  check(eps > 0, "LayerNorm: eps must be positive, got {}", eps);
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape, param.dtype));
    bias = register_parameter("bias", zeros(normalized_shape, param.dtype));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", normalized_shape, eps,
                     weight.defined() ? "True" : "False");
}

}  // namespace dg::nn
