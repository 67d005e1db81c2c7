// CondConv2d and its ConvFactory: see condconv.h.
#include "dynamic/condconv.h"

namespace dg::dynamic {

CondConv2d::CondConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
                       const Conv2dOptions& geometry, bool bias, const CondConvOptions& cond,
                       const nn::ParamOptions& options)
    : KernelMixtureConv2d(in_channels, out_channels, kernel_size, geometry, bias,
                          {.num_kernels = cond.num_experts,
                           .hidden = 0,
                           .normalization = AttentionNormalization::sigmoid,
                           .temperature = 1.0},
                          options) {}

nn::ConvFactory cond_conv2d_factory(const CondConvOptions& cond, const nn::ParamOptions& options) {
  return [cond, options](const nn::ConvSpec& s) -> std::shared_ptr<nn::UnaryModule> {
    Conv2dOptions geometry;
    geometry.stride = {s.stride, s.stride};
    geometry.padding = {s.padding, s.padding};
    geometry.groups = s.groups;
    return std::make_shared<CondConv2d>(s.in_channels, s.out_channels, s.kernel_size, geometry,
                                        /*bias=*/false, cond, options);
  };
}

}  // namespace dg::dynamic
