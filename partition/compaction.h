// Compaction: the deployed form of a partitioned PartiallyDynamicConv2d (PAD-Net's post-processing,
// Figure 2: "the indicator mask prunes the redundant dynamic factors and static parameters").
//
// A CompactPartiallyDynamicConv2d stores only what the partition left meaningful: for each of the
// K dynamic kernels its values at the m_dyn dynamic positions (dynamic_factors [K, m_dyn]), the
// static kernel's values at the m - m_dyn static positions (static_values [m - m_dyn]), the K
// biases when the layer has them, and the attention. The scale factors are constants after
// training and are folded in (lambda_d into the dynamic factors, which mix linearly; lambda_s into
// the static values). Per sample it mixes only the K x m_dyn dynamic factors (one matmul
// [N, K] @ [K, m_dyn]) and places them into the static kernel (the static values at their
// positions, zeros elsewhere) at the dynamic positions. At inference that is one fused op,
// kernel_mixture_conv2d: each sample's kernel is mixed and placed in a per-thread buffer where its
// convolution runs, and only the m_dyn dynamic values are written per sample (the static ones stay
// from sample to sample). When a graph is recorded (fine-tuning the compacted model) the same
// kernels are composed from ops (matmul, index_add into the expanded static kernel,
// per_sample_conv2d). A layer with no dynamic position (possible under a global partition) is an
// ordinary convolution with its static kernel, the attention then only mixing the biases (or not run
// at all without bias). The mask is stored as a packed bitmask (i64 buffer "mode_bitmask", bit j of
// word j / 64 set where flat kernel position j is dynamic: m / 8 bytes, against 8 bytes per
// position for a list of i64 positions) and is not counted among the parameters.
//
// What inference keeps besides the state: the dense static kernel (m values) and the dynamic
// positions as i64 (what kernel_mixture_conv2d reads), built from the state on the first forward
// and rebuilt when it changes. They cost m * sizeof(value) + 8 * m_dyn bytes, which is more than
// the state saves at low kappa; cache_bytes() reports them (partition/report.h counts them), and
// keep_inference_cache = false rebuilds them on every forward instead of keeping them.
//
// compact_model builds a compacted copy of a model: the architecture is rebuilt by the caller's
// builder with a ConvFactory that returns, for the i-th factory call, the compaction of the
// model's i-th PartiallyDynamicConv2d (in named_modules() order, which is the order the builders
// call their factory); all other parameters and buffers (batch norm, stem, classifier) are copied
// by name. The copy computes the same function as the original in either mode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dynamic/kernel_attention.h"
#include "nn/conv.h"
#include "nn/module.h"
#include "partition/partially_dynamic_conv.h"

namespace dg::partition {

class CompactPartiallyDynamicConv2d : public nn::UnaryModule {
 public:
  // The compaction of `source` with its current mask, scale factors and weights (copied: later
  // changes to `source` do not reach it).
  explicit CompactPartiallyDynamicConv2d(const PartiallyDynamicConv2d& source);

  // x [N, C_in, H, W] -> [N, C_out, H', W'].
  Tensor forward(const Tensor& x) override;

  int64_t dynamic_elements() const { return dynamic_factors.shape()[1]; }  // m_dyn
  int64_t kernel_elements() const { return kernel_elements_; }              // m
  // The static kernel [C_out, C_in / groups, kH, kW]: static_values at their positions, zeros at
  // the dynamic ones.
  Tensor static_kernel() const;
  // The flat kernel positions (ascending, i64) that are dynamic / static, from the bitmask.
  Tensor dynamic_positions() const;
  Tensor static_positions() const;
  double dynamic_ratio() const;
  // The bytes of the inference caches currently kept (dense static kernel, i64 dynamic positions).
  int64_t cache_bytes() const;
  // Keep the inference caches between forwards (the default), or rebuild them on every forward.
  bool keep_inference_cache = true;

  std::string type_name() const override { return "CompactPartiallyDynamicConv2d"; }
  std::string extra_repr() const override;

  const int64_t in_channels, out_channels, num_kernels;
  const std::array<int64_t, 2> kernel_size;
  const Conv2dOptions geometry;
  std::shared_ptr<dynamic::KernelAttention> attention;
  Tensor dynamic_factors;  // [K, m_dyn], lambda_d folded in
  Tensor static_values;    // [m - m_dyn], lambda_s folded in
  Tensor bias_factors;     // [K, C_out], undefined without bias
  Tensor mode_bitmask;     // i64 [ceil(m / 64)]: bit j set where position j is dynamic

 private:
  const int64_t kernel_elements_;
  // static_kernel() outside a graph and the (tensor, version) of static_values and mode_bitmask it
  // was built from; the dynamic positions and the bitmask version they were read from.
  mutable Tensor static_kernel_cache_, cached_static_values_, positions_cache_;
  mutable uint64_t cached_static_version_ = 0, cached_mask_version_ = 0,
                   positions_mask_version_ = 0;
};

// Rebuilds the architecture around a given convolution factory (e.g. a lambda constructing a
// SmallResNet with the same options).
using ModelBuilder = std::function<std::shared_ptr<nn::UnaryModule>(nn::ConvFactory)>;

// A compacted copy of `model` (see the header comment). The builder must call its factory once
// per PartiallyDynamicConv2d of `model`, in the same order and with matching shapes.
std::shared_ptr<nn::UnaryModule> compact_model(nn::Module& model, const ModelBuilder& build);

}  // namespace dg::partition
