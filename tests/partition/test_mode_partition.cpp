// The mode partition's defining properties (PAD-Net Eq. 7-9 and IMP): the accumulated mask
// gradient is dL/dM (finite differences over every mask entry, float64, at a mixed mask); exactly
// round(kappa * m) elements stay dynamic per scope and they are the top scores; equal scores go to
// the lower flat index; IMP never turns a static element dynamic and meets kappa^((e+1)/E) each
// round; the random partition has the right count and depends only on its seed; the SNIP baseline
// keeps PAD-Net's parameter count, keeping the largest |g * W|.
#include <catch2/catch.hpp>

#include <cmath>

#include "partition/mode_partition.h"
#include "partition/report.h"
#include "tests/partition/partition_test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::partition_test;

namespace {

std::vector<Tensor> masks_of(nn::Module& model) {
  std::vector<Tensor> out;
  for (const auto& l : partially_dynamic_layers(model)) out.push_back(l.layer->mode_mask.clone());
  return out;
}

int64_t total_ones(const std::vector<Tensor>& masks) {
  int64_t n = 0;
  for (const Tensor& m : masks) n += ones_in(m);
  return n;
}

}  // namespace

TEST_CASE("mode partition: dL/dM equals finite differences of the loss in every mask entry", "[partition][padnet]") {
  auto model = two_layer_model();
  const BatchLoss loss = regression_loss(*model);
  const auto layers = partially_dynamic_layers(*model);
  REQUIRE(layers.size() == 2);
  // A mixed, non-binary-free point: half the entries static, the relaxed derivative at M.
  layers[0].layer->set_mode_mask(to_dtype(gt(test::uniform_f64({3, 2, 3, 3}, 7), 0.0), DType::f64));
  const auto gradients = mask_gradients(*model, loss, 2);
  REQUIRE(gradients.size() == 2);
  CHECK_FALSE(layers[0].layer->mode_mask.requires_grad());  // a plain buffer again
  for (const auto& p : model->parameters()) CHECK_FALSE(p.grad().defined());  // .grad untouched
  const double eps = 1e-6;
  double worst = 0.0, largest = 0.0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Tensor base = layers[l].layer->mode_mask.clone();
    const std::vector<double> g = gradients[l].to_vector<double>();
    std::vector<double> values = base.to_vector<double>();
    for (size_t j = 0; j < values.size(); ++j) {
      const double original = values[j];
      values[j] = original + eps;
      layers[l].layer->set_mode_mask(from_vector(values, base.shape()));
      const double up = total_loss(loss, 2);
      values[j] = original - eps;
      layers[l].layer->set_mode_mask(from_vector(values, base.shape()));
      const double down = total_loss(loss, 2);
      values[j] = original;
      worst = std::max(worst, std::abs((up - down) / (2 * eps) - g[j]));
      largest = std::max(largest, std::abs(g[j]));
    }
    layers[l].layer->set_mode_mask(base);
  }
  CHECK(largest > 1e-3);  // the comparison is not between zeros
  CHECK(worst < 1e-7);
}

TEST_CASE("mode partition: exactly round(kappa m) dynamic per scope, the top scores", "[partition][padnet]") {
  for (PartitionScope scope : {PartitionScope::global, PartitionScope::per_layer}) {
    for (double kappa : {0.0, 0.3, 0.55, 1.0}) {
      auto model = two_layer_model();
      const BatchLoss loss = regression_loss(*model);
      const auto gradients = mask_gradients(*model, loss, 2);
      const auto rounds = mode_partition(*model, loss, {.dynamic_ratio = kappa, .rounds = 1, .num_batches = 2, .scope = scope});
      const auto masks = masks_of(*model);
      if (scope == PartitionScope::global) {
        CHECK(total_ones(masks) == std::llround(kappa * 108));
      } else {
        CHECK(ones_in(masks[0]) == std::llround(kappa * 54));
        CHECK(ones_in(masks[1]) == std::llround(kappa * 54));
      }
      CHECK(rounds.size() == 1);
      CHECK(rounds[0].dynamic_elements == total_ones(masks));
      // Every dynamic element's |g| is at least every static one's (within its scope).
      double lowest_kept = INFINITY, highest_dropped = 0.0;
      for (size_t l = 0; l < 2; ++l) {
        const auto g = gradients[l].to_vector<double>();
        const auto m = masks[l].to_vector<double>();
        double kept_l = INFINITY, dropped_l = 0.0;
        for (size_t j = 0; j < g.size(); ++j) {
          if (m[j] == 1.0) kept_l = std::min(kept_l, std::abs(g[j]));
          else dropped_l = std::max(dropped_l, std::abs(g[j]));
        }
        if (scope == PartitionScope::per_layer && kappa > 0.0 && kappa < 1.0) CHECK(kept_l >= dropped_l);
        lowest_kept = std::min(lowest_kept, kept_l);
        highest_dropped = std::max(highest_dropped, dropped_l);
      }
      if (scope == PartitionScope::global && kappa > 0.0 && kappa < 1.0) CHECK(lowest_kept >= highest_dropped);
    }
  }
}

TEST_CASE("mode partition: scores are |g| normalised over the scope", "[partition][padnet]") {
  const std::vector<Tensor> g{tensor_f64({1, -3, 0, 2}, {2, 2}), tensor_f64({-4}, {1})};
  const std::vector<Tensor> all{ones({2, 2}, DType::f64), ones({1}, DType::f64)};
  const auto global = normalized_scores(g, all, PartitionScope::global);
  CHECK(global[0].to_vector<double>() == std::vector<double>{0.1, 0.3, 0.0, 0.2});
  CHECK(global[1].to_vector<double>() == std::vector<double>{0.4});
  const auto per_layer = normalized_scores(g, all, PartitionScope::per_layer);
  CHECK(per_layer[0].to_vector<double>() == std::vector<double>{1.0 / 6, 0.5, 0.0, 2.0 / 6});
  CHECK(per_layer[1].to_vector<double>() == std::vector<double>{1.0});
  // Static entries score 0 and the rest renormalise.
  const auto masked = normalized_scores(g, {tensor_f64({1, 0, 1, 1}, {2, 2}), ones({1}, DType::f64)}, PartitionScope::global);
  CHECK(masked[0].to_vector<double>() == std::vector<double>{1.0 / 7, 0.0, 0.0, 2.0 / 7});
}

TEST_CASE("mode partition: equal scores go to the lower flat index", "[partition][padnet]") {
  const std::vector<Tensor> equal{full({2, 3}, 0.5, DType::f64), full({4}, 0.5, DType::f64)};
  const std::vector<Tensor> all{ones({2, 3}, DType::f64), ones({4}, DType::f64)};
  // Global: the flat index runs through layer 0 first.
  auto masks = select_dynamic(equal, all, {7}, PartitionScope::global);
  CHECK(masks[0].to_vector<double>() == std::vector<double>{1, 1, 1, 1, 1, 1});
  CHECK(masks[1].to_vector<double>() == std::vector<double>{1, 0, 0, 0});
  masks = select_dynamic(equal, all, {2, 3}, PartitionScope::per_layer);
  CHECK(masks[0].to_vector<double>() == std::vector<double>{1, 1, 0, 0, 0, 0});
  CHECK(masks[1].to_vector<double>() == std::vector<double>{1, 1, 1, 0});
  // A tie at the threshold only: the higher score always wins, the tie goes by index.
  const std::vector<Tensor> partly{tensor_f64({0.2, 0.5, 0.2, 0.9, 0.2, 0.1}, {2, 3})};
  masks = select_dynamic(partly, {ones({2, 3}, DType::f64)}, {4}, PartitionScope::global);
  CHECK(masks[0].to_vector<double>() == std::vector<double>{1, 1, 1, 1, 0, 0});
  // Ineligible (static) entries never come back, whatever their score.
  masks = select_dynamic(partly, {tensor_f64({1, 0, 1, 0, 1, 1}, {2, 3})}, {3}, PartitionScope::global);
  CHECK(masks[0].to_vector<double>() == std::vector<double>{1, 0, 1, 0, 1, 0});
}

TEST_CASE("IMP: static stays static and every round meets kappa^((e+1)/E)", "[partition][padnet]") {
  for (PartitionScope scope : {PartitionScope::global, PartitionScope::per_layer}) {
    auto model = two_layer_model();
    const BatchLoss inner = regression_loss(*model);
    // Snapshot the masks each time a scoring pass starts: the state after the previous round.
    std::vector<std::vector<Tensor>> snapshots;
    const BatchLoss loss = [&](int64_t b) {
      if (b % 2 == 0) snapshots.push_back(masks_of(*model));  // each round's first batch
      return inner(b);
    };
    const double kappa = 0.2;
    const int64_t rounds_wanted = 4;
    const auto rounds = mode_partition(*model, loss, {.dynamic_ratio = kappa, .rounds = rounds_wanted, .num_batches = 2, .scope = scope});
    snapshots.push_back(masks_of(*model));
    REQUIRE(rounds.size() == 4);
    REQUIRE(snapshots.size() == 5);
    CHECK(total_ones(snapshots[0]) == 108);  // starts fully dynamic
    for (int64_t e = 0; e < rounds_wanted; ++e) {
      const double density = std::pow(kappa, (e + 1.0) / rounds_wanted);
      CHECK(rounds[e].target_density == Approx(density));
      const auto& after = snapshots[e + 1];
      if (scope == PartitionScope::global) {
        CHECK(total_ones(after) == std::llround(density * 108));
      } else {
        for (const Tensor& m : after) CHECK(ones_in(m) == std::llround(density * 54));
      }
      CHECK(rounds[e].dynamic_elements == total_ones(after));
      for (size_t l = 0; l < 2; ++l)  // after <= before elementwise: no static entry turned dynamic
        CHECK(amax(after[l] - snapshots[e][l]).item<double>() <= 0.0);
    }
  }
}

TEST_CASE("IMP: round e >= 2 keeps the top |g| of the gradient rescored at its mask, on fresh batches",
          "[partition][padnet]") {
  auto model = two_layer_model();
  const BatchLoss inner = regression_loss(*model);
  std::vector<int64_t> asked;
  std::vector<std::vector<Tensor>> snapshots;  // the masks when each round starts
  const BatchLoss loss = [&](int64_t b) {
    if (b % 2 == 0) snapshots.push_back(masks_of(*model));
    asked.push_back(b);
    return inner(b);
  };
  const double kappa = 0.2;
  mode_partition(*model, loss, {.dynamic_ratio = kappa, .rounds = 3, .num_batches = 2});
  CHECK(asked == std::vector<int64_t>{0, 1, 2, 3, 4, 5});  // fresh batches: round e asks 2e, 2e + 1
  REQUIRE(snapshots.size() == 3);
  const std::vector<Tensor> final_masks = masks_of(*model);
  CHECK(total_ones(final_masks) == std::llround(kappa * 108));
  // Rescore by hand at round 2's starting mask on its batches 4 and 5 (the partition changes no
  // weight, so the model is as it was then).
  const auto layers = partially_dynamic_layers(*model);
  for (size_t l = 0; l < 2; ++l) layers[l].layer->set_mode_mask(snapshots[2][l]);
  const std::vector<Tensor> rescored =
      mask_gradients(*model, [&](int64_t b) { return inner(b + 4); }, 2);
  // ...and the gradient round 0 saw (all ones, batches 0 and 1), to show the rescoring matters.
  for (size_t l = 0; l < 2; ++l) layers[l].layer->set_mode_mask(ones({l == 0 ? 3 : 2, l == 0 ? 2 : 3, 3, 3}, DType::f64));
  const std::vector<Tensor> stale = mask_gradients(*model, inner, 2);
  // Among the entries still dynamic when round 2 starts, every kept one has |g| >= every dropped
  // one under the rescored gradient.
  auto separates = [&](const std::vector<Tensor>& g) {
    double lowest_kept = INFINITY, highest_dropped = 0.0;
    for (size_t l = 0; l < 2; ++l) {
      const auto gl = g[l].to_vector<double>();
      const auto before = snapshots[2][l].to_vector<double>();
      const auto after = final_masks[l].to_vector<double>();
      for (size_t j = 0; j < gl.size(); ++j) {
        if (before[j] == 0.0) {
          CHECK(after[j] == 0.0);  // static stays static
          continue;
        }
        if (after[j] == 1.0) lowest_kept = std::min(lowest_kept, std::abs(gl[j]));
        else highest_dropped = std::max(highest_dropped, std::abs(gl[j]));
      }
    }
    return lowest_kept >= highest_dropped;
  };
  CHECK(separates(rescored));
  CHECK_FALSE(separates(stale));
}

TEST_CASE("IMP: reusing the batches asks for the same D_b batches every round", "[partition][padnet]") {
  auto model = two_layer_model();
  const BatchLoss inner = regression_loss(*model);
  std::vector<int64_t> asked;
  const BatchLoss loss = [&](int64_t b) {
    asked.push_back(b);
    return inner(b);
  };
  mode_partition(*model, loss,
                 {.dynamic_ratio = 0.3, .rounds = 3, .num_batches = 2, .fresh_batches_per_round = false});
  CHECK(asked == std::vector<int64_t>{0, 1, 0, 1, 0, 1});
}

TEST_CASE("random partition: the count per scope, reproducible from its seed", "[partition][padnet]") {
  auto a = two_layer_model(), b = two_layer_model(), c = two_layer_model();
  random_partition(*a, 0.3, 5);
  random_partition(*b, 0.3, 5);
  random_partition(*c, 0.3, 6);
  const auto ma = masks_of(*a), mb = masks_of(*b), mc = masks_of(*c);
  CHECK(total_ones(ma) == std::llround(0.3 * 108));
  CHECK(total_ones(mc) == std::llround(0.3 * 108));
  CHECK(test::max_abs_diff(ma[0], mb[0]) == 0.0);
  CHECK(test::max_abs_diff(ma[1], mb[1]) == 0.0);
  CHECK(test::max_abs_diff(ma[0], mc[0]) + test::max_abs_diff(ma[1], mc[1]) > 0.0);
  auto d = two_layer_model();
  random_partition(*d, 0.45, 9, PartitionScope::per_layer);
  for (const Tensor& m : masks_of(*d)) CHECK(ones_in(m) == std::llround(0.45 * 54));
}

TEST_CASE("SNIP baseline: PAD-Net's parameter count, the largest |g W| kept", "[partition][padnet]") {
  auto padnet = two_layer_model();
  mode_partition(*padnet, regression_loss(*padnet), {.dynamic_ratio = 0.3, .rounds = 2, .num_batches = 2});
  const int64_t budget = partitioned_kernel_parameters(*padnet);
  const int64_t m_dyn = total_ones(masks_of(*padnet));
  CHECK(budget == 4 * m_dyn + (108 - m_dyn));

  auto pruned = two_layer_model();
  const BatchLoss loss = regression_loss(*pruned);
  // The sensitivities before pruning, for checking which weights survive.
  std::vector<Tensor> weights;
  for (const auto& l : partially_dynamic_layers(*pruned)) weights.push_back(l.layer->dynamic->weight);
  std::vector<Tensor> g0 = grad({loss(0)}, weights), g1 = grad({loss(1)}, weights);
  std::vector<std::vector<double>> sensitivity;
  for (size_t i = 0; i < weights.size(); ++i)
    sensitivity.push_back(abs((g0[i] + g1[i]) * weights[i].detach()).to_vector<double>());

  const SnipPruning snip = snip_prune(*pruned, loss, 2, budget);
  CHECK(snip.kept == budget);
  int64_t nonzero = 0;
  double lowest_kept = INFINITY, highest_dropped = 0.0;
  for (size_t i = 0; i < weights.size(); ++i) {
    nonzero += ones_in(weights[i]);
    const auto keep = snip.keep[i].to_vector<double>();
    const auto w = weights[i].to_vector<double>();
    for (size_t j = 0; j < keep.size(); ++j) {
      if (keep[j] == 1.0) lowest_kept = std::min(lowest_kept, sensitivity[i][j]);
      else { highest_dropped = std::max(highest_dropped, sensitivity[i][j]); CHECK(w[j] == 0.0); }
    }
  }
  CHECK(nonzero == budget);
  CHECK(lowest_kept >= highest_dropped);
  // The report counts the same intrinsic kernel parameters for both networks.
  const ModelReport a = parameter_report(*padnet), b = parameter_report(*pruned);
  CHECK(a.total.dynamic_factors + a.total.static_parameters == b.total.dynamic_factors + b.total.static_parameters);
  CHECK(b.total.static_parameters == 0);
  // apply() zeroes weights an optimiser step moved.
  dynamic_test::assign(weights[0], ones_like(weights[0]));
  snip.apply();
  CHECK(ones_in(weights[0]) == ones_in(snip.keep[0]));
  // SNIP prunes the fully dynamic network only.
  CHECK_THROWS_AS(snip_prune(*padnet, regression_loss(*padnet), 1, 10), Error);
}
