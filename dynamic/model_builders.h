// Small ResNet- and MobileNetV2-style classifiers for 28x28 single-channel images (Fashion-MNIST),
// in which every convolution except the stem's comes from a ConvFactory: static (nn::Conv2d),
// DY-Conv, CondConv, or whatever a later layer (PAD-Net's partially dynamic convolution) supplies.
// The first convolution stays static, as in the DY-Conv and PAD-Net papers. Sized to train on two
// CPU cores; channel counts are multiplied by a width multiplier (0.5, 0.75, 1.0 in the
// experiments) and rounded to a multiple of 4 (at least 4).
//
// SmallResNet (the CIFAR ResNet-6n+2 layout with n = blocks_per_stage; ResNet-14 by default):
//   stem     3x3 conv 1 -> 16w, BN, ReLU                      28x28   (static)
//   layer1   n BasicBlocks, 16w channels                        28x28
//   layer2   n BasicBlocks, 32w channels, the first stride 2    14x14   (1x1 downsample projection)
//   layer3   n BasicBlocks, 64w channels, the first stride 2     7x7    (1x1 downsample projection)
//   global average pool, fc 64w -> classes
// At width 1.0 and n = 2: 175K parameters with static convolutions (699K with DY-Conv, K = 4;
// 1.39M with CondConv, K = 8), about 20M multiply-adds per image; 15 convolutions of which 14 come
// from the factory.
//
// SmallMobileNetV2 (torchvision's MobileNetV2 layout, shortened for 28x28):
//   features.0    3x3 conv 1 -> 16w, BN, ReLU6                 28x28   (static)
//   features.1-8  InvertedResidual stages (expansion t, channels c, repeats n, first stride s):
//                 (1, 8w, 1, 1) (6, 16w, 2, 2) (6, 24w, 2, 2) (6, 32w, 2, 1) (6, 64w, 1, 1)
//                 spatial 28 -> 14 -> 7
//   features.9    1x1 conv -> 256 * max(1, w), BN, ReLU6 (torchvision keeps the last width at
//                 least its width-1.0 size)
//   global average pool, classifier 256 -> classes
// At width 1.0: 86K parameters with static convolutions (395K with DY-Conv, 653K with CondConv);
// 25 convolutions of which 24 come from the factory. Parameter names follow torchvision's
// (features.N.conv.M.*, classifier.*).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dynamic/condconv.h"
#include "dynamic/dyconv.h"
#include "nn/basic.h"
#include "nn/conv.h"
#include "nn/linear.h"

namespace dg::dynamic {

// ---------------------------------------------------------------- convolution kinds

enum class ConvKind { static_conv, dyconv, condconv };

// The factory for `kind` (bias-free convolutions; the blocks follow each by batch norm).
nn::ConvFactory make_conv_factory(ConvKind kind, const nn::ParamOptions& param = {},
                                  const DynamicConvOptions& dynamic = {},
                                  const CondConvOptions& cond = {});

// round(channels * width_multiplier) to a multiple of 4, at least 4 (torchvision's
// _make_divisible with divisor 4: never more than 10% below the exact product).
int64_t scaled_channels(int64_t channels, double width_multiplier);

// ---------------------------------------------------------------- SmallResNet

struct SmallResNetOptions {
  double width_multiplier = 1.0;
  int64_t blocks_per_stage = 2;
  int64_t in_channels = 1;
  int64_t num_classes = 10;
};

class SmallResNet : public nn::UnaryModule {
 public:
  // An empty `conv` means static convolutions (nn::conv2d_factory(param)).
  explicit SmallResNet(const SmallResNetOptions& options = {}, nn::ConvFactory conv = {},
                       const nn::ParamOptions& param = {});
  // x [N, in_channels, H, W] -> logits [N, num_classes].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "SmallResNet"; }

  std::shared_ptr<nn::Sequential> stem, layer1, layer2, layer3;
  std::shared_ptr<nn::Linear> fc;
};

// ---------------------------------------------------------------- SmallMobileNetV2

struct SmallMobileNetV2Options {
  double width_multiplier = 1.0;
  int64_t in_channels = 1;
  int64_t num_classes = 10;
};

class SmallMobileNetV2 : public nn::UnaryModule {
 public:
  explicit SmallMobileNetV2(const SmallMobileNetV2Options& options = {}, nn::ConvFactory conv = {},
                            const nn::ParamOptions& param = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "SmallMobileNetV2"; }

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> classifier;
};

// ---------------------------------------------------------------- inspection

// How many modules in `model` (itself included) have type_name() == type_name, e.g. "Conv2d",
// "DynamicConv2d", "CondConv2d".
int64_t count_modules(nn::Module& model, std::string_view type_name);

}  // namespace dg::dynamic
