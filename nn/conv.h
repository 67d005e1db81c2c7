// Conv2d: the 2-D convolution layer over [N, C_in, H, W] inputs (dg::conv2d with stride, padding,
// dilation and groups), with PyTorch's parameter names (weight [C_out, C_in / groups, kH, kW], bias
// [C_out]) and default initialisation (kaiming_uniform_ with a = sqrt(5); bias
// U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
//
// Also the ConvFactory through which the ResNet and MobileNet blocks create their convolutions:
// the dynamic-convolution layers replace static convolutions by passing their own factory, without
// touching the blocks.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/ops/functional.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::nn {

class Conv2d : public UnaryModule {
 public:
  // `geometry` holds stride, padding, dilation (per spatial dim) and groups, as dg::conv2d takes
  // them: Conv2d(16, 32, 3, {.stride = {2, 2}, .padding = {1, 1}}).
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
         const Conv2dOptions& geometry = {}, bool bias = true, const ParamOptions& options = {});
  // A square kernel.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const Conv2dOptions& geometry = {}, bool bias = true, const ParamOptions& options = {})
      : Conv2d(in_channels, out_channels, {kernel_size, kernel_size}, geometry, bias, options) {}

  // x [N, in_channels, H, W] -> [N, out_channels, H', W'].
  Tensor forward(const Tensor& x) override;
  // PyTorch's default initialisation, drawn again from `generator` (the default one when null).
  void reset_parameters(Generator* generator = nullptr);

  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

  const int64_t in_channels, out_channels;
  const std::array<int64_t, 2> kernel_size;
  const Conv2dOptions geometry;
  Tensor weight;  // [out_channels, in_channels / groups, kH, kW]
  Tensor bias;    // [out_channels], undefined without bias
};

// What a block asks of a convolution: a square kernel, one stride and padding for both spatial
// dims, and the channel groups. Blocks follow every convolution by batch norm, so the convolution
// has no bias.
struct ConvSpec {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 1;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
};
using ConvFactory = std::function<std::shared_ptr<UnaryModule>(const ConvSpec&)>;

// The default factory: a bias-free nn::Conv2d for each spec, its parameters made with `options`
// (whose generator, if any, must outlive the calls to the factory).
ConvFactory conv2d_factory(const ParamOptions& options = {});

}  // namespace dg::nn
