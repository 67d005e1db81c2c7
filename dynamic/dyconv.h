// DynamicConv2d: dynamic convolution (DY-Conv, Chen et al. 2020). K kernels W_k and biases b_k
// (K = 4 by default, as in PAD-Net's tables), mixed per sample by the attention
//
//   pi(x) = softmax(fc2(relu(fc1(GAP(x)))) / T),   fc1: C_in -> hidden, fc2: hidden -> K
//   y_n   = conv2d(x_n, sum_k pi_nk W_k, sum_k pi_nk b_k)
//
// executed as one matmul (the mixing) and one grouped convolution over the whole batch
// (per_sample_conv.h). hidden defaults to max(C_in / 4, 4). The temperature T starts high (30) so
// that the attention is near uniform while the kernels are still random, and is annealed to 1 with
// a TemperatureSchedule (temperature_schedule.h) through set_temperature, or for a whole model
// with set_dynamic_conv_temperature.
//
// The defaults (K = 4, T = 30, hidden = max(C_in / 4, 4), kernels and biases initialised as
// nn::Conv2d initialises one kernel) match the DynamicConv2d of the benchmark's PyTorch reference.
// Parameter names: weight [K, C_out, C_in / groups, kH, kW], bias [K, C_out], attention.fc1.*,
// attention.fc2.*.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "dynamic/kernel_mixture_conv.h"
#include "nn/conv.h"

namespace dg::dynamic {

struct DynamicConvOptions {
  int64_t num_kernels = 4;
  double temperature = 30.0;
  // Width of the attention's hidden layer; 0 means dyconv_attention_hidden(C_in, reduction).
  int64_t attention_hidden = 0;
  int64_t attention_reduction = 4;
};

class DynamicConv2d : public KernelMixtureConv2d {
 public:
  // Conv2d's arguments plus the dynamic ones: DynamicConv2d(16, 32, 3, {.padding = {1, 1}}).
  DynamicConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
                const Conv2dOptions& geometry = {}, bool bias = true,
                const DynamicConvOptions& dynamic = {}, const nn::ParamOptions& options = {});
  DynamicConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                const Conv2dOptions& geometry = {}, bool bias = true,
                const DynamicConvOptions& dynamic = {}, const nn::ParamOptions& options = {})
      : DynamicConv2d(in_channels, out_channels, {kernel_size, kernel_size}, geometry, bias,
                      dynamic, options) {}

  void set_temperature(double temperature) { attention->set_temperature(temperature); }
  double temperature() const { return attention->temperature(); }
  // pi of the last forward, [N, K], detached (each row sums to 1).
  const Tensor& last_attention() const { return last_mixing_weights(); }

  std::string type_name() const override { return "DynamicConv2d"; }
};

// A ConvFactory (for the ResNet and MobileNet blocks) that builds bias-free DynamicConv2d layers.
// options.generator, if any, must outlive the calls to the factory.
nn::ConvFactory dynamic_conv2d_factory(const DynamicConvOptions& dynamic = {},
                                       const nn::ParamOptions& options = {});

// Sets the temperature of every DynamicConv2d in `model` (itself included); returns how many.
int64_t set_dynamic_conv_temperature(nn::Module& model, double temperature);

}  // namespace dg::dynamic
