// Conv2d and the default ConvFactory: see conv.h.
#include "nn/conv.h"

#include <fmt/format.h>

#include "nn/linear.h"

namespace dg::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
               const Conv2dOptions& geometry, bool bias, const ParamOptions& options)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      geometry(geometry) {
  const int64_t groups = geometry.groups;
  check(in_channels > 0 && out_channels > 0,
        "Conv2d: in_channels and out_channels must be positive, got {} and {}", in_channels,
        out_channels);
  check(kernel_size[0] > 0 && kernel_size[1] > 0, "Conv2d: kernel size must be positive, got {}x{}",
        kernel_size[0], kernel_size[1]);
  check(groups > 0 && in_channels % groups == 0 && out_channels % groups == 0,
        "Conv2d: groups={} must divide both in_channels={} and out_channels={}", groups,
        in_channels, out_channels);
  weight = register_parameter(
      "weight", Tensor::empty({out_channels, in_channels / groups, kernel_size[0], kernel_size[1]},
                              options.dtype));
  if (bias) this->bias = register_parameter("bias", Tensor::empty({out_channels}, options.dtype));
  reset_parameters(options.generator);
}

void Conv2d::reset_parameters(Generator* generator) {
  detail::init_fan_in_uniform(weight, bias, generator);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, geometry); }

std::string Conv2d::extra_repr() const {
  std::string out = fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {})", in_channels,
                                out_channels, kernel_size[0], kernel_size[1], geometry.stride[0],
                                geometry.stride[1]);
  if (geometry.padding != std::array<int64_t, 2>{0, 0})
    out += fmt::format(", padding=({}, {})", geometry.padding[0], geometry.padding[1]);
  if (geometry.dilation != std::array<int64_t, 2>{1, 1})
    out += fmt::format(", dilation=({}, {})", geometry.dilation[0], geometry.dilation[1]);
  if (geometry.groups != 1) out += fmt::format(", groups={}", geometry.groups);
  if (!bias.defined()) out += ", bias=False";
  return out;
}

ConvFactory conv2d_factory(const ParamOptions& options) {
  return [options](const ConvSpec& s) -> std::shared_ptr<UnaryModule> {
    Conv2dOptions geometry;
    geometry.stride = {s.stride, s.stride};
    geometry.padding = {s.padding, s.padding};
    geometry.groups = s.groups;
    return std::make_shared<Conv2d>(s.in_channels, s.out_channels, s.kernel_size, geometry,
                                    /*bias=*/false, options);
  };
}

}  // namespace dg::nn
