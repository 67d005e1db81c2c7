// The ResNet and MobileNetV2 blocks' defining properties, beyond the PyTorch comparisons in
// test_layers_golden.cpp: output shapes, a downsample projection exactly when the stride or the
// width changes, torchvision's state-dict keys, the residual connection (with the last batch
// norm's weight and bias at zero a block reduces to its shortcut, torchvision's
// zero_init_residual), the hidden width and residual rule of InvertedResidual, and that every
// convolution comes from the ConvFactory passed in (what the dynamic-convolution layers rely on).
#include <catch2/catch.hpp>

#include "nn/nn.h"
#include "tests/engine/test_util.h"
#include "tests/nn/layer_test_util.h"

using namespace dg;
using namespace dg::nn;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

using dg::nn_test::keys;
using dg::nn_test::kF64;

// Keys without the batch-norm buffers, for shorter expected lists.
std::vector<std::string> parameter_names(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [k, _] : m.named_parameters()) out.push_back(k);
  return out;
}

void zero_(const Tensor& t) {
  NoGradGuard no_grad;
  Tensor handle = t;
  handle.zero_();
}

// A factory that records every spec it is asked for and builds the default convolution.
struct RecordingFactory {
  std::shared_ptr<std::vector<ConvSpec>> specs = std::make_shared<std::vector<ConvSpec>>();
  ConvFactory factory() {
    auto log = specs;
    ConvFactory inner = conv2d_factory(kF64);
    return [log, inner](const ConvSpec& s) {
      log->push_back(s);
      return inner(s);
    };
  }
};

bool same_spec(const ConvSpec& a, const ConvSpec& b) {
  return a.in_channels == b.in_channels && a.out_channels == b.out_channels &&
         a.kernel_size == b.kernel_size && a.stride == b.stride && a.padding == b.padding &&
         a.groups == b.groups;
}

}  // namespace

TEST_CASE("BasicBlock: shapes, downsample rule and torchvision's keys", "[nn][blocks]") {
  BasicBlock same(8, 8, 1);
  CHECK(same.downsample == nullptr);
  CHECK(same(zeros({2, 8, 6, 6})).shape() == Shape{2, 8, 6, 6});
  CHECK(parameter_names(same) == std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias",
                                                          "conv2.weight", "bn2.weight", "bn2.bias"});
  BasicBlock down(8, 16, 2);
  REQUIRE(down.downsample != nullptr);
  CHECK(down(zeros({2, 8, 7, 7})).shape() == Shape{2, 16, 4, 4});
  CHECK(keys(down.state_dict()) ==
        std::vector<std::string>{"bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var",
                                 "bn1.weight", "bn2.bias", "bn2.num_batches_tracked", "bn2.running_mean",
                                 "bn2.running_var", "bn2.weight", "conv1.weight", "conv2.weight",
                                 "downsample.0.weight", "downsample.1.bias", "downsample.1.num_batches_tracked",
                                 "downsample.1.running_mean", "downsample.1.running_var", "downsample.1.weight"});
  CHECK(down.state_dict().at("downsample.0.weight").shape() == Shape{16, 8, 1, 1});
  // A width change alone also needs the projection.
  CHECK(BasicBlock(8, 16, 1).downsample != nullptr);
}

TEST_CASE("Bottleneck: expansion 4, stride on the 3x3 convolution, downsample rule", "[nn][blocks]") {
  Bottleneck same(16, 4, 1);
  CHECK(same.downsample == nullptr);  // 16 == 4 * 4
  CHECK(same(zeros({1, 16, 5, 5})).shape() == Shape{1, 16, 5, 5});
  Bottleneck down(8, 4, 2, {}, kF64);
  REQUIRE(down.downsample != nullptr);
  CHECK(down(zeros({1, 8, 6, 6}, DType::f64)).shape() == Shape{1, 16, 3, 3});
  CHECK(parameter_names(down) ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight",
                                 "bn2.bias", "conv3.weight", "bn3.weight", "bn3.bias",
                                 "downsample.0.weight", "downsample.1.weight", "downsample.1.bias"});
  CHECK(down.state_dict().at("conv1.weight").shape() == Shape{4, 8, 1, 1});
  CHECK(down.state_dict().at("conv2.weight").shape() == Shape{4, 4, 3, 3});
  CHECK(down.state_dict().at("conv3.weight").shape() == Shape{16, 4, 1, 1});
}

TEST_CASE("residual blocks: with the last batch norm zeroed, a block is relu(shortcut(x))", "[nn][blocks]") {
  const Tensor x = uniform_f64({2, 4, 5, 5}, 1, -2.0, 2.0);
  BasicBlock identity(4, 4, 1, {}, kF64);
  zero_(identity.bn2->weight);
  zero_(identity.bn2->bias);
  CHECK(max_abs_diff(identity(x), relu(x)) == 0.0);

  Bottleneck projected(4, 2, 2, {}, kF64);
  zero_(projected.bn3->weight);
  zero_(projected.bn3->bias);
  projected.eval();
  CHECK(max_abs_diff(projected(x), relu((*projected.downsample)(x))) == 0.0);
  // And otherwise the residual branch contributes.
  CHECK(max_abs_diff(BasicBlock(4, 4, 1, {}, kF64)(x), relu(x)) > 1e-3);
}

TEST_CASE("InvertedResidual: hidden width, residual rule and torchvision's keys", "[nn][blocks]") {
  InvertedResidual expand(16, 16, 1, 6.0);
  CHECK(expand.hidden_dim == 96);
  CHECK(expand.use_residual);
  CHECK(expand(zeros({1, 16, 4, 4})).shape() == Shape{1, 16, 4, 4});
  CHECK(parameter_names(expand) ==
        std::vector<std::string>{"conv.0.0.weight", "conv.0.1.weight", "conv.0.1.bias", "conv.1.0.weight",
                                 "conv.1.1.weight", "conv.1.1.bias", "conv.2.weight", "conv.3.weight",
                                 "conv.3.bias"});
  CHECK(expand.state_dict().at("conv.1.0.weight").shape() == Shape{96, 1, 3, 3});  // depthwise

  InvertedResidual plain(16, 24, 2, 1.0);
  CHECK(plain.hidden_dim == 16);
  CHECK_FALSE(plain.use_residual);
  CHECK(plain(zeros({1, 16, 5, 5})).shape() == Shape{1, 24, 3, 3});
  CHECK(parameter_names(plain) ==
        std::vector<std::string>{"conv.0.0.weight", "conv.0.1.weight", "conv.0.1.bias", "conv.1.weight",
                                 "conv.2.weight", "conv.2.bias"});
  // Python's round() of 2.5 is 2 (half to even), so 5 inputs at ratio 0.5 give 2 hidden channels.
  CHECK(InvertedResidual(5, 5, 1, 0.5).hidden_dim == 2);
  CHECK_THROWS_WITH(InvertedResidual(4, 4, 3, 6.0), Catch::Contains("InvertedResidual: stride must be 1 or 2, got 3"));

  // The residual: with the projection's batch norm zeroed the block is the identity.
  InvertedResidual block(4, 4, 1, 6.0, {}, kF64);
  auto* last_bn = dynamic_cast<BatchNorm2d*>((*block.conv)[3].get());
  REQUIRE(last_bn != nullptr);
  zero_(last_bn->weight);
  zero_(last_bn->bias);
  const Tensor x = uniform_f64({2, 4, 3, 3}, 2);
  CHECK(max_abs_diff(block(x), x) == 0.0);
}

TEST_CASE("blocks: every convolution comes from the ConvFactory, with torchvision's geometry", "[nn][blocks]") {
  RecordingFactory basic;
  BasicBlock b(4, 8, 2, basic.factory(), kF64);
  REQUIRE(basic.specs->size() == 3);
  CHECK(same_spec((*basic.specs)[0], {.in_channels = 4, .out_channels = 8, .kernel_size = 3, .stride = 2, .padding = 1}));
  CHECK(same_spec((*basic.specs)[1], {.in_channels = 8, .out_channels = 8, .kernel_size = 3, .stride = 1, .padding = 1}));
  CHECK(same_spec((*basic.specs)[2], {.in_channels = 4, .out_channels = 8, .kernel_size = 1, .stride = 2, .padding = 0}));

  RecordingFactory bottleneck;
  Bottleneck n(8, 4, 2, bottleneck.factory(), kF64);
  REQUIRE(bottleneck.specs->size() == 4);
  CHECK(same_spec((*bottleneck.specs)[1], {.in_channels = 4, .out_channels = 4, .kernel_size = 3, .stride = 2, .padding = 1}));

  RecordingFactory mobile;
  InvertedResidual m(4, 6, 2, 3.0, mobile.factory(), kF64);
  REQUIRE(mobile.specs->size() == 3);
  CHECK(same_spec((*mobile.specs)[0], {.in_channels = 4, .out_channels = 12, .kernel_size = 1}));
  CHECK(same_spec((*mobile.specs)[1], {.in_channels = 12, .out_channels = 12, .kernel_size = 3, .stride = 2, .padding = 1, .groups = 12}));
  CHECK(same_spec((*mobile.specs)[2], {.in_channels = 12, .out_channels = 6, .kernel_size = 1}));

  // A custom factory's modules are used as they are: here convolutions with a bias, which then
  // appear in the block's state dict.
  int calls = 0;
  ConvFactory counting = [&calls](const ConvSpec& s) -> std::shared_ptr<UnaryModule> {
    ++calls;
    return std::make_shared<Conv2d>(s.in_channels, s.out_channels, s.kernel_size,
                                    Conv2dOptions{.stride = {s.stride, s.stride}, .padding = {s.padding, s.padding}, .groups = s.groups},
                                    /*bias=*/true);
  };
  BasicBlock with_bias(4, 4, 1, counting);
  CHECK(calls == 2);
  CHECK(with_bias.state_dict().count("conv1.bias") == 1);
}
