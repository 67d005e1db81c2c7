// DynamicConv2d's defining properties: one kernel is a static convolution; a constant attention
// (uniform or one-hot) reduces the layer to the static convolution with the mean or the chosen
// kernel; sample i's output is the static convolution of sample i alone with sample i's own mixed
// kernel, for every geometry (stride, padding, dilation, groups, depthwise); the attention is
// softmax(fc2(relu(fc1(GAP(x)))) / T); and a float64 gradient check through input, kernels, biases
// and the attention's weights. Also the free functions mix_kernels and per_sample_conv2d.
#include <catch2/catch.hpp>

#include "dynamic/dyconv.h"
#include "engine/autograd.h"
#include "engine/gradcheck.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::fix_attention_logits;
using dg::dynamic_test::kF64;
using dg::dynamic_test::reference_sample_output;
using dg::dynamic_test::row;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// A geometry to test and a matching layer size.
struct Case {
  const char* name;
  int64_t in, out, kernel;
  Conv2dOptions geometry;
};

const std::vector<Case> kGeometries{
    {"plain 3x3", 3, 4, 3, {}},
    {"stride 2, padding 1", 3, 4, 3, {.stride = {2, 2}, .padding = {1, 1}}},
    {"asymmetric stride and padding", 2, 3, 3, {.stride = {1, 2}, .padding = {2, 0}}},
    {"dilation 2", 2, 3, 3, {.padding = {2, 2}, .dilation = {2, 2}}},
    {"groups 2", 4, 6, 3, {.padding = {1, 1}, .groups = 2}},
    {"depthwise", 4, 4, 3, {.stride = {2, 2}, .padding = {1, 1}, .groups = 4}},
    {"1x1", 5, 3, 1, {}},
};

// Gives the attention large weights and positive hidden biases (no unit stuck at zero by the
// ReLU), so that the softmax at T = 1 differs clearly between samples of varied_input.
void sharpen_attention(DynamicConv2d& layer) {
  const auto& a = *layer.attention;
  dynamic_test::assign(a.fc1->weight, uniform_f64(a.fc1->weight.shape(), 41, -1.0, 1.0));
  dynamic_test::assign(a.fc1->bias, full(a.fc1->bias.shape(), 4.0, DType::f64));
  dynamic_test::assign(a.fc2->weight, uniform_f64(a.fc2->weight.shape(), 42, -0.4, 0.4));
}

}  // namespace

TEST_CASE("DynamicConv2d: parameter shapes, names and defaults", "[dynamic][dyconv]") {
  DynamicConv2d layer(8, 6, 3, {.padding = {1, 1}}, true, {}, kF64);
  CHECK(layer.num_kernels == 4);
  CHECK(layer.temperature() == 30.0);
  CHECK(layer.attention->hidden == 4);  // max(8 / 4, 4)
  CHECK(DynamicConv2d(64, 8, 1).attention->hidden == 16);
  CHECK(DynamicConv2d(64, 8, 1, {}, true, {.attention_hidden = 3}).attention->hidden == 3);
  CHECK(DynamicConv2d(64, 8, 1, {}, true, {.attention_reduction = 16}).attention->hidden == 4);
  CHECK(layer.weight.shape() == Shape{4, 6, 8, 3, 3});
  CHECK(layer.bias.shape() == Shape{4, 6});
  std::vector<std::string> names;
  for (const auto& [name, _] : layer.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight", "bias", "attention.fc1.weight", "attention.fc1.bias",
                                          "attention.fc2.weight", "attention.fc2.bias"});
  CHECK(DynamicConv2d(4, 4, 3, {.groups = 4}, false).weight.shape() == Shape{4, 4, 1, 3, 3});
  CHECK_FALSE(DynamicConv2d(4, 4, 3, {}, false).bias.defined());
  CHECK(layer.type_name() == "DynamicConv2d");
}

TEST_CASE("DynamicConv2d: default initialisation is nn::Conv2d's, per kernel", "[dynamic][dyconv]") {
  DynamicConv2d layer(6, 64, 3, {.groups = 2}, true, {}, kF64);
  const double bound = 1.0 / std::sqrt(3.0 * 9.0);  // fan_in = 6 / 2 * 3 * 3
  for (int64_t k = 0; k < 4; ++k) {
    const Tensor w = select(layer.weight, 0, k);
    CHECK(amax(abs(w)).item<double>() <= bound);
    CHECK(amax(abs(w)).item<double>() > 0.95 * bound);  // 3456 draws fill the range
    CHECK(std::abs(mean(w).item<double>()) < 0.05 * bound);
  }
  CHECK(amax(abs(layer.bias)).item<double>() <= bound);
  CHECK(max_abs_diff(select(layer.weight, 0, 0), select(layer.weight, 0, 1)) > 0.1 * bound);
}

TEST_CASE("DynamicConv2d: one kernel is the static convolution with that kernel", "[dynamic][dyconv]") {
  for (const Case& c : kGeometries) {
    INFO(c.name);
    DynamicConv2d layer(c.in, c.out, c.kernel, c.geometry, true, {.num_kernels = 1}, kF64);
    const Tensor x = uniform_f64({3, c.in, 7, 6}, 1);
    const Tensor expected = conv2d(x, select(layer.weight, 0, 0), select(layer.bias, 0, 0), c.geometry);
    CHECK(max_abs_diff(layer(x), expected) < 1e-12);
  }
}

TEST_CASE("DynamicConv2d: uniform and one-hot attention give the mean and the chosen kernel", "[dynamic][dyconv]") {
  const Case& c = kGeometries[1];
  DynamicConv2d layer(c.in, c.out, c.kernel, c.geometry, true, {.temperature = 1.0}, kF64);
  const Tensor x = uniform_f64({3, c.in, 8, 8}, 2);

  fix_attention_logits(layer, {0, 0, 0, 0});
  const Tensor mean_kernel = mean(layer.weight, {0}), mean_bias = mean(layer.bias, {0});
  CHECK(max_abs_diff(layer(x), conv2d(x, mean_kernel, mean_bias, c.geometry)) < 1e-12);
  CHECK(max_abs_diff(layer.last_attention(), full({3, 4}, 0.25, DType::f64)) < 1e-15);

  for (int64_t k = 0; k < 4; ++k) {
    std::vector<double> logits(4, 0.0);
    logits[k] = 200.0;  // the others get exp(-200) of the weight
    fix_attention_logits(layer, logits);
    const Tensor expected = conv2d(x, select(layer.weight, 0, k), select(layer.bias, 0, k), c.geometry);
    CHECK(max_abs_diff(layer(x), expected) < 1e-12);
  }
}

TEST_CASE("DynamicConv2d: a different one-hot attention per sample picks a different kernel per sample", "[dynamic][dyconv]") {
  const Case& c = kGeometries[4];  // groups 2
  DynamicConv2d layer(c.in, c.out, c.kernel, c.geometry, true, {}, kF64);
  const Tensor x = uniform_f64({4, c.in, 6, 6}, 12);
  const std::vector<int64_t> chosen{2, 0, 3, 2};
  const Tensor one_hot_weights = to_dtype(one_hot(from_vector(chosen), 4), DType::f64);
  const Tensor y = per_sample_conv2d(x, layer.mixed_kernels(one_hot_weights),
                                     layer.mixed_biases(one_hot_weights), layer.geometry);
  for (int64_t n = 0; n < 4; ++n) {
    const int64_t k = chosen[n];
    const Tensor expected = conv2d(narrow(x, 0, n, 1), select(layer.weight, 0, k), select(layer.bias, 0, k), c.geometry);
    CHECK(max_abs_diff(narrow(y, 0, n, 1), expected) < 1e-12);
  }
}

TEST_CASE("DynamicConv2d: each sample is convolved with its own mixed kernel", "[dynamic][dyconv]") {
  for (const Case& c : kGeometries) {
    for (bool bias : {true, false}) {
      INFO(c.name << (bias ? ", bias" : ", no bias"));
      DynamicConv2d layer(c.in, c.out, c.kernel, c.geometry, bias, {.temperature = 1.0}, kF64);
      sharpen_attention(layer);
      const Tensor x = dynamic_test::varied_input({3, c.in, 7, 8}, 3);
      const Tensor y = layer(x);
      const Tensor pi = layer.last_attention();
      REQUIRE(pi.shape() == Shape{3, 4});
      // Inference (no graph recorded) runs the fused kernel_mixture_conv2d: the same outputs.
      const Tensor inferred = [&] {
        NoGradGuard no_grad;
        return layer(x);
      }();
      CHECK(max_abs_diff(inferred, y) < 1e-12);
      CHECK(max_abs_diff(sum(pi, {1}), ones({3}, DType::f64)) < 1e-14);
      // The samples' attentions differ, so a shared kernel could not pass the check below.
      CHECK(max_abs_diff(select(pi, 0, 0), select(pi, 0, 1)) > 1e-2);
      for (int64_t i = 0; i < 3; ++i) {
        const Tensor expected = reference_sample_output(layer, x, i, row(pi, i));
        CHECK(max_abs_diff(narrow(y, 0, i, 1), expected) < 1e-12);
        // ... and not another sample's kernel.
        const Tensor other = reference_sample_output(layer, x, i, row(pi, (i + 1) % 3));
        CHECK(max_abs_diff(narrow(y, 0, i, 1), other) > 1e-4);
      }
    }
  }
}

TEST_CASE("DynamicConv2d: attention is softmax(fc2(relu(fc1(GAP(x)))) / T)", "[dynamic][dyconv]") {
  DynamicConv2d layer(4, 2, 3, {}, true, {.temperature = 7.0}, kF64);
  sharpen_attention(layer);
  const Tensor x = uniform_f64({2, 4, 5, 5}, 4);
  const auto& a = *layer.attention;
  const Tensor z = linear(relu(linear(mean(x, {2, 3}), a.fc1->weight, a.fc1->bias)), a.fc2->weight,
                          a.fc2->bias);
  layer(x);
  CHECK(max_abs_diff(layer.last_attention(), softmax(z / 7.0, 1)) < 1e-15);
  layer.set_temperature(1.0);
  layer(x);
  CHECK(max_abs_diff(layer.last_attention(), softmax(z, 1)) < 1e-15);
  // A higher temperature flattens the attention towards uniform.
  CHECK(amax(abs(softmax(z / 7.0, 1) - 0.25)).item<double>() <
        amax(abs(softmax(z, 1) - 0.25)).item<double>());
  CHECK_THROWS_AS(layer.set_temperature(0.0), Error);
}

TEST_CASE("DynamicConv2d: bad input shapes throw", "[dynamic][dyconv]") {
  DynamicConv2d layer(4, 2, 3, {}, true, {}, kF64);
  CHECK_THROWS_AS(layer(zeros({2, 3, 5, 5}, DType::f64)), Error);
  CHECK_THROWS_AS(layer(zeros({4, 5, 5}, DType::f64)), Error);
  CHECK_THROWS_AS(DynamicConv2d(4, 3, 3, {.groups = 2}), Error);
  CHECK_THROWS_AS(DynamicConv2d(4, 4, 3, {}, true, {.num_kernels = 0}), Error);
}

TEST_CASE("mix_kernels and per_sample_conv2d: the shared building blocks", "[dynamic][dyconv]") {
  const Tensor kernels = uniform_f64({3, 2, 2, 3, 3}, 5);
  const Tensor weights = uniform_f64({4, 3}, 6);
  const Tensor mixed = mix_kernels(weights, kernels);
  REQUIRE(mixed.shape() == Shape{4, 2, 2, 3, 3});
  for (int64_t n = 0; n < 4; ++n)
    CHECK(max_abs_diff(select(mixed, 0, n), dynamic_test::weighted_sum(row(weights, n), kernels)) < 1e-14);
  CHECK_THROWS_AS(mix_kernels(uniform_f64({4, 2}, 7), kernels), Error);

  const Tensor x = uniform_f64({4, 2, 6, 5}, 8), biases = uniform_f64({4, 2}, 9);
  const Conv2dOptions geometry{.stride = {2, 1}, .padding = {1, 1}};
  const Tensor y = per_sample_conv2d(x, mixed, biases, geometry);
  for (int64_t n = 0; n < 4; ++n) {
    const Tensor expected = conv2d(narrow(x, 0, n, 1), select(mixed, 0, n), select(biases, 0, n), geometry);
    CHECK(max_abs_diff(narrow(y, 0, n, 1), expected) < 1e-12);
  }
  CHECK_THROWS_AS(per_sample_conv2d(narrow(x, 0, 0, 3), mixed, biases, geometry), Error);
  CHECK_THROWS_AS(per_sample_conv2d(x, mixed, uniform_f64({4, 3}, 10), geometry), Error);
  CHECK_THROWS_AS(per_sample_conv2d(x, mixed, biases, {.groups = 2}), Error);
}

TEST_CASE("DynamicConv2d: float64 gradient check (input, kernels, biases, attention)", "[dynamic][dyconv]") {
  for (const Case& c : {kGeometries[1], kGeometries[5]}) {
    INFO(c.name);
    DynamicConv2d layer(c.in, c.out, c.kernel, c.geometry, true, {.temperature = 2.0}, kF64);
    sharpen_attention(layer);
    // gradcheck passes fresh copies of its inputs: point the layer's tensors at them.
    auto f = [&](const std::vector<Tensor>& in) {
      layer.weight = in[1];
      layer.bias = in[2];
      layer.attention->fc1->weight = in[3];
      layer.attention->fc2->weight = in[4];
      layer.attention->fc2->bias = in[5];
      return layer(in[0]);
    };
    const std::vector<Tensor> inputs{test::grad_input({2, c.in, 5, 5}, 11), layer.weight, layer.bias,
                                     layer.attention->fc1->weight, layer.attention->fc2->weight,
                                     layer.attention->fc2->bias};
    const GradcheckResult result = gradcheck(f, inputs);
    INFO(result.message);
    CHECK(result.ok);
  }
}
