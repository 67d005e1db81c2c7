// CondConv2d: conditionally parameterised convolution (CondConv, Yang et al. 2019). K expert
// kernels W_k and biases b_k (K = 8 by default), mixed per sample by the routing weights
//
//   r(x) = sigmoid(fc(GAP(x))),   fc: C_in -> K
//   y_n  = conv2d(x_n, sum_k r_nk W_k, sum_k r_nk b_k)
//
// Unlike DY-Conv's softmax, the routing weights are independent (each in (0, 1), not summing to 1)
// and there is no temperature. Executed like DynamicConv2d (one matmul, one grouped convolution).
// Parameter names: weight [K, C_out, C_in / groups, kH, kW], bias [K, C_out], attention.fc.*.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "dynamic/kernel_mixture_conv.h"
#include "nn/conv.h"

namespace dg::dynamic {

struct CondConvOptions {
  int64_t num_experts = 8;
};

class CondConv2d : public KernelMixtureConv2d {
 public:
  CondConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
             const Conv2dOptions& geometry = {}, bool bias = true,
             const CondConvOptions& cond = {}, const nn::ParamOptions& options = {});
  CondConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
             const Conv2dOptions& geometry = {}, bool bias = true,
             const CondConvOptions& cond = {}, const nn::ParamOptions& options = {})
      : CondConv2d(in_channels, out_channels, {kernel_size, kernel_size}, geometry, bias, cond,
                   options) {}

  // r of the last forward, [N, K], detached.
  const Tensor& last_routing() const { return last_mixing_weights(); }

  std::string type_name() const override { return "CondConv2d"; }
};

// A ConvFactory that builds bias-free CondConv2d layers.
nn::ConvFactory cond_conv2d_factory(const CondConvOptions& cond = {},
                                    const nn::ParamOptions& options = {});

}  // namespace dg::dynamic
