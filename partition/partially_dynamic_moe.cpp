// PartiallyDynamicMoE: see partially_dynamic_moe.h.
#include "partition/partially_dynamic_moe.h"

#include <fmt/format.h>

#include "engine/autograd.h"

namespace dg::partition {

namespace {

void copy_mask(Tensor& target, const Tensor& mask, const char* name) {
  check(mask.defined() && mask.shape() == target.shape(),
        "PartiallyDynamicMoE: {} must have one expert matrix's shape {}, got {}", name, target.shape(),
        mask.defined() ? mask.shape() : Shape{});
  NoGradGuard no_grad;
  target.copy_(to_dtype(mask, target.dtype()));
}

}  // namespace

PartiallyDynamicMoE::PartiallyDynamicMoE(std::shared_ptr<dynamic::MoE> moe_layer,
                                         const PartiallyDynamicOptions& partial)
    : scale_factors(partial.scale_factors) {
  check(moe_layer != nullptr, "PartiallyDynamicMoE: the MoE is null");
  check(moe_layer->owns_experts(), "PartiallyDynamicMoE: MoE '{}' holds no expert weights (ExternalExperts)",
        moe_layer->options.name);
  moe = register_module("moe", std::move(moe_layer));
  const DType dtype = moe->w1.dtype();
  {
    NoGradGuard no_grad;
    static_w1 = register_parameter("static_w1", mean(moe->w1, {0}).detach().clone());
    static_w2 = register_parameter("static_w2", mean(moe->w2, {0}).detach().clone());
  }
  if (scale_factors == ScaleFactors::both_constrained)
    scale_logit = register_parameter("scale_logit", zeros({}, dtype));
  if (learns_scale_static(scale_factors)) scale_static = register_parameter("scale_static", ones({}, dtype));
  if (learns_scale_dynamic(scale_factors)) scale_dynamic = register_parameter("scale_dynamic", ones({}, dtype));
  mask_w1 = register_buffer("mask_w1", ones(static_w1.shape(), dtype));
  mask_w2 = register_buffer("mask_w2", ones(static_w2.shape(), dtype));
}

std::shared_ptr<PartiallyDynamicMoE> PartiallyDynamicMoE::upcycle(
    const nn::Linear& fc1, const nn::Linear& fc2, std::shared_ptr<dynamic::Gate> gate,
    const dynamic::MoEOptions& moe_options, const PartiallyDynamicOptions& partial, double noise_std,
    const nn::ParamOptions& options) {
  auto layer = std::make_shared<PartiallyDynamicMoE>(
      dynamic::MoE::upcycle(fc1, fc2, std::move(gate), moe_options, noise_std, options), partial);
  NoGradGuard no_grad;
  layer->static_w1.copy_(transpose(fc1.weight, 0, 1));
  layer->static_w2.copy_(transpose(fc2.weight, 0, 1));
  return layer;
}

Tensor PartiallyDynamicMoE::lambda_dynamic() const {
  return lambda_dynamic_of(scale_logit, scale_dynamic, static_w1.dtype());
}

Tensor PartiallyDynamicMoE::lambda_static() const {
  return lambda_static_of(scale_logit, scale_static, static_w1.dtype());
}

dynamic::ExpertWeights PartiallyDynamicMoE::computational_weights() const {
  // The mask [d, d_ff] broadcasts over the E experts; the static part is one matrix for all.
  auto hat = [&](const Tensor& experts, const Tensor& mask, const Tensor& stat) {
    Tensor dynamic_part = experts * mask, static_part = stat * (1.0 - mask);
    if (scale_factors != ScaleFactors::none) {
      dynamic_part = dynamic_part * lambda_dynamic();
      static_part = static_part * lambda_static();
    }
    return dynamic_part + static_part;
  };
  return {hat(moe->w1, mask_w1, static_w1), moe->b1, hat(moe->w2, mask_w2, static_w2), moe->b2};
}

Tensor PartiallyDynamicMoE::forward(const Tensor& x, const Tensor& token_ids) {
  return moe->forward_with(x, token_ids, computational_weights());
}

void PartiallyDynamicMoE::set_mask_w1(const Tensor& mask) { copy_mask(mask_w1, mask, "mask_w1"); }
void PartiallyDynamicMoE::set_mask_w2(const Tensor& mask) { copy_mask(mask_w2, mask, "mask_w2"); }

std::vector<ModeMaskSite> PartiallyDynamicMoE::mode_mask_sites() const {
  return {{"mask_w1", mask_w1, moe->w1, static_w1}, {"mask_w2", mask_w2, moe->w2, static_w2}};
}

void PartiallyDynamicMoE::set_mode_mask(size_t site, const Tensor& mask) {
  check(site < 2, "PartiallyDynamicMoE: mask site {} does not exist (0 = mask_w1, 1 = mask_w2)", site);
  if (site == 0) set_mask_w1(mask);
  else set_mask_w2(mask);
}

std::string PartiallyDynamicMoE::extra_repr() const {
  return fmt::format("scale_factors={}, dynamic_ratio={:.4g}", scale_factors_name(scale_factors),
                     dynamic_ratio());
}

}  // namespace dg::partition
