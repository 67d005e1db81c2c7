// PartiallyDynamicConv2d: PAD-Net's partially dynamic convolution (He et al. 2023, Eq. 3-4). A
// dynamic convolution (DY-Conv or CondConv, wrapped as the child "dynamic") supplies per-sample
// mixed kernels Theta_dyn(x); one static kernel Theta_static of the same shape is shared by all
// samples; a mode mask M (one kernel's shape, 1 = dynamic, 0 = static, shared by the K kernels)
// picks per element which of the two the computational kernel uses:
//
//   Theta_hat(x) = lambda_d * M (.) Theta_dyn(x) + lambda_s * (1 - M) (.) Theta_static
//
// and sample n is convolved with Theta_hat(x_n) (per_sample_conv2d, one grouped convolution). The
// bias, when the wrapped layer has one, stays the dynamic layer's mixed bias.
//
// Scale factors: PAD-Net Table 4's options (scale_factors.h), both_constrained by default.
//
// The mask is a buffer ("mode_mask"), not a parameter: the optimiser never moves it. For the mode
// partition, make it require grad (mode_mask.set_requires_grad(true)): a backward pass then
// leaves dL/dM in mode_mask.grad(), computed on the graph like any other gradient.
// State-dict names: dynamic.* (the wrapped layer), static_weight, scale_logit / scale_static /
// scale_dynamic (by option), mode_mask. As a PartitionedLayer it exposes one mask, "mode_mask",
// over the K kernels dynamic->weight and static_weight.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dynamic/dyconv.h"
#include "dynamic/kernel_mixture_conv.h"
#include "nn/conv.h"
#include "partition/partitioned_layer.h"
#include "partition/scale_factors.h"

namespace dg::partition {

class PartiallyDynamicConv2d : public nn::UnaryModule, public PartitionedLayer {
 public:
  // Wraps `dynamic` (its parameters become this layer's dynamic.*); the static kernel gets
  // nn::Conv2d's default initialisation from options.generator; the mask starts all ones (the
  // layer then computes exactly what `dynamic` computes, up to the scale factors).
  explicit PartiallyDynamicConv2d(std::shared_ptr<dynamic::KernelMixtureConv2d> dynamic,
                                  const PartiallyDynamicOptions& partial = {},
                                  const nn::ParamOptions& options = {});

  // x [N, C_in, H, W] -> [N, C_out, H', W'].
  Tensor forward(const Tensor& x) override;
  // Theta_hat for the mixing weights [N, K] of some input: [N, C_out, C_in / groups, kH, kW].
  Tensor computational_kernels(const Tensor& mixing_weights) const;

  // The scale factors as 0-dim tensors (on the graph when trainable).
  Tensor lambda_dynamic() const;
  Tensor lambda_static() const;

  // Copies `mask` (one kernel's shape; values are used as given, normally 0 or 1) into mode_mask.
  void set_mode_mask(const Tensor& mask);
  // The fraction of mask entries equal to 1 (the dynamic ratio kappa).
  double dynamic_ratio() const;

  // PartitionedLayer: one site, the kernel's mask.
  std::vector<ModeMaskSite> mode_mask_sites() const override;
  void set_mode_mask(size_t site, const Tensor& mask) override;

  std::string type_name() const override { return "PartiallyDynamicConv2d"; }
  std::string extra_repr() const override;

  const ScaleFactors scale_factors;
  std::shared_ptr<dynamic::KernelMixtureConv2d> dynamic;
  Tensor static_weight;   // [C_out, C_in / groups, kH, kW]
  Tensor mode_mask;       // same shape; 1 = dynamic
  Tensor scale_logit;     // phi, both_constrained only
  Tensor scale_static;    // lambda_s, static_only and both_free only
  Tensor scale_dynamic;   // lambda_d, dynamic_only and both_free only
};

// A ConvFactory wrapping every layer `dynamic_factory` makes (which must be KernelMixtureConv2d
// layers: dynamic::dynamic_conv2d_factory, dynamic::cond_conv2d_factory) in a
// PartiallyDynamicConv2d.
nn::ConvFactory partially_dynamic_factory(nn::ConvFactory dynamic_factory,
                                          const PartiallyDynamicOptions& partial = {},
                                          const nn::ParamOptions& options = {});
// The same around bias-free DY-Conv layers.
nn::ConvFactory partially_dynamic_conv2d_factory(const dynamic::DynamicConvOptions& dynamic = {},
                                                 const PartiallyDynamicOptions& partial = {},
                                                 const nn::ParamOptions& options = {});

}  // namespace dg::partition
