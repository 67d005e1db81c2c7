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

std::vector<Tensor> current_masks(const std::vector<NamedPartialLayer>& layers) {
  std::vector<Tensor> masks;
  NoGradGuard no_grad;
  for (const auto& l : layers) masks.push_back(to_dtype(l.layer->mode_mask, DType::f64));
  return masks;
}

std::vector<int64_t> layer_sizes(const std::vector<NamedPartialLayer>& layers) {
  std::vector<int64_t> sizes;
  for (const auto& l : layers) sizes.push_back(l.layer->mode_mask.numel());
  return sizes;
}

void set_masks(const std::vector<NamedPartialLayer>& layers, const std::vector<Tensor>& masks) {
  for (size_t i = 0; i < layers.size(); ++i) layers[i].layer->set_mode_mask(masks[i]);
}

// Sums dL/d(tensors) over the batches with dg::grad (parameters' .grad untouched).
std::vector<Tensor> summed_gradients(const std::vector<Tensor>& tensors, const BatchLoss& loss,
                                     int64_t num_batches, const char* op) {
  check(num_batches > 0, "{}: the number of batches must be positive, got {}", op, num_batches);
  check(static_cast<bool>(loss), "{}: the batch-loss callback is empty", op);
  std::vector<Tensor> total(tensors.size());
  for (int64_t b = 0; b < num_batches; ++b) {
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

std::vector<NamedPartialLayer> partially_dynamic_layers(nn::Module& model) {
  std::vector<NamedPartialLayer> out;
  for (const auto& [name, module] : model.named_modules())
    if (auto* layer = dynamic_cast<PartiallyDynamicConv2d*>(module)) out.push_back({name, layer});
  return out;
}

std::vector<Tensor> mask_gradients(nn::Module& model, const BatchLoss& loss, int64_t num_batches) {
  const auto layers = partially_dynamic_layers(model);
  check(!layers.empty(), "mask_gradients: the model has no PartiallyDynamicConv2d layer");
  std::vector<Tensor> masks;
  for (const auto& l : layers) {
    l.layer->mode_mask.set_requires_grad(true);
    masks.push_back(l.layer->mode_mask);
  }
  // The masks are plain buffers again whatever the callback throws.
  struct Restore {
    const std::vector<NamedPartialLayer>& layers;
    ~Restore() {
      for (const auto& l : layers) l.layer->mode_mask.set_requires_grad(false);
    }
  } restore{layers};
  return summed_gradients(masks, loss, num_batches, "mask_gradients");
}

std::vector<Tensor> normalized_scores(const std::vector<Tensor>& gradients,
                                      const std::vector<Tensor>& eligible, PartitionScope scope) {
  check(gradients.size() == eligible.size(), "normalized_scores: {} gradients but {} eligibility masks",
        gradients.size(), eligible.size());
  NoGradGuard no_grad;
  std::vector<Tensor> magnitudes;
  for (size_t i = 0; i < gradients.size(); ++i) {
    check(gradients[i].shape() == eligible[i].shape(),
          "normalized_scores: layer {} gradient shape {} differs from its mask's {}", i,
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
  const auto layers = partially_dynamic_layers(model);
  check(!layers.empty(), "mode_partition: the model has no PartiallyDynamicConv2d layer");
  const auto sizes = layer_sizes(layers);
  std::vector<PartitionRound> rounds;
  for (int64_t e = 0; e < options.rounds; ++e) {
    const double density =
        std::pow(options.dynamic_ratio, static_cast<double>(e + 1) / static_cast<double>(options.rounds));
    const std::vector<Tensor> eligible = current_masks(layers);
    const auto gradients = mask_gradients(model, loss, options.num_batches);
    const auto scores = normalized_scores(gradients, eligible, options.scope);
    const auto masks = select_dynamic(scores, eligible, dynamic_counts(sizes, density, options.scope), options.scope);
    set_masks(layers, masks);
    PartitionRound round;
    round.target_density = density;
    for (const auto& l : layers) {
      round.layer_ratios.push_back(l.layer->dynamic_ratio());
      round.dynamic_elements += std::llround(round.layer_ratios.back() * static_cast<double>(l.layer->mode_mask.numel()));
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

void random_partition(nn::Module& model, double dynamic_ratio, uint64_t seed, PartitionScope scope) {
  const auto layers = partially_dynamic_layers(model);
  check(!layers.empty(), "random_partition: the model has no PartiallyDynamicConv2d layer");
  Generator generator(seed);
  std::vector<Tensor> scores;
  for (const auto& l : layers) scores.push_back(rand(l.layer->mode_mask.shape(), generator, DType::f64));
  const auto eligible = current_masks(layers);
  set_masks(layers, select_dynamic(scores, eligible, dynamic_counts(layer_sizes(layers), dynamic_ratio, scope), scope));
}

int64_t partitioned_kernel_parameters(nn::Module& model) {
  int64_t total = 0;
  for (const auto& l : partially_dynamic_layers(model)) {
    const int64_t m = l.layer->mode_mask.numel();
    const int64_t dynamic_elements = std::llround(l.layer->dynamic_ratio() * static_cast<double>(m));
    total += l.layer->dynamic->num_kernels * dynamic_elements + (m - dynamic_elements);
  }
  return total;
}

void SnipPruning::apply() const {
  NoGradGuard no_grad;
  for (size_t i = 0; i < layers.size(); ++i) {
    Tensor weight = layers[i].layer->dynamic->weight;
    weight.mul_(to_dtype(keep[i], weight.dtype()));
  }
}

SnipPruning snip_prune(nn::Module& model, const BatchLoss& loss, int64_t num_batches, int64_t kept) {
  SnipPruning pruning;
  pruning.layers = partially_dynamic_layers(model);
  check(!pruning.layers.empty(), "snip_prune: the model has no PartiallyDynamicConv2d layer");
  std::vector<Tensor> weights;
  for (const auto& l : pruning.layers) {
    check(l.layer->dynamic_ratio() == 1.0,
          "snip_prune: layer '{}' has dynamic ratio {}; SNIP prunes the fully dynamic network (all masks ones)",
          l.name, l.layer->dynamic_ratio());
    weights.push_back(l.layer->dynamic->weight);
  }
  int64_t total = 0;
  for (const Tensor& w : weights) total += w.numel();
  check(kept >= 0 && kept <= total, "snip_prune: cannot keep {} of {} dynamic-kernel weights", kept, total);
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
