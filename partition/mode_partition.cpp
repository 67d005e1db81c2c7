// Mode partition, IMP and the random / SNIP baselines: see mode_partition.h.
#include "partition/mode_partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/autograd.h"
#include "engine/random.h"

namespace dg::partition {

namespace {

// The elements of one scope: which layers it spans.
std::vector<std::vector<size_t>> scope_groups(size_t num_layers, PartitionScope scope) {
  std::vector<std::vector<size_t>> groups;
  if (scope == PartitionScope::global) {
    groups.emplace_back(num_layers);
    std::iota(groups.back().begin(), groups.back().end(), size_t{0});
  } else {
    for (size_t i = 0; i < num_layers; ++i) groups.push_back({i});
  }
  return groups;
}

// Keeps the `count` entries of the concatenation of `values` (over `group`'s layers) with the
// highest value among those marked eligible, ties to the lower flat index; writes 1 there in `out`.
void keep_top(const std::vector<std::vector<double>>& values, const std::vector<std::vector<double>>& eligible,
              const std::vector<size_t>& group, int64_t count, std::vector<std::vector<double>>& out) {
  struct Entry {
    double value;
    size_t layer, index;
  };
  std::vector<Entry> candidates;
  for (size_t l : group)
    for (size_t j = 0; j < values[l].size(); ++j)
      if (eligible[l][j] != 0.0) candidates.push_back({values[l][j], l, j});
  const size_t keep = std::min(candidates.size(), static_cast<size_t>(std::max<int64_t>(count, 0)));
  // Candidates are in flat-index order already; a stable sort by value keeps that order in ties.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Entry& a, const Entry& b) { return a.value > b.value; });
  for (size_t i = 0; i < keep; ++i) out[candidates[i].layer][candidates[i].index] = 1.0;
}

std::vector<std::vector<double>> to_vectors(const std::vector<Tensor>& tensors) {
  std::vector<std::vector<double>> out;
  for (const Tensor& t : tensors) out.push_back(t.to_vector<double>());
  return out;
}

constexpr const char* kNoLayer =
    "the model has no partitioned layer (PartiallyDynamicConv2d, PartiallyDynamicMoE)";

std::vector<NamedModeMask> require_masks(nn::Module& model, const char* op) {
  auto masks = mode_masks(model);
  check(!masks.empty(), "{}: {}", op, kNoLayer);
  return masks;
}

std::vector<Tensor> current_masks(const std::vector<NamedModeMask>& masks) {
  std::vector<Tensor> out;
  NoGradGuard no_grad;
  for (const auto& m : masks) out.push_back(to_dtype(m.view.mask, DType::f64));
  return out;
}

std::vector<int64_t> mask_sizes(const std::vector<NamedModeMask>& masks) {
  std::vector<int64_t> sizes;
  for (const auto& m : masks) sizes.push_back(m.view.mask.numel());
  return sizes;
}

void set_masks(const std::vector<NamedModeMask>& masks, const std::vector<Tensor>& values) {
  for (size_t i = 0; i < masks.size(); ++i) masks[i].layer->set_mode_mask(masks[i].site, values[i]);
}

double ratio_of(const Tensor& mask) {
  return static_cast<double>(dynamic_elements(mask)) / static_cast<double>(mask.numel());
}

// Sums dL/d(tensors) over the batches with dg::grad (parameters' .grad untouched).
std::vector<Tensor> summed_gradients(const std::vector<Tensor>& tensors, const BatchLoss& loss,
                                     int64_t num_batches, const char* op, int64_t first_batch = 0) {
  check(num_batches > 0, "{}: the number of batches must be positive, got {}", op, num_batches);
  check(static_cast<bool>(loss), "{}: the batch-loss callback is empty", op);
  std::vector<Tensor> total(tensors.size());
  check(first_batch >= 0, "{}: the first batch index must be >= 0, got {}", op, first_batch);
  for (int64_t b = first_batch; b < first_batch + num_batches; ++b) {
    const Tensor value = loss(b);
    check(value.defined() && value.numel() == 1, "{}: the loss of batch {} must be a scalar, got shape {}",
          op, b, value.defined() ? value.shape() : Shape{});
    const std::vector<Tensor> g = grad({value}, tensors, {}, false, false, /*allow_unused=*/true);
    NoGradGuard no_grad;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor gi = g[i].defined() ? to_dtype(g[i], DType::f64) : zeros(tensors[i].shape(), DType::f64);
      total[i] = total[i].defined() ? total[i] + gi : gi;
    }
  }
  return total;
}

}  // namespace

std::vector<NamedPartitionedLayer> partitioned_layers(nn::Module& model) {
  std::vector<NamedPartitionedLayer> out;
  for (const auto& [name, module] : model.named_modules())
    if (auto* layer = dynamic_cast<PartitionedLayer*>(module)) out.push_back({name, layer});
  return out;
}

std::vector<NamedModeMask> mode_masks(nn::Module& model) {
  std::vector<NamedModeMask> out;
  for (const auto& [name, layer] : partitioned_layers(model)) {
    const auto sites = layer->mode_mask_sites();
    for (size_t i = 0; i < sites.size(); ++i)
      out.push_back({name.empty() ? sites[i].name : name + "." + sites[i].name, layer, i, sites[i]});
  }
  return out;
}

std::vector<NamedPartialLayer> partially_dynamic_layers(nn::Module& model) {
  std::vector<NamedPartialLayer> out;
  for (const auto& [name, module] : model.named_modules())
    if (auto* layer = dynamic_cast<PartiallyDynamicConv2d*>(module)) out.push_back({name, layer});
  return out;
}

std::vector<Tensor> mask_gradients(nn::Module& model, const BatchLoss& loss, int64_t num_batches,
                                   int64_t first_batch) {
  const auto sites = require_masks(model, "mask_gradients");
  std::vector<Tensor> masks;
  for (const auto& m : sites) masks.push_back(m.view.mask);
  // The masks are plain buffers again whatever the callback throws.
  struct Restore {
    std::vector<Tensor>& masks;
    ~Restore() {
      for (Tensor& m : masks) m.set_requires_grad(false);
    }
  } restore{masks};
  for (Tensor& m : masks) m.set_requires_grad(true);
  return summed_gradients(masks, loss, num_batches, "mask_gradients", first_batch);
}

std::vector<Tensor> normalized_scores(const std::vector<Tensor>& gradients,
                                      const std::vector<Tensor>& eligible, PartitionScope scope) {
  check(gradients.size() == eligible.size(), "normalized_scores: {} gradients but {} eligibility masks",
        gradients.size(), eligible.size());
  NoGradGuard no_grad;
  std::vector<Tensor> magnitudes;
  for (size_t i = 0; i < gradients.size(); ++i) {
    check(gradients[i].shape() == eligible[i].shape(),
          "normalized_scores: mask {} gradient shape {} differs from its mask's {}", i,
          gradients[i].shape(), eligible[i].shape());
    magnitudes.push_back(abs(to_dtype(gradients[i], DType::f64)) * ne(eligible[i], 0.0).to(DType::f64));
  }
  std::vector<Tensor> scores(gradients.size());
  for (const auto& group : scope_groups(gradients.size(), scope)) {
    double total = 0.0;
    for (size_t i : group) total += sum(magnitudes[i]).item<double>();
    for (size_t i : group) scores[i] = total > 0.0 ? magnitudes[i] / total : magnitudes[i];
  }
  return scores;
}

std::vector<int64_t> dynamic_counts(const std::vector<int64_t>& layer_sizes, double density,
                                    PartitionScope scope) {
  check(density >= 0.0 && density <= 1.0, "dynamic_counts: density must be in [0, 1], got {}", density);
  std::vector<int64_t> counts;
  for (const auto& group : scope_groups(layer_sizes.size(), scope)) {
    int64_t m = 0;
    for (size_t i : group) m += layer_sizes[i];
    counts.push_back(std::llround(density * static_cast<double>(m)));
  }
  return counts;
}

std::vector<Tensor> select_dynamic(const std::vector<Tensor>& scores, const std::vector<Tensor>& eligible,
                                   const std::vector<int64_t>& counts, PartitionScope scope) {
  const auto groups = scope_groups(scores.size(), scope);
  check(scores.size() == eligible.size() && counts.size() == groups.size(),
        "select_dynamic: {} score tensors, {} eligibility masks, {} counts for {} scopes", scores.size(),
        eligible.size(), counts.size(), groups.size());
  const auto values = to_vectors(scores);
  const auto allowed = to_vectors(eligible);
  std::vector<std::vector<double>> out;
  for (const auto& v : values) out.emplace_back(v.size(), 0.0);
  for (size_t g = 0; g < groups.size(); ++g) keep_top(values, allowed, groups[g], counts[g], out);
  std::vector<Tensor> masks;
  for (size_t i = 0; i < out.size(); ++i) masks.push_back(from_vector(out[i], scores[i].shape()));
  return masks;
}

std::vector<PartitionRound> mode_partition(nn::Module& model, const BatchLoss& loss,
                                           const PartitionOptions& options) {
  check(options.rounds > 0, "mode_partition: the number of rounds must be positive, got {}", options.rounds);
  check(options.dynamic_ratio >= 0.0 && options.dynamic_ratio <= 1.0,
        "mode_partition: the dynamic ratio must be in [0, 1], got {}", options.dynamic_ratio);
  const auto masks = require_masks(model, "mode_partition");
  const auto sizes = mask_sizes(masks);
  std::vector<PartitionRound> rounds;
  for (int64_t e = 0; e < options.rounds; ++e) {
    const double density =
        std::pow(options.dynamic_ratio, static_cast<double>(e + 1) / static_cast<double>(options.rounds));
    const std::vector<Tensor> eligible = current_masks(masks);
    const int64_t first_batch = options.fresh_batches_per_round ? e * options.num_batches : 0;
    const auto gradients = mask_gradients(model, loss, options.num_batches, first_batch);
    const auto scores = normalized_scores(gradients, eligible, options.scope);
    set_masks(masks, select_dynamic(scores, eligible, dynamic_counts(sizes, density, options.scope), options.scope));
    PartitionRound round;
    round.target_density = density;
    for (const auto& m : masks) {
      round.layer_ratios.push_back(ratio_of(m.view.mask));
      round.dynamic_elements += dynamic_elements(m.view.mask);
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

void random_partition(nn::Module& model, double dynamic_ratio, uint64_t seed, PartitionScope scope) {
  const auto masks = require_masks(model, "random_partition");
  Generator generator(seed);
  std::vector<Tensor> scores;
  for (const auto& m : masks) scores.push_back(rand(m.view.mask.shape(), generator, DType::f64));
  const auto eligible = current_masks(masks);
  set_masks(masks, select_dynamic(scores, eligible, dynamic_counts(mask_sizes(masks), dynamic_ratio, scope), scope));
}

int64_t partitioned_kernel_parameters(nn::Module& model) {
  int64_t total = 0;
  for (const auto& l : partitioned_layers(model)) total += l.layer->kept_parameters();
  return total;
}

void SnipPruning::apply() const {
  NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    Tensor weight = weights[i];
    weight.mul_(to_dtype(keep[i], weight.dtype()));
  }
}

SnipPruning snip_prune(nn::Module& model, const BatchLoss& loss, int64_t num_batches, int64_t kept) {
  SnipPruning pruning;
  const auto masks = require_masks(model, "snip_prune");
  for (const auto& m : masks) {
    const double ratio = ratio_of(m.view.mask);
    check(ratio == 1.0,
          "snip_prune: mask '{}' has dynamic ratio {}; SNIP prunes the fully dynamic network (all masks ones)",
          m.name, ratio);
    pruning.names.push_back(m.name);
    pruning.weights.push_back(m.view.dynamic_weights);
  }
  const std::vector<Tensor>& weights = pruning.weights;
  int64_t total = 0;
  for (const Tensor& w : weights) total += w.numel();
  check(kept >= 0 && kept <= total, "snip_prune: cannot keep {} of {} dynamic weights", kept, total);
  const auto gradients = summed_gradients(weights, loss, num_batches, "snip_prune");
  std::vector<Tensor> sensitivity, everywhere;
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < weights.size(); ++i) {
      sensitivity.push_back(abs(gradients[i] * to_dtype(weights[i], DType::f64)));
      everywhere.push_back(ones(weights[i].shape(), DType::f64));
    }
  }
  pruning.keep = select_dynamic(sensitivity, everywhere, {kept}, PartitionScope::global);
  pruning.kept = kept;
  pruning.apply();
  return pruning;
}

}  // namespace dg::partition
