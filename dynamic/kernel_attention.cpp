// KernelAttention: see kernel_attention.h.
#include "dynamic/kernel_attention.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/ops/functional.h"

namespace dg::dynamic {

KernelAttention::KernelAttention(int64_t in_channels, const KernelAttentionOptions& options,
                                 const nn::ParamOptions& param)
    : in_channels(in_channels),
      num_kernels(options.num_kernels),
      hidden(options.hidden),
      normalization(options.normalization),
      temperature_(options.temperature) {
  check(in_channels > 0 && num_kernels > 0,
        "KernelAttention: in_channels and num_kernels must be positive, got {} and {}", in_channels,
        num_kernels);
  check(hidden >= 0, "KernelAttention: hidden must be >= 0 (0: no hidden layer), got {}", hidden);
  check(temperature_ > 0, "KernelAttention: temperature must be positive, got {}", temperature_);
  if (hidden > 0) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in_channels, hidden, true, param));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, num_kernels, true, param));
  } else {
    fc = register_module("fc", std::make_shared<nn::Linear>(in_channels, num_kernels, true, param));
  }
}

Tensor KernelAttention::logits(const Tensor& x) {
  check(x.dim() == 4 && x.shape()[1] == in_channels,
        "KernelAttention: expected input [N, {}, H, W], got {}", in_channels, x.shape());
  const Tensor pooled = mean(x, {2, 3});  // global average pool: [N, C_in]
  return hidden > 0 ? fc2->forward(relu(fc1->forward(pooled))) : fc->forward(pooled);
}

Tensor KernelAttention::forward(const Tensor& x) {
  const Tensor z = logits(x);
  if (normalization == AttentionNormalization::sigmoid) return sigmoid(z);
  return softmax(temperature_ == 1.0 ? z : z / temperature_, 1);
}

void KernelAttention::set_temperature(double temperature) {
  check(temperature > 0, "KernelAttention: temperature must be positive, got {}", temperature);
  temperature_ = temperature;
}

void KernelAttention::reset_parameters(Generator* generator) {
  for (const auto& layer : {fc1, fc2, fc})
    if (layer) layer->reset_parameters(generator);
}

std::string KernelAttention::extra_repr() const {
  std::string out = fmt::format("in={}, kernels={}, hidden={}, {}", in_channels, num_kernels, hidden,
                                normalization == AttentionNormalization::softmax ? "softmax" : "sigmoid");
  if (normalization == AttentionNormalization::softmax)
    out += fmt::format(", temperature={}", temperature_);
  return out;
}

int64_t dyconv_attention_hidden(int64_t in_channels, int64_t reduction) {
  check(reduction > 0, "dyconv_attention_hidden: reduction must be positive, got {}", reduction);
  return std::max<int64_t>(in_channels / reduction, 4);
}

}  // namespace dg::dynamic
