// The mode partition, its baselines and compaction on PAD-Net MoE layers, through the one
// PartitionedLayer interface (partition/partitioned_layer.h):
//   - IMP on a model mixing a partially dynamic convolution and a PAD-Net MoE keeps, over all
//     three masks together, the entries with the largest |dL/dM|, the expectation computed here
//     from plain backward passes and a sort;
//   - for convolution-only models the refactor changed nothing: random_partition's masks and the
//     one-shot mode partition's masks are pinned against an independent re-derivation;
//   - SNIP (MoE-P) keeps exactly `kept` expert weights, the largest |g W|;
//   - the compacted MoE computes what the uncompacted one does, stores E m_dyn + (m - m_dyn)
//     values per matrix and a bitmask, and runs the same measured FLOPs per token as the MoE;
//   - a dynamic ratio out of [0, 1] and a non-binary mask at compaction are dg::Errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dynamic/moe/softmax_topk_gate.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/random.h"
#include "partition/bitmask.h"
#include "partition/compact_moe.h"
#include "partition/moe_report.h"
#include "tests/partition/moe_partition_test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::partition_test;

namespace {

// The model's masks in the documented order (layers in named_modules() order, sites in order).
std::vector<Tensor> all_masks(nn::Module& model) {
  std::vector<Tensor> out;
  for (const auto& m : mode_masks(model)) out.push_back(m.view.mask.clone());
  return out;
}

// 0/1 masks keeping the `count` largest of `scores` (concatenated over the masks, row-major),
// ties to the lower flat index: written out here with std::sort, independently of select_dynamic.
std::vector<std::vector<double>> top_entries(const std::vector<std::vector<double>>& scores, int64_t count) {
  std::vector<std::pair<double, size_t>> flat;
  for (const auto& s : scores)
    for (double v : s) flat.emplace_back(v, flat.size());
  std::sort(flat.begin(), flat.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<double> keep(flat.size(), 0.0);
  for (int64_t i = 0; i < count; ++i) keep[flat[i].second] = 1.0;
  std::vector<std::vector<double>> out;
  size_t offset = 0;
  for (const auto& s : scores) {
    out.emplace_back(keep.begin() + offset, keep.begin() + offset + s.size());
    offset += s.size();
  }
  return out;
}

// |dL/dM| summed over the batches, by backward() on masks made to require grad.
std::vector<std::vector<double>> mask_gradient_magnitudes(nn::Module& model, const BatchLoss& loss, int64_t batches) {
  std::vector<Tensor> masks;
  for (const auto& m : mode_masks(model)) masks.push_back(m.view.mask);
  for (Tensor& m : masks) m.set_requires_grad(true);
  for (int64_t b = 0; b < batches; ++b) loss(b).backward();
  std::vector<std::vector<double>> out;
  for (Tensor& m : masks) {
    out.push_back(abs(m.grad()).to_vector<double>());
    m.set_requires_grad(false);
  }
  model.zero_grad();
  return out;
}

}  // namespace

TEST_CASE("IMP across a convolution and an MoE: the top |dL/dM| entries of all masks together",
          "[partition][padnet][moe]") {
  ConvMoEModel model;
  const BatchLoss loss = conv_moe_loss(model);
  const auto masks = mode_masks(model);
  REQUIRE(masks.size() == 3);  // conv.mode_mask, moe.mask_w1, moe.mask_w2
  CHECK(masks[0].name == "conv.mode_mask");
  CHECK(masks[2].name == "moe.mask_w2");
  const int64_t m = 54 + 12 + 12;
  const auto magnitudes = mask_gradient_magnitudes(model, loss, 2);
  const double kappa = 0.3;
  const auto expected = top_entries(magnitudes, std::llround(kappa * m));
  mode_partition(model, loss, {.dynamic_ratio = kappa, .rounds = 1, .num_batches = 2});
  const auto after = all_masks(model);
  int64_t ones = 0;
  for (size_t i = 0; i < 3; ++i) {
    CHECK(after[i].to_vector<double>() == expected[i]);
    ones += ones_in(after[i]);
  }
  CHECK(ones == std::llround(kappa * m));
  // Every layer still computes (the MoE's masks are not all static, or all dynamic, by accident
  // of the seed: both kinds of layer take part in the ranking).
  CHECK(ones_in(after[1]) + ones_in(after[2]) > 0);
  CHECK(ones_in(after[0]) > 0);

  // A second IMP round (E = 2 from the start) never turns a static entry dynamic.
  ConvMoEModel again;
  const auto rounds = mode_partition(again, conv_moe_loss(again), {.dynamic_ratio = kappa, .rounds = 2, .num_batches = 2});
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[0].layer_ratios.size() == 3);
  CHECK(rounds[1].dynamic_elements == std::llround(kappa * m));
  CHECK(rounds[0].dynamic_elements == std::llround(std::sqrt(kappa) * m));
}

TEST_CASE("partition of convolution-only models: the masks the pre-interface code chose",
          "[partition][padnet]") {
  // random_partition: rand(mask shape, Generator(seed), f64) per layer in order, the global top
  // round(kappa m), ties to the lower flat index.
  auto model = two_layer_model();
  random_partition(*model, 0.3, 5);
  Generator generator(5);
  std::vector<std::vector<double>> draws;
  for (const auto& l : partially_dynamic_layers(*model))
    draws.push_back(rand(l.layer->mode_mask.shape(), generator, DType::f64).to_vector<double>());
  const auto expected = top_entries(draws, std::llround(0.3 * 108));
  const auto layers = partially_dynamic_layers(*model);
  for (size_t i = 0; i < 2; ++i) CHECK(layers[i].layer->mode_mask.to_vector<double>() == expected[i]);

  // One-shot mode partition: the top |dL/dM|.
  auto scored = two_layer_model();
  const BatchLoss loss = regression_loss(*scored);
  const auto expected_mp = top_entries(mask_gradient_magnitudes(*scored, loss, 2), std::llround(0.3 * 108));
  mode_partition(*scored, loss, {.dynamic_ratio = 0.3, .rounds = 1, .num_batches = 2});
  const auto scored_layers = partially_dynamic_layers(*scored);
  for (size_t i = 0; i < 2; ++i) CHECK(scored_layers[i].layer->mode_mask.to_vector<double>() == expected_mp[i]);
  CHECK(partitioned_layers(*scored).size() == 2);
}

TEST_CASE("MoE-P: SNIP keeps exactly `kept` expert weights, the largest |g W|", "[partition][padnet][moe]") {
  // PAD-Net's count at kappa = 0.5 on one layer: E m_dyn + (m - m_dyn) per matrix.
  auto padnet = padnet_moe(3, 4, 3, 2, 51);
  random_partition(*padnet, 0.5, 52);
  const int64_t budget = partitioned_kernel_parameters(*padnet);
  CHECK(budget == 3 * 12 + 12);  // m = 24 over both matrices, m_dyn = 12

  // The plain MoE to prune: masks ones, no scale factors.
  auto pruned = padnet_moe(3, 4, 3, 2, 51, {}, ScaleFactors::none);
  const Tensor x = test::uniform_f64({10, 3}, 53), target = test::uniform_f64({10, 3}, 54);
  const BatchLoss loss = [&](int64_t) { return mean(pow(pruned->forward(x) - target, 2.0)); };
  const std::vector<Tensor> weights{pruned->moe->w1, pruned->moe->w2};
  const std::vector<Tensor> g = grad({loss(0)}, weights);
  std::vector<std::vector<double>> sensitivity;
  for (size_t i = 0; i < 2; ++i) sensitivity.push_back(abs(g[i] * weights[i].detach()).to_vector<double>());
  const auto expected = top_entries(sensitivity, budget);

  const SnipPruning snip = snip_prune(*pruned, loss, 1, budget);
  CHECK(snip.kept == budget);
  CHECK(snip.names == std::vector<std::string>{"mask_w1", "mask_w2"});
  int64_t nonzero = 0;
  for (size_t i = 0; i < 2; ++i) {
    CHECK(snip.keep[i].to_vector<double>() == expected[i]);
    nonzero += ones_in(weights[i]);
  }
  CHECK(nonzero == budget);
  const auto rows = moe_parameter_report(*pruned);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].dynamic == budget);
  CHECK(rows[0].static_values == 0);
  // SNIP prunes the fully dynamic MoE only; kept is bounded by the weights there are.
  CHECK_THROWS_AS(snip_prune(*padnet, loss, 1, 10), Error);
  auto fresh = padnet_moe(3, 4, 3, 2, 51, {}, ScaleFactors::none);
  CHECK_THROWS_AS(snip_prune(*fresh, loss, 1, 73), Error);
}

TEST_CASE("compacted PAD-Net MoE: same outputs, E m_dyn + (m - m_dyn) values, the MoE's FLOPs",
          "[partition][padnet][moe]") {
  // Shared experts and capacity mode ride along: the router part is the MoE's own.
  auto source = padnet_moe(4, 6, 4, 2, 61,
                           {.mode = dynamic::MoEMode::capacity, .capacity_factor = 1.0, .shared_experts = 1});
  random_partition(*source, 0.4, 62);
  const int64_t m = 24;
  const int64_t m1 = ones_in(source->mask_w1), m2 = ones_in(source->mask_w2);
  auto fresh_gate = std::make_shared<dynamic::SoftmaxTopKGate>(4, 4, 2, dynamic::SoftmaxTopKOptions{},
                                                               nn::ParamOptions{.dtype = DType::f64});
  CompactPartiallyDynamicMoE compact(*source, fresh_gate);
  CHECK(compact.w1_dynamic.shape() == Shape{4, m1});
  CHECK(compact.w1_static.shape() == Shape{m - m1});
  CHECK(compact.w2_dynamic.shape() == Shape{4, m2});
  CHECK(compact.w1_bitmask.shape() == Shape{1});  // 24 positions in one 64-bit word
  CHECK(test::max_abs_diff(compact.mask_w1(), source->mask_w1) == 0.0);
  CHECK(test::max_abs_diff(compact.mask_w2(), source->mask_w2) == 0.0);

  const Tensor x = test::uniform_f64({13, 4}, 63);
  Tensor expected;
  {
    NoGradGuard no_grad;
    expected = source->forward(x);
    CHECK(test::max_abs_diff(compact.forward(x), expected) < 1e-12);
    CHECK(compact.stats().tokens_per_expert == source->stats().tokens_per_expert);
  }
  // Recorded (fine-tuning the compacted layer): the composed path, the same values, gradients
  // reach the stored dynamic values.
  const Tensor out = compact.forward(x);
  CHECK(test::max_abs_diff(out, expected) < 1e-12);
  sum(out).backward();
  CHECK(compact.w1_dynamic.grad().defined());

  // The gate was copied: changing the source's router no longer changes the compacted layer.
  dynamic_test::assign(std::dynamic_pointer_cast<dynamic::SoftmaxTopKGate>(source->moe->gate)->router->weight,
                       test::uniform_f64({4, 4}, 64));
  {
    NoGradGuard no_grad;
    CHECK(test::max_abs_diff(compact.forward(x), expected) < 1e-12);
  }

  // The report: PAD-Net's counts, the bitmask's bytes, everything stored.
  const auto source_rows = moe_parameter_report(*source);
  const auto compact_rows = moe_parameter_report(compact);
  REQUIRE(source_rows.size() == 1);
  REQUIRE(compact_rows.size() == 1);
  CHECK(compact_rows[0].dynamic == 4 * (m1 + m2));
  CHECK(compact_rows[0].static_values == 2 * m - m1 - m2);
  CHECK(compact_rows[0].dynamic + compact_rows[0].static_values == source->kept_parameters());
  CHECK(source_rows[0].parameters() == compact_rows[0].parameters() + 1);  // + the folded scale logit
  CHECK(compact_rows[0].position_bytes == 2 * 8);
  CHECK(compact_rows[0].stored_bytes ==
        8 * (compact_rows[0].parameters()) + compact_rows[0].position_bytes);
  CHECK(compact_rows[0].stored_bytes < source_rows[0].stored_bytes);
  CHECK(std::abs(compact_rows[0].dynamic_ratio - source_rows[0].dynamic_ratio) < 1e-15);

  // FLOPs per token, measured: exactly the plain MoE's (same routing, dense expert products; the
  // engine has no sparse grouped matmul), below the uncompacted layer's (which forms W_hat anew).
  auto fresh_source = padnet_moe(4, 6, 4, 2, 61, {.shared_experts = 1});
  random_partition(*fresh_source, 0.4, 62);
  CompactPartiallyDynamicMoE compact_dropless(*fresh_source);
  const double plain = measured_flops_per_token([&] { fresh_source->moe->forward(x); }, 13);
  const double compacted = measured_flops_per_token([&] { compact_dropless.forward(x); }, 13);
  const double uncompacted = measured_flops_per_token([&] { fresh_source->forward(x); }, 13);
  CHECK(plain > 0.0);
  CHECK(compacted == plain);
  CHECK(compacted < uncompacted);
}

TEST_CASE("compacted PAD-Net MoE inference: only the stored values are multiplied (Figure 5)",
          "[partition][padnet][moe]") {
  // Dropless, no shared experts: inference takes the sparse path. Two partitions of the same layer
  // (same gate and input, so the same routing) at different ratios.
  const int64_t d = 6, d_ff = 10, experts = 4, k = 2, T = 17;
  const int64_t m = d * d_ff;
  const Tensor x = test::uniform_f64({T, d}, 81);
  auto flops_and_check = [&](double kappa, int64_t* dynamic_entries) {
    auto source = padnet_moe(d, d_ff, experts, k, 80);
    random_partition(*source, kappa, 82);
    *dynamic_entries = ones_in(source->mask_w1) + ones_in(source->mask_w2);
    CompactPartiallyDynamicMoE compact(*source);
    NoGradGuard no_grad;
    CHECK(compact.takes_sparse_path(x));
    const Tensor sparse = compact.forward(x);
    CHECK(test::max_abs_diff(sparse, source->forward(x)) < 1e-12);
    compact.sparse_inference = false;  // the placed dense matrices
    CHECK_FALSE(compact.takes_sparse_path(x));
    CHECK(test::max_abs_diff(compact.forward(x), sparse) < 1e-12);
    compact.sparse_inference = true;
    FlopScope scope;
    compact.forward(x);
    return scope.count();
  };
  int64_t dyn_a = 0, dyn_b = 0;
  const int64_t flops_a = flops_and_check(0.7, &dyn_a);
  const int64_t flops_b = flops_and_check(0.2, &dyn_b);
  REQUIRE(dyn_a > dyn_b);
  // Every token meets its k experts' dynamic values and the static values once: T k dyn +
  // T (2m - dyn) multiply-adds; everything else (router, activations, combine) is the same for both.
  CHECK(flops_a - flops_b == (T * k - T) * (dyn_a - dyn_b));
  CHECK(2 * m > dyn_a);
  // With a graph the composed dense path runs (the sparse kernel records none).
  auto source = padnet_moe(d, d_ff, experts, k, 80);
  random_partition(*source, 0.5, 82);
  CompactPartiallyDynamicMoE compact(*source);
  Tensor xg = x.clone();
  xg.set_requires_grad(true);
  CHECK_FALSE(compact.takes_sparse_path(xg));
  sum(compact.forward(xg)).backward();
  CHECK(xg.grad().defined());
}

TEST_CASE("PAD-Net MoE partition: bad ratios and masks are dg::Errors", "[partition][padnet][moe]") {
  auto layer = padnet_moe(3, 4, 3, 2, 71);
  const Tensor x = test::uniform_f64({5, 3}, 72);
  const BatchLoss loss = [&](int64_t) { return sum(layer->forward(x)); };
  CHECK_THROWS_AS(mode_partition(*layer, loss, {.dynamic_ratio = 1.5, .rounds = 1, .num_batches = 1}), Error);
  CHECK_THROWS_AS(mode_partition(*layer, loss, {.dynamic_ratio = -0.1, .rounds = 1, .num_batches = 1}), Error);
  CHECK_THROWS_AS(random_partition(*layer, 1.2, 1), Error);
  nn::Linear plain(3, 3);
  CHECK_THROWS_AS(random_partition(plain, 0.5, 1), Error);  // no partitioned layer
  layer->set_mask_w1(full({3, 4}, 0.5, DType::f64));
  CHECK_THROWS_AS(CompactPartiallyDynamicMoE(*layer), Error);
  layer->set_mask_w1(ones({3, 4}, DType::f64));
  auto other_gate = std::make_shared<dynamic::SoftmaxTopKGate>(3, 4, 2, dynamic::SoftmaxTopKOptions{},
                                                               nn::ParamOptions{.dtype = DType::f64});
  CHECK_THROWS_AS(CompactPartiallyDynamicMoE(*layer, other_gate), Error);  // 4 experts, not 3
  CHECK(pack_bitmask(from_vector(std::vector<double>{1, 0, 1}, {3})).to_vector<int64_t>() ==
        std::vector<int64_t>{5});
}
