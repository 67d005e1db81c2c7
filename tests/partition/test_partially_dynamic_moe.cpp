// PAD-Net's partially dynamic MoE (partition/partially_dynamic_moe.h): its defining properties.
// With masks of ones and lambdas 1 it is the plain MoE (output, statistics, auxiliary loss); with
// masks of zeros every expert is the static FFN, whatever the routing; upcycling sets the static
// weights to the dense FFN's; dL/dM from the engine's graph matches float64 central differences in
// every entry of both masks; bad masks and expert weights are dg::Errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/moe/switch_gate.h"
#include "engine/autograd.h"
#include "tests/partition/moe_partition_test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::partition_test;

namespace {

const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

// expert_e(x) = gelu(x W1 + b1) W2 + b2 for every token, from explicit weights.
Tensor expert_output(const dynamic::ExpertWeights& w, int64_t e, const Tensor& x) {
  const Tensor h = gelu(matmul(x, select(w.w1, 0, e)) + select(w.b1, 0, e));
  return matmul(h, select(w.w2, 0, e)) + select(w.b2, 0, e);
}

}  // namespace

TEST_CASE("PAD-Net MoE: masks of ones and lambdas 1 compute exactly the plain MoE", "[partition][padnet][moe]") {
  // A Switch gate in capacity mode: drops, statistics and an auxiliary loss are all the MoE's.
  Generator generator(3);
  auto gate = std::make_shared<dynamic::SwitchGate>(4, 3, dynamic::SwitchOptions{}, nn::ParamOptions{.generator = &generator, .dtype = DType::f64});
  auto moe = std::make_shared<dynamic::MoE>(4, 6, gate,
                                            dynamic::MoEOptions{.mode = dynamic::MoEMode::capacity, .capacity_factor = 0.7},
                                            nn::ParamOptions{.generator = &generator, .dtype = DType::f64});
  for (ScaleFactors scale : {ScaleFactors::both_constrained, ScaleFactors::none, ScaleFactors::both_free}) {
    PartiallyDynamicMoE padnet(moe, {scale});
    dynamic_test::assign(padnet.static_w1, test::uniform_f64({4, 6}, 5));  // must not leak in
    const Tensor x = test::uniform_f64({11, 4}, 6);
    const Tensor expected = moe->forward(x);
    const dynamic::MoEStats expected_stats = moe->stats();
    const double expected_aux = moe->aux_loss().item<double>();
    const Tensor out = padnet.forward(x);
    CHECK(test::max_abs_diff(out, expected) == 0.0);
    CHECK(padnet.stats().tokens_per_expert == expected_stats.tokens_per_expert);
    CHECK(padnet.stats().dropped_slots == expected_stats.dropped_slots);
    CHECK(expected_stats.dropped_slots > 0);  // capacity really dropped something
    CHECK(padnet.aux_loss().item<double>() == expected_aux);
    CHECK(padnet.dynamic_ratio() == 1.0);
  }
}

TEST_CASE("PAD-Net MoE: masks of zeros make every expert the static FFN", "[partition][padnet][moe]") {
  // Upcycled with noise: the experts' weights differ, their biases are the FFN's (paper: biases
  // stay per expert and dynamic; here they start equal, so M = 0 leaves nothing expert-specific).
  Generator generator(8);
  const nn::ParamOptions param{.generator = &generator, .dtype = DType::f64};
  nn::Linear fc1(4, 7, true, param), fc2(7, 4, true, param);
  auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(4, 5, 2, dynamic::SoftmaxTopKOptions{}, param);
  auto padnet = PartiallyDynamicMoE::upcycle(fc1, fc2, gate, {}, {}, /*noise_std=*/0.2, param);
  CHECK(test::max_abs_diff(select(padnet->moe->w1, 0, 0), select(padnet->moe->w1, 0, 1)) > 0.01);
  // upcycle: W_s is the dense FFN's weights exactly, whatever the noise on the copies.
  CHECK(test::max_abs_diff(padnet->static_w1, transpose(fc1.weight, 0, 1)) == 0.0);
  CHECK(test::max_abs_diff(padnet->static_w2, transpose(fc2.weight, 0, 1)) == 0.0);
  dynamic_test::assign(padnet->scale_logit, full({}, -0.4, DType::f64));
  padnet->set_mask_w1(zeros({4, 7}, DType::f64));
  padnet->set_mask_w2(zeros({7, 4}, DType::f64));
  CHECK(padnet->dynamic_ratio() == 0.0);

  const Tensor x = test::uniform_f64({9, 4}, 9);
  const double lambda_s = 2.0 - 2.0 / (1.0 + std::exp(0.4));
  const Tensor h = gelu(matmul(x, transpose(fc1.weight, 0, 1) * lambda_s) + fc1.bias);
  const Tensor static_ffn = matmul(h, transpose(fc2.weight, 0, 1) * lambda_s) + fc2.bias;
  const dynamic::ExpertWeights w = padnet->computational_weights();
  for (int64_t e = 0; e < 5; ++e) CHECK(test::max_abs_diff(expert_output(w, e, x), static_ffn) < 1e-12);
  // The renormalised top-2 weights sum to 1, so the layer's output is the static FFN too.
  CHECK(test::max_abs_diff(padnet->forward(x), static_ffn) < 1e-12);
}

TEST_CASE("PAD-Net MoE: built from an MoE, the static weights are the experts' mean", "[partition][padnet][moe]") {
  auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(3, 4, 2, dynamic::SoftmaxTopKOptions{}, kF64);
  auto moe = std::make_shared<dynamic::MoE>(3, 5, gate, dynamic::MoEOptions{}, kF64);
  PartiallyDynamicMoE padnet(moe);
  const std::vector<double> w1 = moe->w1.to_vector<double>(), s1 = padnet.static_w1.to_vector<double>();
  double worst = 0.0;
  for (size_t j = 0; j < s1.size(); ++j) {
    double m = 0.0;
    for (size_t e = 0; e < 4; ++e) m += w1[e * s1.size() + j] / 4.0;
    worst = std::max(worst, std::abs(m - s1[j]));
  }
  CHECK(worst < 1e-15);
  CHECK(padnet.mode_mask_sites().size() == 2);
  CHECK(padnet.mode_mask_sites()[1].dynamic_weights.same(moe->w2));
}

TEST_CASE("PAD-Net MoE: dL/dM equals float64 central differences in every entry of both masks",
          "[partition][padnet][moe]") {
  auto layer = padnet_moe(3, 4, 3, 2, 31);
  // A mixed point: some entries static already (the relaxed derivative at M, Eq. 7).
  layer->set_mask_w1(to_dtype(gt(test::uniform_f64({3, 4}, 32), -0.3), DType::f64));
  layer->set_mask_w2(to_dtype(gt(test::uniform_f64({4, 3}, 33), -0.3), DType::f64));
  const Tensor x = test::uniform_f64({7, 3}, 34), target = test::uniform_f64({7, 3}, 35);
  auto loss = [&] { return sum(pow(layer->forward(x) - target, 2.0)); };
  layer->mask_w1.set_requires_grad(true);
  layer->mask_w2.set_requires_grad(true);
  loss().backward();
  const std::vector<Tensor> g{layer->mask_w1.grad().clone(), layer->mask_w2.grad().clone()};
  layer->mask_w1.set_requires_grad(false);
  layer->mask_w2.set_requires_grad(false);
  const double eps = 1e-6;
  double worst = 0.0, largest = 0.0;
  for (size_t site = 0; site < 2; ++site) {
    const Tensor base = layer->mode_mask_sites()[site].mask.clone();
    std::vector<double> values = base.to_vector<double>();
    const std::vector<double> gradient = g[site].to_vector<double>();
    for (size_t j = 0; j < values.size(); ++j) {
      const double original = values[j];
      auto at = [&](double v) {
        values[j] = v;
        layer->set_mode_mask(site, from_vector(values, base.shape()));
        NoGradGuard no_grad;
        return loss().item<double>();
      };
      const double numeric = (at(original + eps) - at(original - eps)) / (2 * eps);
      values[j] = original;
      worst = std::max(worst, std::abs(numeric - gradient[j]));
      largest = std::max(largest, std::abs(gradient[j]));
    }
    layer->set_mode_mask(site, base);
  }
  CHECK(largest > 1e-3);  // not a comparison between zeros
  CHECK(worst < 1e-7);
}

TEST_CASE("PAD-Net MoE: freshly upcycled without noise, dL/dM is zero everywhere (to rounding)", "[partition][padnet][moe]") {
  // Every expert equals W_s and lambda_d = lambda_s = 1, so dL/dM_j = sum_e dL/dW_hat_ej (W_ej - W_sj)
  // vanishes: the mode partition has nothing to rank until the experts have begun to differ, which
  // is why PAD-Net partitions an upcycled MoE at the start of the second epoch (Appendix A).
  Generator generator(12);
  const nn::ParamOptions param{.generator = &generator, .dtype = DType::f64};
  nn::Linear fc1(3, 5, true, param), fc2(5, 3, true, param);
  const Tensor x = test::uniform_f64({8, 3}, 13);
  for (double noise : {0.0, 0.05}) {
    auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(3, 4, 2, dynamic::SoftmaxTopKOptions{}, param);
    auto layer = PartiallyDynamicMoE::upcycle(fc1, fc2, gate, {}, {}, noise, param);
    const BatchLoss loss = [&](int64_t) { return sum(pow(layer->forward(x), 2.0)); };
    double largest = 0.0;
    for (const Tensor& g : mask_gradients(*layer, loss, 1)) largest = std::max(largest, amax(abs(g)).item<double>());
    INFO("noise " << noise << ": largest |dL/dM| " << largest);
    if (noise == 0.0) CHECK(largest < 1e-13);  // zero up to the rounding of two summation orders
    else CHECK(largest > 1e-4);
  }
}

TEST_CASE("PAD-Net MoE: bad masks, sites and expert weights are dg::Errors", "[partition][padnet][moe]") {
  auto layer = padnet_moe(3, 4, 3, 2, 41);
  CHECK_THROWS_AS(layer->set_mask_w1(ones({4, 3}, DType::f64)), Error);
  CHECK_THROWS_AS(layer->set_mask_w2(ones({4}, DType::f64)), Error);
  CHECK_THROWS_AS(layer->set_mode_mask(2, ones({3, 4}, DType::f64)), Error);
  dynamic::ExpertWeights w = layer->computational_weights();
  w.w2 = ones({3, 3, 4}, DType::f64);
  CHECK_THROWS_AS(layer->moe->forward_with(test::uniform_f64({5, 3}, 1), Tensor(), w), Error);
  auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(3, 3, 2, dynamic::SoftmaxTopKOptions{}, kF64);
  auto router = std::make_shared<dynamic::MoE>(3, 4, gate, dynamic::MoE::ExternalExperts{}, dynamic::MoEOptions{}, kF64);
  CHECK_FALSE(router->owns_experts());
  CHECK_THROWS_AS(router->forward(test::uniform_f64({5, 3}, 1)), Error);
  CHECK_THROWS_AS(PartiallyDynamicMoE(router), Error);
  CHECK_THROWS_AS(PartiallyDynamicMoE(nullptr), Error);
}
