// PartiallyDynamicConv2d: see partially_dynamic_conv.h.
#include "partition/partially_dynamic_conv.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/autograd.h"
#include "nn/init.h"

namespace dg::partition {

PartiallyDynamicConv2d::PartiallyDynamicConv2d(std::shared_ptr<dynamic::KernelMixtureConv2d> dynamic_layer,
                                               const PartiallyDynamicOptions& partial,
                                               const nn::ParamOptions& options)
    : scale_factors(partial.scale_factors) {
  check(dynamic_layer != nullptr, "PartiallyDynamicConv2d: the dynamic layer is null");
  dynamic = register_module("dynamic", std::move(dynamic_layer));
  Shape kernel_shape = dynamic->weight.shape();
  kernel_shape.erase(0);
  const DType dtype = dynamic->weight.dtype();
  static_weight = register_parameter("static_weight", Tensor::empty(kernel_shape, dtype));
  const double fan_in = static_cast<double>(numel(kernel_shape) / kernel_shape[0]);
  nn::init::uniform_(static_weight, -1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in),
                     options.generator);
  const bool learn_static = learns_scale_static(scale_factors);
  const bool learn_dynamic = learns_scale_dynamic(scale_factors);
  if (scale_factors == ScaleFactors::both_constrained)
    scale_logit = register_parameter("scale_logit", zeros({}, dtype));
  if (learn_static) scale_static = register_parameter("scale_static", ones({}, dtype));
  if (learn_dynamic) scale_dynamic = register_parameter("scale_dynamic", ones({}, dtype));
  mode_mask = register_buffer("mode_mask", ones(kernel_shape, dtype));
}

Tensor PartiallyDynamicConv2d::lambda_dynamic() const {
  return lambda_dynamic_of(scale_logit, scale_dynamic, static_weight.dtype());
}

Tensor PartiallyDynamicConv2d::lambda_static() const {
  return lambda_static_of(scale_logit, scale_static, static_weight.dtype());
}

Tensor PartiallyDynamicConv2d::computational_kernels(const Tensor& mixing_weights) const {
  const Tensor dynamic_part = dynamic->mixed_kernels(mixing_weights) * mode_mask;  // [N, ...]
  const Tensor static_part = static_weight * (1.0 - mode_mask);                   // [...]
  Tensor hat_dynamic = dynamic_part, hat_static = static_part;
  if (scale_factors != ScaleFactors::none) {
    hat_dynamic = dynamic_part * lambda_dynamic();
    hat_static = static_part * lambda_static();
  }
  return hat_dynamic + hat_static;  // the static kernel broadcasts over the batch
}

Tensor PartiallyDynamicConv2d::forward(const Tensor& x) {
  const Tensor weights = dynamic->mixing_weights(x);
  return dynamic::per_sample_conv2d(x, computational_kernels(weights), dynamic->mixed_biases(weights),
                                    dynamic->geometry);
}

void PartiallyDynamicConv2d::set_mode_mask(const Tensor& mask) {
  check(mask.shape() == mode_mask.shape(),
        "PartiallyDynamicConv2d: mode mask must have one kernel's shape {}, got {}",
        mode_mask.shape(), mask.shape());
  NoGradGuard no_grad;
  mode_mask.copy_(to_dtype(mask, mode_mask.dtype()));
}

std::vector<ModeMaskSite> PartiallyDynamicConv2d::mode_mask_sites() const {
  return {{"mode_mask", mode_mask, dynamic->weight, static_weight}};
}

void PartiallyDynamicConv2d::set_mode_mask(size_t site, const Tensor& mask) {
  check(site == 0, "PartiallyDynamicConv2d: mask site {} does not exist (the layer has one mask)", site);
  set_mode_mask(mask);
}

double PartiallyDynamicConv2d::dynamic_ratio() const {
  NoGradGuard no_grad;
  return mean(to_dtype(eq(mode_mask, 1.0), DType::f64)).item<double>();
}

std::string PartiallyDynamicConv2d::extra_repr() const {
  return fmt::format("scale_factors={}, dynamic_ratio={:.4g}", scale_factors_name(scale_factors),
                     dynamic_ratio());
}

nn::ConvFactory partially_dynamic_factory(nn::ConvFactory dynamic_factory,
                                          const PartiallyDynamicOptions& partial,
                                          const nn::ParamOptions& options) {
  check(static_cast<bool>(dynamic_factory), "partially_dynamic_factory: the dynamic factory is empty");
  return [dynamic_factory, partial, options](const nn::ConvSpec& s) -> std::shared_ptr<nn::UnaryModule> {
    std::shared_ptr<nn::UnaryModule> made = dynamic_factory(s);
    auto layer = std::dynamic_pointer_cast<dynamic::KernelMixtureConv2d>(made);
    check(layer != nullptr,
          "partially_dynamic_factory: the dynamic factory made a {}, not a kernel-mixture "
          "convolution (DynamicConv2d, CondConv2d)",
          made ? made->type_name() : std::string("null"));
    return std::make_shared<PartiallyDynamicConv2d>(std::move(layer), partial, options);
  };
}

nn::ConvFactory partially_dynamic_conv2d_factory(const dynamic::DynamicConvOptions& dynamic_options,
                                                 const PartiallyDynamicOptions& partial,
                                                 const nn::ParamOptions& options) {
  return partially_dynamic_factory(dynamic::dynamic_conv2d_factory(dynamic_options, options), partial,
                                   options);
}

}  // namespace dg::partition
