// The two computations every dynamic convolution shares, as free differentiable functions built on
// ordinary ops (so their gradients are the engine's):
//
//   mix_kernels       W(x_n) = sum_k a_nk W_k for every sample n, as ONE matmul
//                     [N, K] @ [K, prod(kernel shape)]
//   per_sample_conv2d sample n convolved with its own kernel W_n, as ONE grouped convolution: the
//                     batch is folded into the channels ([1, N * C_in, H, W]) and the per-sample
//                     kernels stacked along the output channels ([N * C_out, C_in / g, kH, kW]),
//                     with groups = N * g (Chen et al. 2020's efficient form)
//
// DynamicConv2d, CondConv2d and PAD-Net's PartiallyDynamicConv2d differ only in how they get the
// mixing weights and what they do to the mixed kernel between these two steps.
#pragma once

#include "engine/ops/functional.h"

namespace dg::dynamic {

// weights [N, K], stacked [K, d1, d2, ...] -> [N, d1, d2, ...] with out[n] = sum_k weights[n, k]
// stacked[k]. Kernels [K, C_out, C_in / g, kH, kW] give per-sample kernels; biases [K, C_out]
// per-sample biases.
Tensor mix_kernels(const Tensor& weights, const Tensor& stacked);

// x [N, C_in, H, W], kernels [N, C_out, C_in / groups, kH, kW], biases [N, C_out] or undefined ->
// [N, C_out, H', W'], where output n is conv2d(x[n], kernels[n], biases[n], geometry). geometry's
// groups are the layer's own groups (1, or C_in for a depthwise convolution).
Tensor per_sample_conv2d(const Tensor& x, const Tensor& kernels, const Tensor& biases,
                         const Conv2dOptions& geometry);

}  // namespace dg::dynamic
