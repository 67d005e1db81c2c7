// Compaction: the deployed form of a partitioned PartiallyDynamicConv2d (PAD-Net's post-processing,
// Figure 2: "the indicator mask prunes the redundant dynamic factors and static parameters").
//
// A CompactPartiallyDynamicConv2d stores only what the partition left meaningful: for each of the
// K dynamic kernels its values at the m_dyn dynamic positions (dynamic_factors [K, m_dyn]), the
// static kernel's values at the m - m_dyn static positions (static_values [m - m_dyn]), the K
// biases when the layer has them, and the attention. The scale factors are constants after
// training and are folded in (lambda_d into the dynamic factors, which mix linearly; lambda_s into
// the static values). Per sample it mixes only the K x m_dyn dynamic factors (one matmul
// [N, K] @ [K, m_dyn]), places the mixed values and the static values into the full kernel with
// one gather by the stored position map (an i64 buffer, "positions": flat kernel position ->
// index into [dynamic | static]), and runs the per-sample grouped convolution. A layer with no
// dynamic position (possible under a global partition) is an ordinary convolution with its static
// kernel, the attention then only mixing the biases (or not run at all without bias). The position
// map is the mask in another form (m small integers; a bitmask would do) and is kept as a buffer, so
// it is not counted among the parameters.
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

  int64_t dynamic_elements() const { return dynamic_factors.shape()[1]; }   // m_dyn
  int64_t kernel_elements() const { return positions.numel(); }             // m
  double dynamic_ratio() const;

  std::string type_name() const override { return "CompactPartiallyDynamicConv2d"; }
  std::string extra_repr() const override;

  const int64_t in_channels, out_channels, num_kernels;
  const std::array<int64_t, 2> kernel_size;
  const Conv2dOptions geometry;
  std::shared_ptr<dynamic::KernelAttention> attention;
  Tensor dynamic_factors;  // [K, m_dyn], lambda_d folded in
  Tensor static_values;    // [m - m_dyn], lambda_s folded in
  Tensor bias_factors;     // [K, C_out], undefined without bias
  Tensor positions;        // i64 [m]: kernel position j takes [mixed dynamic | static][positions[j]]
};

// Rebuilds the architecture around a given convolution factory (e.g. a lambda constructing a
// SmallResNet with the same options).
using ModelBuilder = std::function<std::shared_ptr<nn::UnaryModule>(nn::ConvFactory)>;

// A compacted copy of `model` (see the header comment). The builder must call its factory once
// per PartiallyDynamicConv2d of `model`, in the same order and with matching shapes.
std::shared_ptr<nn::UnaryModule> compact_model(nn::Module& model, const ModelBuilder& build);

}  // namespace dg::partition
