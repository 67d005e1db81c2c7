// Helpers shared by the dynamic-convolution tests: f64 layers, fixing a layer's attention to a
// constant distribution, and the independent per-sample reference (sample i convolved on its own
// with its own mixed kernel, the mixture summed term by term instead of by the layer's matmul).
#pragma once

#include <catch2/catch.hpp>

#include <vector>

#include "dynamic/kernel_mixture_conv.h"
#include "engine/autograd.h"
#include "tests/engine/test_util.h"

namespace dg::dynamic_test {

inline const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

// Overwrites t's values in place, outside autograd.
inline void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor handle = t;
  handle.copy_(values);
}

// Makes the attention ignore its input: the last Linear's weight is zeroed and its bias set to
// `logits`, so every sample gets the same mixing weights normalise(logits).
inline void fix_attention_logits(dynamic::KernelMixtureConv2d& layer, const std::vector<double>& logits) {
  const auto& last = layer.attention->fc2 ? layer.attention->fc2 : layer.attention->fc;
  assign(last->weight, zeros_like(last->weight));
  assign(last->bias, from_vector(logits));
}

// sum_k weights[k] * stacked[k], one term at a time.
inline Tensor weighted_sum(const std::vector<double>& weights, const Tensor& stacked) {
  Tensor total = zeros_like(select(stacked, 0, 0));
  for (size_t k = 0; k < weights.size(); ++k)
    total = total + select(stacked, 0, static_cast<int64_t>(k)) * weights[k];
  return total;
}

// An input [N, C, H, W] whose samples differ in their channel means (what the attention sees after
// global average pooling), so that their mixing weights differ clearly.
inline Tensor varied_input(const Shape& shape, uint64_t seed) {
  return test::uniform_f64(shape, seed) + test::uniform_f64({shape[0], shape[1], 1, 1}, seed + 1000, -3.0, 3.0);
}

// Row i of an [N, K] tensor.
inline std::vector<double> row(const Tensor& t, int64_t i) { return select(t, 0, i).to_vector<double>(); }

// Sample i of x convolved alone, with the kernel and bias mixed by `weights`: [1, C_out, H', W'].
inline Tensor reference_sample_output(const dynamic::KernelMixtureConv2d& layer, const Tensor& x,
                                      int64_t i, const std::vector<double>& weights) {
  const Tensor bias = layer.bias.defined() ? weighted_sum(weights, layer.bias) : Tensor();
  return conv2d(narrow(x, 0, i, 1), weighted_sum(weights, layer.weight), bias, layer.geometry);
}

}  // namespace dg::dynamic_test
