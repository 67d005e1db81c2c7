// Parameter initialisation, with PyTorch's formulas so that a dyngrad layer starts from the same
// distribution as its PyTorch counterpart: kaiming (He) and xavier (Glorot), uniform and normal,
// constants. Each fills a tensor in place (outside autograd) from a Generator (the default one
// when none is given) and returns it.
#pragma once

#include <utility>

#include "engine/random.h"
#include "engine/tensor.h"

namespace dg::nn::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, relu, leaky_relu, tanh, sigmoid };

// (fan_in, fan_out) of a weight: [out, in] for linear, [out, in, k...] for convolution.
std::pair<int64_t, int64_t> fans(const Tensor& weight);
// PyTorch's calculate_gain.
double gain(Nonlinearity nonlinearity, double negative_slope = 0.01);

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
// U(-b, b) with b = gain * sqrt(3 / fan); a is the leaky_relu slope (PyTorch's `a`).
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                         Nonlinearity nonlinearity = Nonlinearity::leaky_relu,
                         Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                        Nonlinearity nonlinearity = Nonlinearity::leaky_relu,
                        Generator* gen = nullptr);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace dg::nn::init
