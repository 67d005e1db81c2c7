// Mode partition: which elements of every partially dynamic layer's weights stay dynamic (PAD-Net,
// He et al. 2023, Section 4.2, Eq. 5-9), and the baselines it is compared against.
//
// Layers. Everything here works on the PartitionedLayer interface (partitioned_layer.h): the
// layers of a model that implement it (PartiallyDynamicConv2d, PartiallyDynamicMoE, in any mix),
// in named_modules() order, and each layer's mode masks in its own order (a convolution has one,
// an MoE layer two: W1's and W2's). "The masks" below are that flat list; a model's masks are
// partitioned together however many layers of whichever kind hold them.
//
// Scores (Eq. 7-8). Each mode mask M is made to require grad and the loss of D_b
// mini-batches (a BatchLoss callback runs the model on batch b and returns the scalar loss) is
// differentiated with respect to it by ordinary backward passes on the engine's graph; the
// gradients g = dL/dM are summed over the batches, evaluated at the current mask (all ones before
// the first round). The score of element j is s_j = |g_j| / sum_k |g_k|, the sum over the scope's
// elements (Eq. 8); elements already static score 0 (their loss difference is zero by definition).
//
// Selection (Eq. 9). M = 1[s >= s_kappa] keeps the top kappa fraction. To make the count exact,
// the elements are ranked instead of thresholded: by score, descending, ties broken by the lower
// flat index first (the flat index counts through the masks in the order above, each mask
// row-major), and exactly round(kappa * m) of them stay dynamic, m being the scope's element count.
// Only currently dynamic elements are eligible: a static element never turns dynamic again.
//
// Scope. The paper normalises over all m parameters of the network and takes one percentile, which
// is what produces its layer-wise dynamic-ratio distribution (extended version, Figure 4):
// PartitionScope::global, the default. PartitionScope::per_layer applies the same rule to each
// layer on its own (every layer then has dynamic ratio ~kappa).
//
// Iterative mode partition (IMP). E rounds; round e = 0..E-1 rescores at the current mask and keeps
// a density of kappa^((e+1)/E) (the static share grows exponentially); E = 1 is the one-shot mode
// partition ("MP" in PAD-Net's Figure 4). Round e scores on batches e * D_b .. (e + 1) * D_b - 1
// (fresh batches each round, so no round's choice is fitted to the same few examples as the
// last); fresh_batches_per_round = false reuses batches 0 .. D_b - 1 in every round. The paper
// only says "ten batches" and is silent on rounds; this project could not consult the published
// reference code, so this is a choice, stated in every results file that uses IMP.
//
// Baselines. random_partition keeps round(kappa * m) uniformly random elements per scope (seeded).
// snip_prune is the pruning comparison of PAD-Net's Table 5 ("MoE-P": the fully dynamic network
// pruned by SNIP, Lee et al. 2019, at PAD-Net's parameter count): on the fully dynamic model (all
// masks ones) the connection sensitivity |g (.) W| of every element of every one of the K dynamic
// kernels or E experts (each mask's dynamic weights; g = dL/dW summed over D_b batches) is ranked
// globally, as SNIP does, and all but the top `kept` are zeroed; zeroed weights are pruned, not
// made static. Build that network with ScaleFactors::none to have the plain pruned DY-Conv or MoE
// (the masks of ones then leave the static weights unused), and call SnipPruning::apply() after
// every optimiser step to keep it pruned.
//
// The callback is responsible for the model's mode (train/eval) and data; the functions here do not
// touch parameters' .grad (they use dg::grad) and leave every mask a plain buffer again afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"
#include "partition/partially_dynamic_conv.h"
#include "partition/partitioned_layer.h"

namespace dg::partition {

// Runs the model on mini-batch `batch` and returns the scalar loss. IMP with fresh batches asks
// for batches 0 .. rounds * num_batches - 1; a callback with fewer batches wraps around.
using BatchLoss = std::function<Tensor(int64_t batch)>;

enum class PartitionScope { global, per_layer };

struct PartitionOptions {
  double dynamic_ratio = 0.3;  // kappa, in [0, 1]
  int64_t rounds = 1;          // E: 1 = one-shot mode partition, > 1 = IMP
  int64_t num_batches = 10;    // D_b: mini-batches per scoring pass
  PartitionScope scope = PartitionScope::global;
  bool fresh_batches_per_round = true;  // round e scores batches e * D_b .. (e + 1) * D_b - 1
};

// Every PartitionedLayer in `model` (itself included), in named_modules() order.
struct NamedPartitionedLayer {
  std::string name;
  PartitionedLayer* layer;
};
std::vector<NamedPartitionedLayer> partitioned_layers(nn::Module& model);

// Every mode mask of the model: each partitioned layer's sites, in order.
struct NamedModeMask {
  std::string name;  // "<layer>.<mask buffer>", e.g. "block.0.moe_ffn.mask_w1"
  PartitionedLayer* layer;
  size_t site;
  ModeMaskSite view;
};
std::vector<NamedModeMask> mode_masks(nn::Module& model);

// Every PartiallyDynamicConv2d in `model` (itself included), in named_modules() order.
struct NamedPartialLayer {
  std::string name;
  PartiallyDynamicConv2d* layer;
};
std::vector<NamedPartialLayer> partially_dynamic_layers(nn::Module& model);

// g = dL/dM summed over batches first_batch .. first_batch + num_batches - 1, one f64 tensor of the
// mask's shape per mask (mode_masks order), at the current masks.
std::vector<Tensor> mask_gradients(nn::Module& model, const BatchLoss& loss, int64_t num_batches,
                                   int64_t first_batch = 0);

// Eq. 8: |g| normalised to sum 1 over the scope (every mask for global, each mask alone for
// per_layer); entries where `eligible` (0/1, per mask) is 0 score 0. f64, one tensor per mask.
std::vector<Tensor> normalized_scores(const std::vector<Tensor>& gradients,
                                      const std::vector<Tensor>& eligible, PartitionScope scope);

// round(density * m) per scope (the sum of the masks' sizes for global, each mask's for
// per_layer), the rounding half away from zero.
std::vector<int64_t> dynamic_counts(const std::vector<int64_t>& layer_sizes, double density,
                                    PartitionScope scope);

// The new 0/1 masks (f64, per mask): among the eligible entries (eligible != 0), the `counts`
// (one per scope) highest scores, ties to the lower flat index, stay 1; all others are 0.
std::vector<Tensor> select_dynamic(const std::vector<Tensor>& scores, const std::vector<Tensor>& eligible,
                                   const std::vector<int64_t>& counts, PartitionScope scope);

// One round of IMP as it happened.
struct PartitionRound {
  double target_density = 0.0;          // kappa^((e+1)/E)
  int64_t dynamic_elements = 0;         // over the whole model after the round
  std::vector<double> layer_ratios;     // each mask's dynamic ratio after the round (mode_masks order)
};

// The (iterative) mode partition; sets every mask and returns what each round did.
std::vector<PartitionRound> mode_partition(nn::Module& model, const BatchLoss& loss,
                                           const PartitionOptions& options);

// Random partition: round(kappa * m) dynamic elements per scope, uniformly at random from `seed`;
// only currently dynamic elements are eligible, like the mode partition. Sets the masks.
void random_partition(nn::Module& model, double dynamic_ratio, uint64_t seed,
                      PartitionScope scope = PartitionScope::global);

// The partitioned weights PAD-Net keeps after compaction, summed over the model's partitioned
// layers (PartitionedLayer::kept_parameters): K * m_dyn (dynamic factors) + (m - m_dyn) (static
// values) per mask. The SNIP baseline keeps this many dynamic weights.
int64_t partitioned_kernel_parameters(nn::Module& model);

// The SNIP pruning of the dynamic weights: one 0/1 keep mask per mode mask, of its dynamic weights'
// shape (a convolution's [K, C_out, C_in / g, kH, kW], an MoE's w1 [E, d, d_ff] and w2 [E, d_ff, d]).
struct SnipPruning {
  std::vector<std::string> names;  // the mode masks' names
  std::vector<Tensor> weights;     // handles onto the pruned dynamic weights
  std::vector<Tensor> keep;        // f64 0/1
  int64_t kept = 0;          // ones over all masks
  // Zeroes the pruned weights again (call after each optimiser step to keep them pruned).
  void apply() const;
};

// Scores |g (.) W| of the dynamic weights over D_b batches (g summed over them), keeps the global
// top `kept` (ties to the lower flat index), zeroes the rest in place and returns the masks. Every
// mode mask must be all ones (the fully dynamic network).
SnipPruning snip_prune(nn::Module& model, const BatchLoss& loss, int64_t num_batches, int64_t kept);

}  // namespace dg::partition
