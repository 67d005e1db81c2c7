// BasicBlock and Bottleneck: see resnet_blocks.h.
#include "nn/resnet_blocks.h"

namespace dg::nn {

namespace {

ConvFactory or_default(ConvFactory conv, const ParamOptions& param) {
  return conv ? std::move(conv) : conv2d_factory(param);
}

std::shared_ptr<BatchNorm2d> batch_norm_layer(int64_t channels, const ParamOptions& param) {
  return std::make_shared<BatchNorm2d>(channels, BatchNormOptions{}, param);
}

// A k x k convolution that keeps the spatial size at stride 1 ("same" padding for odd k).
ConvSpec conv_spec(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return {.in_channels = in, .out_channels = out, .kernel_size = kernel, .stride = stride,
          .padding = kernel / 2, .groups = 1};
}

// torchvision's shortcut projection, or null when the identity fits.
std::shared_ptr<Sequential> make_downsample(int64_t in, int64_t out, int64_t stride,
                                            const ConvFactory& conv, const ParamOptions& param) {
  if (stride == 1 && in == out) return nullptr;
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<UnaryModule>>{
      conv(conv_spec(in, out, 1, stride)), batch_norm_layer(out, param)});
}

void check_block(std::string_view block, int64_t in_planes, int64_t planes, int64_t stride) {
  check(in_planes > 0 && planes > 0 && stride > 0,
        "{}: in_planes, planes and stride must be positive, got {}, {} and {}", block, in_planes,
        planes, stride);
}

}  // namespace

// ---------------------------------------------------------------- BasicBlock

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, ConvFactory conv,
                       const ParamOptions& param) {
  check_block("BasicBlock", in_planes, planes, stride);
  conv = or_default(std::move(conv), param);
  conv1 = register_module("conv1", conv(conv_spec(in_planes, planes, 3, stride)));
  bn1 = register_module("bn1", batch_norm_layer(planes, param));
  conv2 = register_module("conv2", conv(conv_spec(planes, planes, 3, 1)));
  bn2 = register_module("bn2", batch_norm_layer(planes, param));
  downsample = make_downsample(in_planes, planes * expansion, stride, conv, param);
  if (downsample) register_module("downsample", downsample);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  return relu(out + (downsample ? downsample->forward(x) : x));
}

// ---------------------------------------------------------------- Bottleneck

Bottleneck::Bottleneck(int64_t in_planes, int64_t planes, int64_t stride, ConvFactory conv,
                       const ParamOptions& param) {
  check_block("Bottleneck", in_planes, planes, stride);
  conv = or_default(std::move(conv), param);
  conv1 = register_module("conv1", conv(conv_spec(in_planes, planes, 1, 1)));
  bn1 = register_module("bn1", batch_norm_layer(planes, param));
  conv2 = register_module("conv2", conv(conv_spec(planes, planes, 3, stride)));
  bn2 = register_module("bn2", batch_norm_layer(planes, param));
  conv3 = register_module("conv3", conv(conv_spec(planes, planes * expansion, 1, 1)));
  bn3 = register_module("bn3", batch_norm_layer(planes * expansion, param));
  downsample = make_downsample(in_planes, planes * expansion, stride, conv, param);
  if (downsample) register_module("downsample", downsample);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = relu(bn2->forward(conv2->forward(out)));
  out = bn3->forward(conv3->forward(out));
  return relu(out + (downsample ? downsample->forward(x) : x));
}

}  // namespace dg::nn
