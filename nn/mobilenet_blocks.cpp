// InvertedResidual: see mobilenet_blocks.h.
#include "nn/mobilenet_blocks.h"

#include <cmath>

namespace dg::nn {

namespace {

// round(in * ratio) as Python's round() does it (halves to even), so hidden sizes match torchvision.
int64_t hidden_size(int64_t in, double expand_ratio) {
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(in) * expand_ratio));
}

// torchvision's Conv2dNormActivation: convolution ("same" padding), batch norm, ReLU6.
std::shared_ptr<Sequential> conv_bn_relu6(const ConvFactory& conv, int64_t in, int64_t out,
                                          int64_t kernel, int64_t stride, int64_t groups,
                                          const ParamOptions& param) {
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<UnaryModule>>{
      conv({.in_channels = in, .out_channels = out, .kernel_size = kernel, .stride = stride,
            .padding = (kernel - 1) / 2, .groups = groups}),
      std::make_shared<BatchNorm2d>(out, BatchNormOptions{}, param), std::make_shared<ReLU6>()});
}

}  // namespace

InvertedResidual::InvertedResidual(int64_t in, int64_t out, int64_t stride, double expand_ratio,
                                   ConvFactory conv_factory, const ParamOptions& param)
    : hidden_dim(hidden_size(in, expand_ratio)), use_residual(stride == 1 && in == out) {
  check(in > 0 && out > 0, "InvertedResidual: in and out must be positive, got {} and {}", in, out);
  check(stride == 1 || stride == 2, "InvertedResidual: stride must be 1 or 2, got {}", stride);
  check(expand_ratio > 0 && hidden_dim > 0,
        "InvertedResidual: expand_ratio {} gives {} hidden channels for {} inputs", expand_ratio,
        hidden_dim, in);
  if (!conv_factory) conv_factory = conv2d_factory(param);
  conv = register_module("conv", std::make_shared<Sequential>());
  if (expand_ratio != 1.0) conv->push_back(conv_bn_relu6(conv_factory, in, hidden_dim, 1, 1, 1, param));
  conv->push_back(conv_bn_relu6(conv_factory, hidden_dim, hidden_dim, 3, stride, hidden_dim, param));
  conv->push_back(conv_factory({.in_channels = hidden_dim, .out_channels = out, .kernel_size = 1}));
  conv->push_back(std::make_shared<BatchNorm2d>(out, BatchNormOptions{}, param));
}

Tensor InvertedResidual::forward(const Tensor& x) {
  return use_residual ? x + conv->forward(x) : conv->forward(x);
}

}  // namespace dg::nn
