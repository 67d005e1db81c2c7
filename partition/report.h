// The PAD-Net model report: what a (partially) dynamic network costs, the columns of PAD-Net's
// Table 2 (#Param, FLOPs) plus the per-layer view of its extended version's Figure 4.
//
// Intrinsic parameters (PAD-Net Section 4.1: dynamic factors and static parameters), per
// convolution and in total, counted as after compaction:
//   dynamic factors   K x m_dyn (the K kernels' values at dynamic positions; exact zeros, i.e.
//                     weights pruned by the SNIP baseline, are not counted)
//   static            m - m_dyn (the static kernel's static positions; a static nn::Conv2d's whole
//                     kernel)
//   attention         the KernelAttention's parameters
//   other             the layer's biases and scale factors; for the row "rest", every parameter
//                     outside the convolutions (stem, batch norm, classifier)
// Layers recognised: PartiallyDynamicConv2d, CompactPartiallyDynamicConv2d, the fully dynamic
// KernelMixtureConv2d (DY-Conv, CondConv) and nn::Conv2d; the layer-wise dynamic ratio is
// m_dyn / m (1 for a fully dynamic layer, 0 for a static one); the total's is the dynamic layers'
// overall ratio, sum m_dyn / sum m over the layers with an attention (partially or fully dynamic;
// the static stem is left out, as the paper leaves the first convolution static), i.e. the kappa
// of a partition and 1 for DY-Conv.
// Bytes: state_bytes, what the layer stores (its parameters and buffers, e.g. a compacted layer's
// packed mode bitmask, each at its dtype's size), and cache_bytes, what a compacted layer keeps
// beside its state for inference (the dense static kernel and the i64 dynamic positions,
// compaction.h), as held when the report is made (model_report makes it after a forward).
// Cost: FLOPs per sample measured by a FlopScope around one forward at batch 1 (after one
// uncounted forward, so caches built once are not counted per sample) (the engine's
// count of executed multiply-adds and elementwise operations), and the median wall time per sample
// of forwards at batch 1 and batch 64 (as many as fit in 0.2 s, at least timing_runs), in eval
// mode without gradients.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.h"

namespace dg::partition {

struct LayerCost {
  std::string name, kind;
  int64_t dynamic_factors = 0, static_parameters = 0, attention_parameters = 0, other = 0;
  double dynamic_ratio = 0.0;
  int64_t kernel_elements = 0;   // m: one kernel's size
  int64_t dynamic_elements = 0;  // m_dyn
  bool dynamic_layer = false;    // has an attention (partially or fully dynamic)
  int64_t state_bytes = 0;       // parameters and buffers as stored
  int64_t cache_bytes = 0;       // inference caches kept beside the state
  int64_t bytes() const { return state_bytes + cache_bytes; }
  int64_t intrinsic() const { return dynamic_factors + static_parameters + attention_parameters + other; }
};

struct ModelReport {
  std::vector<LayerCost> layers;  // the convolutions, in named_modules() order
  LayerCost rest;                 // parameters outside the convolutions (in `other`)
  LayerCost total;                // the sum of all rows
  int64_t flops_per_sample = 0;
  double seconds_per_sample_batch1 = 0.0;
  double seconds_per_sample_batch64 = 0.0;
  // A markdown table (one row per convolution, then rest and total) followed by the cost lines.
  std::string to_markdown() const;
};

// The parameter part of the report only (no forward).
ModelReport parameter_report(nn::Module& model);

struct ReportOptions {
  Shape sample_shape;       // one input without its batch dimension, e.g. {1, 28, 28}
  DType dtype = DType::f32;
  // Timed forwards per batch size: at least this many, and more until 0.2 s of them have run; the
  // median is reported (0: no timing).
  int64_t timing_runs = 5;
};

// The full report: parameters, FLOPs per sample, time per sample. The model is put in eval mode
// for the measurements and returned to its previous mode.
ModelReport model_report(nn::UnaryModule& model, const ReportOptions& options);

}  // namespace dg::partition
