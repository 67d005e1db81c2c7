// SmallResNet, SmallMobileNetV2 and the convolution-kind factories: see model_builders.h.
#include "dynamic/model_builders.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "nn/mobilenet_blocks.h"
#include "nn/normalization.h"
#include "nn/resnet_blocks.h"

namespace dg::dynamic {

nn::ConvFactory make_conv_factory(ConvKind kind, const nn::ParamOptions& param,
                                  const DynamicConvOptions& dynamic, const CondConvOptions& cond) {
  switch (kind) {
    case ConvKind::static_conv: return nn::conv2d_factory(param);
    case ConvKind::dyconv: return dynamic_conv2d_factory(dynamic, param);
    case ConvKind::condconv: return cond_conv2d_factory(cond, param);
  }
  throw Error("make_conv_factory: unknown convolution kind");
}

int64_t scaled_channels(int64_t channels, double width_multiplier) {
  check(channels > 0 && width_multiplier > 0,
        "scaled_channels: channels and width multiplier must be positive, got {} and {}", channels,
        width_multiplier);
  constexpr int64_t divisor = 4;
  const double exact = static_cast<double>(channels) * width_multiplier;
  int64_t rounded =
      std::max<int64_t>(divisor, static_cast<int64_t>(exact + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * exact) rounded += divisor;
  return rounded;
}

namespace {

// The static stem every network keeps: 3x3 convolution (stride 1, "same" padding), BN, activation.
std::shared_ptr<nn::Sequential> static_stem(int64_t in, int64_t out,
                                            std::shared_ptr<nn::UnaryModule> activation,
                                            const nn::ParamOptions& param) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      nn::conv2d_factory(param)({.in_channels = in, .out_channels = out, .kernel_size = 3,
                                 .stride = 1, .padding = 1, .groups = 1}),
      std::make_shared<nn::BatchNorm2d>(out, nn::BatchNormOptions{}, param),
      std::move(activation)});
}

// Global average pool: [N, C, H, W] -> [N, C].
Tensor global_average_pool(const Tensor& x) { return mean(x, {2, 3}); }

void check_head(std::string_view net, double width, int64_t in_channels, int64_t classes) {
  check(width > 0 && in_channels > 0 && classes > 0,
        "{}: width multiplier, in_channels and num_classes must be positive, got {}, {} and {}", net,
        width, in_channels, classes);
}

}  // namespace

// ---------------------------------------------------------------- SmallResNet

SmallResNet::SmallResNet(const SmallResNetOptions& options, nn::ConvFactory conv,
                         const nn::ParamOptions& param) {
  check_head("SmallResNet", options.width_multiplier, options.in_channels, options.num_classes);
  check(options.blocks_per_stage > 0, "SmallResNet: blocks_per_stage must be positive, got {}",
        options.blocks_per_stage);
  if (!conv) conv = nn::conv2d_factory(param);
  const double w = options.width_multiplier;
  const std::array<int64_t, 3> widths{scaled_channels(16, w), scaled_channels(32, w),
                                      scaled_channels(64, w)};
  stem = register_module("stem", static_stem(options.in_channels, widths[0],
                                             std::make_shared<nn::ReLU>(), param));
  int64_t in = widths[0];
  auto stage = [&](int64_t planes, int64_t first_stride) {
    auto blocks = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < options.blocks_per_stage; ++b) {
      blocks->push_back(std::make_shared<nn::BasicBlock>(in, planes, b == 0 ? first_stride : 1, conv, param));
      in = planes;
    }
    return blocks;
  };
  layer1 = register_module("layer1", stage(widths[0], 1));
  layer2 = register_module("layer2", stage(widths[1], 2));
  layer3 = register_module("layer3", stage(widths[2], 2));
  fc = register_module("fc", std::make_shared<nn::Linear>(widths[2], options.num_classes, true, param));
}

Tensor SmallResNet::forward(const Tensor& x) {
  Tensor h = layer3->forward(layer2->forward(layer1->forward(stem->forward(x))));
  return fc->forward(global_average_pool(h));
}

// ---------------------------------------------------------------- SmallMobileNetV2

SmallMobileNetV2::SmallMobileNetV2(const SmallMobileNetV2Options& options, nn::ConvFactory conv,
                                   const nn::ParamOptions& param) {
  check_head("SmallMobileNetV2", options.width_multiplier, options.in_channels,
             options.num_classes);
  if (!conv) conv = nn::conv2d_factory(param);
  const double w = options.width_multiplier;
  struct Stage {
    double expand;
    int64_t channels, repeats, stride;
  };
  constexpr std::array<Stage, 5> stages{{{1, 8, 1, 1}, {6, 16, 2, 2}, {6, 24, 2, 2}, {6, 32, 2, 1},
                                         {6, 64, 1, 1}}};
  int64_t in = scaled_channels(16, w);
  features = register_module(
      "features", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                      static_stem(options.in_channels, in, std::make_shared<nn::ReLU6>(), param)}));
  for (const Stage& s : stages) {
    const int64_t out = scaled_channels(s.channels, w);
    for (int64_t r = 0; r < s.repeats; ++r) {
      features->push_back(std::make_shared<nn::InvertedResidual>(in, out, r == 0 ? s.stride : 1,
                                                                 s.expand, conv, param));
      in = out;
    }
  }
  const int64_t last = scaled_channels(256, std::max(1.0, w));
  features->push_back(std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      conv({.in_channels = in, .out_channels = last, .kernel_size = 1}),
      std::make_shared<nn::BatchNorm2d>(last, nn::BatchNormOptions{}, param),
      std::make_shared<nn::ReLU6>()}));
  classifier = register_module(
      "classifier", std::make_shared<nn::Linear>(last, options.num_classes, true, param));
}

Tensor SmallMobileNetV2::forward(const Tensor& x) {
  return classifier->forward(global_average_pool(features->forward(x)));
}

// ---------------------------------------------------------------- inspection

int64_t count_modules(nn::Module& model, std::string_view type_name) {
  int64_t count = 0;
  for (const auto& [name, module] : model.named_modules())
    if (module->type_name() == type_name) ++count;
  return count;
}

}  // namespace dg::dynamic
