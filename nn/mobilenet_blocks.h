// MobileNetV2's inverted residual block, as torchvision builds it (same children and parameter
// names under `conv`):
//
//   conv.0   1x1 expand to hidden = round(in * expand_ratio) + BN + ReLU6   (absent when ratio 1)
//   conv.1   3x3 depthwise (groups = hidden, carrying the stride) + BN + ReLU6
//   conv.2   1x1 project to `out`, conv.3 BN (no activation: the "linear bottleneck")
//
// with a residual connection when stride is 1 and in == out. Convolutions come from a ConvFactory
// (default: bias-free nn::Conv2d), so dynamic convolutions can replace static ones.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/basic.h"
#include "nn/conv.h"
#include "nn/normalization.h"

namespace dg::nn {

class InvertedResidual : public UnaryModule {
 public:
  // x [N, in, H, W] -> [N, out, H / stride, W / stride]; stride 1 or 2.
  InvertedResidual(int64_t in, int64_t out, int64_t stride, double expand_ratio,
                   ConvFactory conv = {}, const ParamOptions& param = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "InvertedResidual"; }

  const int64_t hidden_dim;
  const bool use_residual;
  std::shared_ptr<Sequential> conv;
};

}  // namespace dg::nn
