// The PAD-Net MoE report: what a mixture-of-experts layer costs in each of its forms, the columns
// of PAD-Net's Tables 1, 3 and 5 (#Param) and Figure 5 (computation per token).
//
// Parameters per MoE layer (dynamic::MoE, PartiallyDynamicMoE, CompactPartiallyDynamicMoE), counted
// as after compaction (PAD-Net's tables):
//   dynamic   the experts' W1 and W2 values at dynamic positions, E x m_dyn per matrix (exact
//             zeros, i.e. weights pruned by SNIP for MoE-P, are not counted; a plain MoE's every
//             non-zero weight is dynamic)
//   static    the shared static weights' values at static positions, m - m_dyn per matrix
//   biases    the experts' b1, b2 (E (d_ff + d))
//   gate      the router's parameters
//   other     shared experts and scale factors
// Bytes: what the layer object really stores, parameters and buffers (element count x element
// size), so an uncompacted PartiallyDynamicMoE is charged its full experts, its static weights and
// its float masks, and a compacted one its packed bitmasks (position_bytes: the bytes spent on
// positions, i.e. masks or bitmasks).
//
// FLOPs per token are measured, not computed: measured_flops_per_token runs a forward the caller
// supplies under a FlopScope (the engine's count of executed multiply-adds and elementwise
// operations) without a graph, after one uncounted warm-up call (which builds a compacted layer's
// placed weights), and divides by the number of tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"

namespace dg::partition {

struct MoELayerCost {
  std::string name, kind;
  int64_t dynamic = 0, static_values = 0, biases = 0, gate = 0, other = 0;
  int64_t stored_bytes = 0, position_bytes = 0;
  double dynamic_ratio = 1.0;  // m_dyn / m over W1 and W2 (1 for a plain MoE)
  int64_t parameters() const { return dynamic + static_values + biases + gate + other; }
};

// One row per MoE layer of `model` (itself included), in named_modules() order; a layer inside one
// already counted (a PartiallyDynamicMoE's "moe") is not counted again.
std::vector<MoELayerCost> moe_parameter_report(nn::Module& model);

// Everything `module` stores: parameters and buffers, element count times element size.
int64_t stored_bytes(const nn::Module& module);

// The engine's measured FLOPs of one call of `forward` (no graph; one uncounted warm-up call
// first), divided by `tokens`.
double measured_flops_per_token(const std::function<void()>& forward, int64_t tokens);

// A markdown table of the rows.
std::string moe_report_markdown(const std::vector<MoELayerCost>& rows);

}  // namespace dg::partition
