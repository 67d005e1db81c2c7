// The Fashion-MNIST builders: logits of the right shape for every width and convolution kind;
// every convolution but the stem's comes from the factory (so it is dynamic under DY-Conv or
// CondConv); the feature map sizes of the header's table; torchvision-style parameter names with
// the dynamic layers' stacked kernels; the static ResNet's parameter count; and gradients reaching
// every dynamic parameter.
#include <catch2/catch.hpp>

#include <map>

#include "dynamic/model_builders.h"
#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::dynamic;

namespace {

std::map<std::string, Shape> parameter_shapes(const nn::Module& m) {
  std::map<std::string, Shape> out;
  for (const auto& [name, t] : m.named_parameters()) out.emplace(name, t.shape());
  return out;
}

const char* kind_name(ConvKind kind) {
  switch (kind) {
    case ConvKind::static_conv: return "static";
    case ConvKind::dyconv: return "DY-Conv";
    case ConvKind::condconv: return "CondConv";
  }
  return "?";
}

const char* dynamic_type(ConvKind kind) { return kind == ConvKind::dyconv ? "DynamicConv2d" : "CondConv2d"; }

}  // namespace

TEST_CASE("scaled_channels: multiples of 4, at least 4, never 10% below", "[dynamic][builders]") {
  CHECK(scaled_channels(16, 1.0) == 16);
  CHECK(scaled_channels(16, 0.75) == 12);
  CHECK(scaled_channels(16, 0.5) == 8);
  CHECK(scaled_channels(24, 0.5) == 12);
  CHECK(scaled_channels(8, 0.75) == 8);
  CHECK(scaled_channels(8, 0.5) == 4);
  CHECK(scaled_channels(4, 0.25) == 4);
  CHECK(scaled_channels(256, 1.0) == 256);
  CHECK_THROWS_AS(scaled_channels(16, 0.0), Error);
}

TEST_CASE("Builders: logits shape and every convolution but the first from the factory", "[dynamic][builders]") {
  const Tensor x = test::uniform_f32({2, 1, 28, 28}, 31);
  for (ConvKind kind : {ConvKind::static_conv, ConvKind::dyconv, ConvKind::condconv}) {
    for (double width : {0.5, 0.75, 1.0}) {
      INFO(kind_name(kind) << " width " << width);
      SmallResNet resnet({.width_multiplier = width}, make_conv_factory(kind));
      SmallMobileNetV2 mobilenet({.width_multiplier = width}, make_conv_factory(kind));
      CHECK(resnet(x).shape() == Shape{2, 10});
      CHECK(mobilenet(x).shape() == Shape{2, 10});
      // ResNet-14: stem + 12 block convolutions + 2 downsample projections. MobileNetV2: stem +
      // 2 (first block, no expansion) + 7 x 3 + the last 1x1.
      if (kind == ConvKind::static_conv) {
        CHECK(count_modules(resnet, "Conv2d") == 15);
        CHECK(count_modules(mobilenet, "Conv2d") == 25);
      } else {
        CHECK(count_modules(resnet, "Conv2d") == 1);
        CHECK(count_modules(resnet, dynamic_type(kind)) == 14);
        CHECK(count_modules(mobilenet, "Conv2d") == 1);
        CHECK(count_modules(mobilenet, dynamic_type(kind)) == 24);
      }
    }
  }
  SmallResNet deeper({.blocks_per_stage = 3, .num_classes = 5});
  CHECK(count_modules(deeper, "BasicBlock") == 9);
  CHECK(deeper(x).shape() == Shape{2, 5});
}

TEST_CASE("SmallResNet: feature map sizes, names and parameter count", "[dynamic][builders]") {
  SmallResNet static_net;
  CHECK(static_net.num_parameters() == 174970);
  const Tensor x = test::uniform_f32({2, 1, 28, 28}, 32);
  const Tensor h1 = static_net.layer1->forward(static_net.stem->forward(x));
  const Tensor h2 = static_net.layer2->forward(h1);
  CHECK(h1.shape() == Shape{2, 16, 28, 28});
  CHECK(h2.shape() == Shape{2, 32, 14, 14});
  CHECK(static_net.layer3->forward(h2).shape() == Shape{2, 64, 7, 7});

  SmallResNet dynamic_net({}, make_conv_factory(ConvKind::dyconv));
  const auto shapes = parameter_shapes(dynamic_net);
  CHECK(shapes.at("stem.0.weight") == Shape{16, 1, 3, 3});
  CHECK(shapes.at("layer1.0.conv1.weight") == Shape{4, 16, 16, 3, 3});
  CHECK(shapes.at("layer1.0.conv1.attention.fc1.weight") == Shape{4, 16});
  CHECK(shapes.at("layer1.0.conv1.attention.fc2.weight") == Shape{4, 4});
  CHECK(shapes.at("layer3.1.conv2.weight") == Shape{4, 64, 64, 3, 3});
  CHECK(shapes.at("layer3.1.conv2.attention.fc1.weight") == Shape{16, 64});
  CHECK(shapes.at("layer2.0.downsample.0.weight") == Shape{4, 32, 16, 1, 1});
  CHECK(shapes.at("layer2.0.downsample.1.weight") == Shape{32});
  CHECK(shapes.at("fc.weight") == Shape{10, 64});
  CHECK(shapes.count("layer1.0.conv1.bias") == 0);  // batch norm follows
  CHECK(dynamic_net.state_dict().count("layer1.0.bn1.running_mean") == 1);
}

TEST_CASE("SmallMobileNetV2: names, depthwise dynamic kernels, last width", "[dynamic][builders]") {
  CHECK(SmallMobileNetV2().num_parameters() == 85994);
  SmallMobileNetV2 net({.width_multiplier = 0.5}, make_conv_factory(ConvKind::condconv));
  const auto shapes = parameter_shapes(net);
  CHECK(shapes.at("features.0.0.weight") == Shape{8, 1, 3, 3});
  CHECK(shapes.at("features.1.conv.0.0.weight") == Shape{8, 8, 1, 3, 3});  // depthwise, 8 experts
  CHECK(shapes.at("features.1.conv.1.weight") == Shape{8, 4, 8, 1, 1});
  CHECK(shapes.at("features.2.conv.0.0.weight") == Shape{8, 24, 4, 1, 1});  // expand 4 -> 24
  CHECK(shapes.at("features.2.conv.1.0.weight") == Shape{8, 24, 1, 3, 3});
  CHECK(shapes.at("features.2.conv.1.0.attention.fc.weight") == Shape{8, 24});
  CHECK(shapes.at("features.9.0.weight") == Shape{8, 256, 32, 1, 1});  // last width stays 256
  CHECK(shapes.at("classifier.weight") == Shape{10, 256});
  const Tensor x = test::uniform_f32({2, 1, 28, 28}, 33);
  CHECK(net.features->forward(x).shape() == Shape{2, 256, 7, 7});
}

TEST_CASE("Builders: gradients reach every parameter of a dynamic network", "[dynamic][builders]") {
  Generator generator(35);
  const nn::ParamOptions param{.generator = &generator};
  SmallResNet net({.width_multiplier = 0.5, .blocks_per_stage = 1}, make_conv_factory(ConvKind::dyconv, param),
                  param);
  set_dynamic_conv_temperature(net, 1.0);
  const Tensor x = test::uniform_f32({3, 1, 28, 28}, 34);
  const Tensor loss = cross_entropy(net(x), tensor_i64({1, 4, 7}));
  loss.backward();
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    // An attention's hidden ReLU units can all be off for every sample of a batch (then fc1 and
    // fc2's weight get zero gradient, as in PyTorch); the rest always receives some.
    const bool may_be_zero = name.find("attention.fc1") != std::string::npos ||
                             name.find("attention.fc2.weight") != std::string::npos;
    if (!may_be_zero) CHECK(amax(abs(p.grad())).item<double>() > 0.0);
  }
}
