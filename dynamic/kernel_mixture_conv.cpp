// KernelMixtureConv2d: see kernel_mixture_conv.h.
#include "dynamic/kernel_mixture_conv.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/autograd.h"
#include "nn/init.h"

namespace dg::dynamic {

KernelMixtureConv2d::KernelMixtureConv2d(int64_t in_channels, int64_t out_channels,
                                         Size2 kernel_size,
                                         const Conv2dOptions& geometry, bool bias,
                                         const KernelAttentionOptions& attention_options,
                                         const nn::ParamOptions& options)
    : in_channels(in_channels),
      out_channels(out_channels),
      num_kernels(attention_options.num_kernels),
      kernel_size(kernel_size),
      geometry(geometry) {
  const int64_t groups = geometry.groups;
  check(in_channels > 0 && out_channels > 0 && num_kernels > 0,
        "KernelMixtureConv2d: in_channels, out_channels and the number of kernels must be "
        "positive, got {}, {} and {}",
        in_channels, out_channels, num_kernels);
  check(kernel_size[0] > 0 && kernel_size[1] > 0,
        "KernelMixtureConv2d: kernel size must be positive, got {}x{}", kernel_size[0],
        kernel_size[1]);
  check(groups > 0 && in_channels % groups == 0 && out_channels % groups == 0,
        "KernelMixtureConv2d: groups={} must divide both in_channels={} and out_channels={}",
        groups, in_channels, out_channels);
  weight = register_parameter(
      "weight", Tensor::empty({num_kernels, out_channels, in_channels / groups, kernel_size[0],
                               kernel_size[1]},
                              options.dtype));
  if (bias)
    this->bias = register_parameter("bias", Tensor::empty({num_kernels, out_channels}, options.dtype));
  attention = register_module("attention",
                              std::make_shared<KernelAttention>(in_channels, attention_options, options));
  reset_parameters(options.generator);
}

void KernelMixtureConv2d::reset_parameters(Generator* generator) {
  // kaiming_uniform_(a = sqrt(5)) of one kernel is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); one draw over
  // the stacked kernels is the same as K draws in a row.
  const double fan_in =
      static_cast<double>(in_channels / geometry.groups * kernel_size[0] * kernel_size[1]);
  const double bound = 1.0 / std::sqrt(fan_in);
  nn::init::uniform_(weight, -bound, bound, generator);
  if (bias.defined()) nn::init::uniform_(bias, -bound, bound, generator);
  attention->reset_parameters(generator);
}

Tensor KernelMixtureConv2d::mixing_weights(const Tensor& x) {
  Tensor weights = attention->forward(x);
  last_weights_ = weights.detach();
  return weights;
}

Tensor KernelMixtureConv2d::mixed_kernels(const Tensor& weights) const {
  return mix_kernels(weights, weight);
}

Tensor KernelMixtureConv2d::mixed_biases(const Tensor& weights) const {
  return bias.defined() ? mix_kernels(weights, bias) : Tensor();
}

Tensor KernelMixtureConv2d::forward(const Tensor& x) {
  const Tensor weights = mixing_weights(x);
  // With no graph to record (inference), the fused kernel mixes each sample's kernel where that
  // sample is convolved instead of writing all N kernels out first; the result is the same.
  const bool records = needs_grad(x, weights, weight, bias);
  if (!records) return kernel_mixture_conv2d(x, weights, weight, mixed_biases(weights), geometry);
  return per_sample_conv2d(x, mixed_kernels(weights), mixed_biases(weights), geometry);
}

std::string KernelMixtureConv2d::extra_repr() const {
  std::string out = fmt::format("{}, {}, kernel_size=({}, {}), kernels={}, stride=({}, {})",
                                in_channels, out_channels, kernel_size[0], kernel_size[1],
                                num_kernels, geometry.stride[0], geometry.stride[1]);
  if (geometry.padding != std::array<int64_t, 2>{0, 0})
    out += fmt::format(", padding=({}, {})", geometry.padding[0], geometry.padding[1]);
  if (geometry.dilation != std::array<int64_t, 2>{1, 1})
    out += fmt::format(", dilation=({}, {})", geometry.dilation[0], geometry.dilation[1]);
  if (geometry.groups != 1) out += fmt::format(", groups={}", geometry.groups);
  if (!bias.defined()) out += ", bias=False";
  return out;
}

}  // namespace dg::dynamic
