// Linear: see linear.h. The forward is dg::linear (one GEMM over all leading dims plus the bias).
#include "nn/linear.h"

#include <fmt/format.h>

#include <cmath>

#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::nn {

namespace detail {
void init_fan_in_uniform(Tensor& weight, Tensor& bias, Generator* generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::fan_in,
                         init::Nonlinearity::leaky_relu, generator);
  if (!bias.defined()) return;
  const int64_t fan_in = init::fans(weight).first;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  init::uniform_(bias, -bound, bound, generator);
}
}  // namespace detail

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, const ParamOptions& options)
    : in_features(in_features), out_features(out_features) {
  check(in_features > 0 && out_features > 0,
        "Linear: in_features and out_features must be positive, got {} and {}", in_features,
        out_features);
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}, options.dtype));
  if (bias) this->bias = register_parameter("bias", Tensor::empty({out_features}, options.dtype));
  reset_parameters(options.generator);
}

void Linear::reset_parameters(Generator* generator) {
  detail::init_fan_in_uniform(weight, bias, generator);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features,
                     bias.defined() ? "True" : "False");
}

}  // namespace dg::nn
