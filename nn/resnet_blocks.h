// The residual blocks of ResNet, as torchvision builds them (same children and parameter names):
//
//   BasicBlock   out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convolutions
//   Bottleneck   out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)),
//                1x1 reduce to `planes`, 3x3 (carrying the stride, "ResNet v1.5"), 1x1 expand to
//                4 * planes
//
// The shortcut is the identity, or `downsample` (1x1 convolution with the block's stride + batch
// norm, named downsample.0 / downsample.1) when the stride is not 1 or the channel count changes.
// Convolutions come from a ConvFactory (default: bias-free nn::Conv2d), so dynamic convolutions
// can replace static ones without rewriting the blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/basic.h"
#include "nn/conv.h"
#include "nn/normalization.h"

namespace dg::nn {

class BasicBlock : public UnaryModule {
 public:
  static constexpr int64_t expansion = 1;

  // x [N, in_planes, H, W] -> [N, planes, H / stride, W / stride]. An empty `conv` means
  // conv2d_factory(param).
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride = 1, ConvFactory conv = {},
             const ParamOptions& param = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<UnaryModule> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> downsample;  // null: identity shortcut
};

class Bottleneck : public UnaryModule {
 public:
  static constexpr int64_t expansion = 4;

  // x [N, in_planes, H, W] -> [N, 4 * planes, H / stride, W / stride].
  Bottleneck(int64_t in_planes, int64_t planes, int64_t stride = 1, ConvFactory conv = {},
             const ParamOptions& param = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<UnaryModule> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;  // null: identity shortcut
};

}  // namespace dg::nn
