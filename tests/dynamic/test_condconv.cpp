// CondConv2d's defining properties: routing weights r = sigmoid(fc(GAP(x))) (independent, each in
// (0, 1), with no hidden layer and no temperature); a routing saturated on one expert reduces the
// layer to that expert's static convolution; sample i's output is the static convolution of sample
// i alone with sum_k r_ik W_k; and a float64 gradient check through input, experts and routing.
#include <catch2/catch.hpp>

#include "dynamic/condconv.h"
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

void sharpen_routing(CondConv2d& layer) {
  dynamic_test::assign(layer.attention->fc->weight, layer.attention->fc->weight * 6.0);
}

}  // namespace

TEST_CASE("CondConv2d: parameter shapes, names and defaults", "[dynamic][condconv]") {
  CondConv2d layer(6, 4, 3, {.padding = {1, 1}}, true, {}, kF64);
  CHECK(layer.num_kernels == 8);
  CHECK(layer.weight.shape() == Shape{8, 4, 6, 3, 3});
  CHECK(layer.bias.shape() == Shape{8, 4});
  std::vector<std::string> names;
  for (const auto& [name, _] : layer.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight", "bias", "attention.fc.weight", "attention.fc.bias"});
  CHECK(layer.attention->fc->weight.shape() == Shape{8, 6});
  CHECK(CondConv2d(4, 4, 3, {}, false, {.num_experts = 3}).weight.shape() == Shape{3, 4, 4, 3, 3});
  CHECK(layer.type_name() == "CondConv2d");
}

TEST_CASE("CondConv2d: routing is sigmoid(fc(GAP(x))), independent per expert", "[dynamic][condconv]") {
  CondConv2d layer(4, 3, 3, {}, true, {.num_experts = 5}, kF64);
  sharpen_routing(layer);
  const Tensor x = uniform_f64({3, 4, 6, 6}, 21);
  layer(x);
  const Tensor expected = sigmoid(linear(mean(x, {2, 3}), layer.attention->fc->weight,
                                         layer.attention->fc->bias));
  CHECK(max_abs_diff(layer.last_routing(), expected) < 1e-15);
  // Not a softmax: the weights of a sample do not sum to 1.
  CHECK(amax(abs(sum(layer.last_routing(), {1}) - 1.0)).item<double>() > 0.1);
}

TEST_CASE("CondConv2d: routing saturated on one expert is that expert's convolution", "[dynamic][condconv]") {
  const Conv2dOptions geometry{.stride = {2, 2}, .padding = {1, 1}};
  CondConv2d layer(3, 4, 3, geometry, true, {.num_experts = 3}, kF64);
  const Tensor x = uniform_f64({2, 3, 7, 7}, 22);
  for (int64_t k = 0; k < 3; ++k) {
    std::vector<double> logits(3, -200.0);  // sigmoid(-200) ~ 1e-87, sigmoid(200) = 1 - 1e-87
    logits[k] = 200.0;
    fix_attention_logits(layer, logits);
    const Tensor expected = conv2d(x, select(layer.weight, 0, k), select(layer.bias, 0, k), geometry);
    CHECK(max_abs_diff(layer(x), expected) < 1e-12);
  }
}

TEST_CASE("CondConv2d: each sample is convolved with its own routed kernel", "[dynamic][condconv]") {
  const std::vector<Conv2dOptions> geometries{
      {.padding = {1, 1}}, {.stride = {2, 2}, .padding = {1, 1}, .groups = 4},
      {.dilation = {2, 2}, .groups = 2}};
  for (const Conv2dOptions& geometry : geometries) {
    const int64_t in = 4, out = 4;
    CondConv2d layer(in, out, 3, geometry, true, {.num_experts = 4}, kF64);
    sharpen_routing(layer);
    const Tensor x = dynamic_test::varied_input({3, in, 8, 7}, 23);
    const Tensor y = layer(x);
    const Tensor r = layer.last_routing();
    CHECK(max_abs_diff(select(r, 0, 0), select(r, 0, 1)) > 1e-2);
    for (int64_t i = 0; i < 3; ++i) {
      CHECK(max_abs_diff(narrow(y, 0, i, 1), reference_sample_output(layer, x, i, row(r, i))) < 1e-12);
      CHECK(max_abs_diff(narrow(y, 0, i, 1), reference_sample_output(layer, x, i, row(r, (i + 1) % 3))) > 1e-4);
    }
  }
}

TEST_CASE("CondConv2d: float64 gradient check (input, experts, biases, routing)", "[dynamic][condconv]") {
  CondConv2d layer(3, 2, 3, {.stride = {2, 2}, .padding = {1, 1}}, true, {.num_experts = 3}, kF64);
  sharpen_routing(layer);
  auto f = [&](const std::vector<Tensor>& in) {
    layer.weight = in[1];
    layer.bias = in[2];
    layer.attention->fc->weight = in[3];
    layer.attention->fc->bias = in[4];
    return layer(in[0]);
  };
  const std::vector<Tensor> inputs{test::grad_input({2, 3, 5, 5}, 24), layer.weight, layer.bias,
                                   layer.attention->fc->weight, layer.attention->fc->bias};
  const GradcheckResult result = gradcheck(f, inputs);
  INFO(result.message);
  CHECK(result.ok);
}
