// KernelMixtureConv2d: a convolution whose kernel is, for each sample, a mixture of K kernels
// weighted by a KernelAttention of that sample: the part DY-Conv (dyconv.h) and CondConv
// (condconv.h) share. They derive from it and only choose the attention (softmax with temperature
// vs. sigmoid routing) and K; PAD-Net's PartiallyDynamicConv2d wraps one and reuses its three
// steps (mixing_weights, mixed_kernels/mixed_biases, then per_sample_conv2d) with its own
// combination of the mixed kernel and a static one in between. When no graph is recorded
// (inference under NoGradGuard), forward runs the fused kernel_mixture_conv2d, which mixes each
// sample's kernel where that sample is convolved; training composes the three steps.
//
// Parameters (state-dict names): weight [K, C_out, C_in / groups, kH, kW], bias [K, C_out] (when
// bias), attention.* (the KernelAttention's Linear layers). Every one of the K kernels and biases
// starts from nn::Conv2d's default (PyTorch's kaiming_uniform_ with a = sqrt(5), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in / groups * kH * kW), drawn in row-major
// order as if kernel 0, 1, ... were initialised one after the other.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "dynamic/kernel_attention.h"
#include "dynamic/per_sample_conv.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::dynamic {

class KernelMixtureConv2d : public nn::UnaryModule {
 public:
  KernelMixtureConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
                      const Conv2dOptions& geometry, bool bias,
                      const KernelAttentionOptions& attention_options,
                      const nn::ParamOptions& options = {});

  // x [N, in_channels, H, W] -> [N, out_channels, H', W']: per_sample_conv2d with the mixed
  // kernels and biases of mixing_weights(x).
  Tensor forward(const Tensor& x) override;

  // The attention of x, [N, K] (on the graph); also kept, detached, as last_mixing_weights().
  Tensor mixing_weights(const Tensor& x);
  // Per-sample kernels [N, C_out, C_in / groups, kH, kW] = sum_k weights[:, k] * weight[k].
  Tensor mixed_kernels(const Tensor& weights) const;
  // Per-sample biases [N, C_out], or undefined without bias.
  Tensor mixed_biases(const Tensor& weights) const;
  // The [N, K] mixing weights of the last mixing_weights()/forward() call, detached (undefined
  // before the first); for inspecting and plotting what the attention learned.
  const Tensor& last_mixing_weights() const { return last_weights_; }

  // The default initialisation of the kernels, biases and attention, drawn again.
  void reset_parameters(Generator* generator = nullptr);

  std::string type_name() const override { return "KernelMixtureConv2d"; }
  std::string extra_repr() const override;

  const int64_t in_channels, out_channels, num_kernels;
  const std::array<int64_t, 2> kernel_size;
  const Conv2dOptions geometry;
  std::shared_ptr<KernelAttention> attention;
  Tensor weight;  // [K, out_channels, in_channels / groups, kH, kW]
  Tensor bias;    // [K, out_channels], undefined without bias

 private:
  Tensor last_weights_;
};

}  // namespace dg::dynamic
