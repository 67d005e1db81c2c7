// PartiallyDynamicConv2d's defining properties (PAD-Net Eq. 3-4): with the mask all ones it is the
// wrapped DY-Conv; with the mask all zeros and no scale factors it is the static convolution with
// Theta_static; a mixed mask takes each kernel element from the side its mask entry names; the
// scale-factor options give the stated lambda_d / lambda_s (2 sigmoid(phi) and 2 - that under the
// sum constraint); and float64 gradient checks of dL/dM (the mask's gradient, computed on the graph,
// which the mode partition scores), of the scale logit, the static kernel and the input.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/condconv.h"
#include "dynamic/model_builders.h"
#include "engine/gradcheck.h"
#include "partition/partially_dynamic_conv.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using namespace dg::partition;
using dg::dynamic_test::assign;
using dg::dynamic_test::kF64;
using dg::dynamic_test::varied_input;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

const Conv2dOptions kGeometry{.stride = {2, 2}, .padding = {1, 1}};

std::shared_ptr<DynamicConv2d> dyconv(bool bias = false, const Conv2dOptions& geometry = kGeometry,
                                      int64_t in = 3, int64_t out = 4) {
  auto layer = std::make_shared<DynamicConv2d>(in, out, 3, geometry, bias,
                                               DynamicConvOptions{.temperature = 1.0}, kF64);
  // Positive hidden biases and moderate output weights: attention that differs between samples.
  assign(layer->attention->fc1->bias, full(layer->attention->fc1->bias.shape(), 2.0, DType::f64));
  assign(layer->attention->fc2->weight, uniform_f64(layer->attention->fc2->weight.shape(), 51, -0.5, 0.5));
  return layer;
}

// A 0/1 mask of one kernel's shape with about half the entries dynamic.
Tensor half_mask(const Shape& shape, uint64_t seed) {
  return to_dtype(gt(uniform_f64(shape, seed), 0.0), DType::f64);
}

}  // namespace

TEST_CASE("PartiallyDynamicConv2d: parameters, mask buffer and names", "[partition][padnet]") {
  PartiallyDynamicConv2d layer(dyconv(true), {}, kF64);
  CHECK(layer.static_weight.shape() == Shape{4, 3, 3, 3});
  CHECK(layer.mode_mask.shape() == Shape{4, 3, 3, 3});
  CHECK(amin(layer.mode_mask).item<double>() == 1.0);
  CHECK(layer.dynamic_ratio() == 1.0);
  CHECK_FALSE(layer.mode_mask.requires_grad());
  std::vector<std::string> names;
  for (const auto& [name, _] : layer.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"static_weight", "scale_logit", "dynamic.weight", "dynamic.bias",
                                          "dynamic.attention.fc1.weight", "dynamic.attention.fc1.bias",
                                          "dynamic.attention.fc2.weight", "dynamic.attention.fc2.bias"});
  CHECK(layer.state_dict().count("mode_mask") == 1);
  // The static kernel starts from nn::Conv2d's default: U(-1/sqrt(27), 1/sqrt(27)).
  CHECK(amax(abs(layer.static_weight)).item<double>() <= 1.0 / std::sqrt(27.0));
  CHECK_THROWS_AS(layer.set_mode_mask(ones({4, 3, 3}, DType::f64)), Error);
  layer.set_mode_mask(half_mask({4, 3, 3, 3}, 52));
  CHECK(layer.dynamic_ratio() > 0.3);
  CHECK(layer.dynamic_ratio() < 0.7);
}

TEST_CASE("PartiallyDynamicConv2d: mask all ones is the dynamic convolution", "[partition][padnet]") {
  for (bool bias : {false, true}) {
    auto dynamic_layer = dyconv(bias);
    PartiallyDynamicConv2d layer(dynamic_layer, {}, kF64);  // lambda_d = 2 sigmoid(0) = 1
    const Tensor x = varied_input({3, 3, 7, 7}, 53);
    CHECK(max_abs_diff(layer(x), dynamic_layer->forward(x)) < 1e-13);
  }
  // CondConv wrapped the same way.
  auto cond = std::make_shared<CondConv2d>(3, 4, 3, kGeometry, false, CondConvOptions{.num_experts = 3}, kF64);
  PartiallyDynamicConv2d layer(cond, {.scale_factors = ScaleFactors::none}, kF64);
  const Tensor x = varied_input({2, 3, 6, 6}, 54);
  CHECK(max_abs_diff(layer(x), cond->forward(x)) < 1e-13);
}

TEST_CASE("PartiallyDynamicConv2d: mask all zeros is the static convolution", "[partition][padnet]") {
  for (const Conv2dOptions& geometry : {kGeometry, Conv2dOptions{.padding = {1, 1}, .groups = 4}}) {
    PartiallyDynamicConv2d layer(dyconv(false, geometry, 4, 4), {.scale_factors = ScaleFactors::none}, kF64);
    layer.set_mode_mask(zeros(layer.mode_mask.shape(), DType::f64));
    CHECK(layer.dynamic_ratio() == 0.0);
    const Tensor x = varied_input({3, 4, 7, 7}, 55);
    CHECK(max_abs_diff(layer(x), conv2d(x, layer.static_weight, Tensor(), geometry)) < 1e-13);
  }
}

TEST_CASE("PartiallyDynamicConv2d: a mixed mask takes each element from its side, scaled", "[partition][padnet]") {
  PartiallyDynamicConv2d layer(dyconv(), {}, kF64);
  const Tensor mask = half_mask({4, 3, 3, 3}, 56);
  layer.set_mode_mask(mask);
  assign(layer.scale_logit, scalar(0.7, DType::f64));
  const double lambda_d = 2.0 / (1.0 + std::exp(-0.7)), lambda_s = 2.0 - lambda_d;
  CHECK(layer.lambda_dynamic().item<double>() == Approx(lambda_d).epsilon(1e-14));
  CHECK(layer.lambda_static().item<double>() == Approx(lambda_s).epsilon(1e-14));

  const Tensor x = varied_input({3, 3, 7, 7}, 57);
  const Tensor y = layer(x);
  const Tensor weights = layer.dynamic->last_mixing_weights();
  for (int64_t i = 0; i < 3; ++i) {
    const Tensor dynamic_kernel = dynamic_test::weighted_sum(dynamic_test::row(weights, i), layer.dynamic->weight);
    const Tensor kernel = where(eq(mask, 1.0), dynamic_kernel * lambda_d, layer.static_weight * lambda_s);
    const Tensor expected = conv2d(narrow(x, 0, i, 1), kernel, Tensor(), kGeometry);
    CHECK(max_abs_diff(narrow(y, 0, i, 1), expected) < 1e-12);
  }
}

TEST_CASE("PartiallyDynamicConv2d: scale factor options", "[partition][padnet]") {
  auto names_of = [](const PartiallyDynamicConv2d& l) {
    std::vector<std::string> out;
    for (const auto& [name, _] : l.named_parameters(false)) out.push_back(name);
    return out;
  };
  PartiallyDynamicConv2d none(dyconv(), {.scale_factors = ScaleFactors::none}, kF64);
  PartiallyDynamicConv2d s(dyconv(), {.scale_factors = ScaleFactors::static_only}, kF64);
  PartiallyDynamicConv2d d(dyconv(), {.scale_factors = ScaleFactors::dynamic_only}, kF64);
  PartiallyDynamicConv2d both(dyconv(), {.scale_factors = ScaleFactors::both_free}, kF64);
  PartiallyDynamicConv2d sum2(dyconv(), {.scale_factors = ScaleFactors::both_constrained}, kF64);
  CHECK(names_of(none) == std::vector<std::string>{"static_weight"});
  CHECK(names_of(s) == std::vector<std::string>{"static_weight", "scale_static"});
  CHECK(names_of(d) == std::vector<std::string>{"static_weight", "scale_dynamic"});
  CHECK(names_of(both) == std::vector<std::string>{"static_weight", "scale_static", "scale_dynamic"});
  CHECK(names_of(sum2) == std::vector<std::string>{"static_weight", "scale_logit"});
  // All start at lambda = 1.
  for (const auto* l : {&none, &s, &d, &both, &sum2}) {
    CHECK(l->lambda_dynamic().item<double>() == 1.0);
    CHECK(l->lambda_static().item<double>() == 1.0);
  }
  assign(s.scale_static, scalar(0.3, DType::f64));
  CHECK(s.lambda_static().item<double>() == 0.3);
  CHECK(s.lambda_dynamic().item<double>() == 1.0);
  assign(sum2.scale_logit, scalar(-2.0, DType::f64));
  CHECK(sum2.lambda_dynamic().item<double>() + sum2.lambda_static().item<double>() == Approx(2.0).epsilon(1e-15));
  CHECK(sum2.lambda_dynamic().item<double>() < 1.0);
  // With the static side off, lambda_s scales nothing: only lambda_d matters.
  assign(both.scale_static, scalar(5.0, DType::f64));
  assign(both.scale_dynamic, scalar(0.5, DType::f64));
  const Tensor x = varied_input({2, 3, 6, 6}, 58);
  CHECK(max_abs_diff(both(x), both.dynamic->forward(x) * 0.5) < 1e-13);
}

TEST_CASE("PartiallyDynamicConv2d: float64 gradient check of dL/dM (and scale, static kernel, input)", "[partition][padnet]") {
  PartiallyDynamicConv2d layer(dyconv(true), {}, kF64);
  layer.set_mode_mask(half_mask({4, 3, 3, 3}, 59));  // the gradient is checked at a mixed mask
  assign(layer.scale_logit, scalar(0.3, DType::f64));
  auto f = [&](const std::vector<Tensor>& in) {
    layer.mode_mask = in[1];
    layer.scale_logit = in[2];
    layer.static_weight = in[3];
    layer.dynamic->weight = in[4];
    return layer(in[0]);
  };
  const std::vector<Tensor> inputs{test::grad_input({2, 3, 5, 5}, 60), layer.mode_mask.detach().clone().set_requires_grad(true),
                                   layer.scale_logit, layer.static_weight, layer.dynamic->weight};
  const GradcheckResult result = gradcheck(f, inputs);
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("PartiallyDynamicConv2d: the mode mask gets dL/dM from an ordinary backward pass", "[partition][padnet]") {
  PartiallyDynamicConv2d layer(dyconv(), {.scale_factors = ScaleFactors::none}, kF64);
  layer.mode_mask.set_requires_grad(true);
  const Tensor x = varied_input({2, 3, 6, 6}, 61);
  const Tensor upstream = uniform_f64({2, 4, 3, 3}, 62);
  sum(layer(x) * upstream).backward();
  REQUIRE(layer.mode_mask.grad().defined());
  // dL/dM = sum over samples of (Theta_dyn(x_n) - Theta_static) (.) dL/dTheta_hat_n; check it against
  // the same sum built from the two sides' own gradients.
  const Tensor weights = layer.dynamic->last_mixing_weights();
  Tensor expected = zeros_like(layer.static_weight);
  for (int64_t n = 0; n < 2; ++n) {
    Tensor kernel = dynamic_test::weighted_sum(dynamic_test::row(weights, n), layer.dynamic->weight).detach();
    kernel.set_requires_grad(true);
    sum(conv2d(narrow(x, 0, n, 1), kernel, Tensor(), kGeometry) * narrow(upstream, 0, n, 1)).backward();
    expected = expected + (kernel.detach() - layer.static_weight.detach()) * kernel.grad();
  }
  CHECK(max_abs_diff(layer.mode_mask.grad(), expected) < 1e-12);
}

TEST_CASE("partially_dynamic_conv2d_factory drops into the builders", "[partition][padnet]") {
  SmallResNet net({.width_multiplier = 0.5, .blocks_per_stage = 1}, partially_dynamic_conv2d_factory());
  CHECK(count_modules(net, "PartiallyDynamicConv2d") == 8);
  CHECK(count_modules(net, "DynamicConv2d") == 8);
  CHECK(count_modules(net, "Conv2d") == 1);
  CHECK(net(test::uniform_f32({2, 1, 28, 28}, 63)).shape() == Shape{2, 10});
  CHECK(net.state_dict().count("layer1.0.conv1.mode_mask") == 1);
  CHECK(net.state_dict().count("layer1.0.conv1.dynamic.weight") == 1);

  SmallMobileNetV2 cond({.width_multiplier = 0.5},
                        partially_dynamic_factory(cond_conv2d_factory({.num_experts = 3})));
  CHECK(count_modules(cond, "PartiallyDynamicConv2d") == 24);
  CHECK(count_modules(cond, "CondConv2d") == 24);
  CHECK(cond(test::uniform_f32({2, 1, 28, 28}, 64)).shape() == Shape{2, 10});
  CHECK_THROWS_AS(SmallResNet({}, partially_dynamic_factory(nn::conv2d_factory())), Error);
}
