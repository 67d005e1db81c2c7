// Linear: the fully connected layer y = x W^T + b over the last dim of x, with PyTorch's parameter
// names (weight [out_features, in_features], bias [out_features]) and default initialisation
// (kaiming_uniform_ with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), for both).
#pragma once

#include <cstdint>
#include <string>

#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::nn {

class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         const ParamOptions& options = {});

  // x [..., in_features] -> [..., out_features].
  Tensor forward(const Tensor& x) override;
  // PyTorch's default initialisation, drawn again from `generator` (the default one when null).
  void reset_parameters(Generator* generator = nullptr);

  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  const int64_t in_features, out_features;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], undefined without bias
};

namespace detail {
// PyTorch's default for Linear and Conv2d: kaiming_uniform_(a = sqrt(5)) on the weight, which is
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
void init_fan_in_uniform(Tensor& weight, Tensor& bias, Generator* generator);
}  // namespace detail

}  // namespace dg::nn
