// Normalisation layers. BatchNorm2d normalises each channel of [N, C, H, W] with the batch's
// statistics in training (updating running_mean / running_var, PyTorch's unbiased-variance
// convention, and counting num_batches_tracked) and with the running statistics in eval. LayerNorm
// normalises over the trailing normalized_shape dims of each sample. Both start as the identity
// (weight ones, bias zeros) and use PyTorch's parameter and buffer names, so state dicts map one
// to one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  // Weight of the new batch in the running averages; nullopt gives the cumulative average over
  // all batches so far (1 / num_batches_tracked), as PyTorch's momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;               // learnable weight and bias
  bool track_running_stats = true;  // without: no buffers, batch statistics in eval mode too
};

class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {},
                       const ParamOptions& param = {});

  // x [N, num_features, H, W]; same shape out.
  Tensor forward(const Tensor& x) override;
  // Running statistics back to mean 0, variance 1, no batches seen.
  void reset_running_stats();

  std::string type_name() const override { return "BatchNorm2d"; }
  std::string extra_repr() const override;

  const int64_t num_features;
  const BatchNormOptions options;
  Tensor weight, bias;                 // [C] (undefined without affine)
  Tensor running_mean, running_var;    // [C] (undefined without track_running_stats)
  Tensor num_batches_tracked;          // i64 [] (likewise)
};

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(const Shape& normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true, const ParamOptions& param = {});
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true,
                     const ParamOptions& param = {})
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine, param) {}

  // x [..., *normalized_shape]; same shape out.
  Tensor forward(const Tensor& x) override;

  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  const Shape normalized_shape;
  const double eps;
  Tensor weight, bias;  // normalized_shape (undefined without elementwise_affine)
};

}  // namespace dg::nn
