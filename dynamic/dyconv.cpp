// DynamicConv2d and its ConvFactory: see dyconv.h.
#include "dynamic/dyconv.h"

namespace dg::dynamic {

namespace {

KernelAttentionOptions dyconv_attention(int64_t in_channels, const DynamicConvOptions& dynamic) {
  check(dynamic.attention_hidden >= 0,
        "DynamicConv2d: attention_hidden must be >= 0 (0: the default width), got {}",
        dynamic.attention_hidden);
  return {.num_kernels = dynamic.num_kernels,
          .hidden = dynamic.attention_hidden > 0
                        ? dynamic.attention_hidden
                        : dyconv_attention_hidden(in_channels, dynamic.attention_reduction),
          .normalization = AttentionNormalization::softmax,
          .temperature = dynamic.temperature};
}

}  // namespace

DynamicConv2d::DynamicConv2d(int64_t in_channels, int64_t out_channels,
                             Size2 kernel_size, const Conv2dOptions& geometry,
                             bool bias, const DynamicConvOptions& dynamic,
                             const nn::ParamOptions& options)
    : KernelMixtureConv2d(in_channels, out_channels, kernel_size, geometry, bias,
                          dyconv_attention(in_channels, dynamic), options) {}

nn::ConvFactory dynamic_conv2d_factory(const DynamicConvOptions& dynamic,
                                       const nn::ParamOptions& options) {
  return [dynamic, options](const nn::ConvSpec& s) -> std::shared_ptr<nn::UnaryModule> {
    Conv2dOptions geometry;
    geometry.stride = {s.stride, s.stride};
    geometry.padding = {s.padding, s.padding};
    geometry.groups = s.groups;
    return std::make_shared<DynamicConv2d>(s.in_channels, s.out_channels, s.kernel_size, geometry,
                                           /*bias=*/false, dynamic, options);
  };
}

int64_t set_dynamic_conv_temperature(nn::Module& model, double temperature) {
  int64_t count = 0;
  model.apply([&](nn::Module& m) {
    if (auto* conv = dynamic_cast<DynamicConv2d*>(&m)) {
      conv->set_temperature(temperature);
      ++count;
    }
  });
  return count;
}

}  // namespace dg::dynamic
