// mix_kernels and per_sample_conv2d: see per_sample_conv.h.
#include "dynamic/per_sample_conv.h"

namespace dg::dynamic {

Tensor mix_kernels(const Tensor& weights, const Tensor& stacked) {
  check(weights.dim() == 2 && stacked.dim() >= 1 && weights.shape()[1] == stacked.shape()[0],
        "mix_kernels: weights [N, K] and stacked [K, ...] must agree on K, got {} and {}",
        weights.shape(), stacked.shape());
  const int64_t n = weights.shape()[0], k = stacked.shape()[0];
  Shape out_shape = stacked.shape();
  out_shape[0] = n;
  return reshape(matmul(weights, reshape(stacked, {k, -1})), out_shape);
}

Tensor per_sample_conv2d(const Tensor& x, const Tensor& kernels, const Tensor& biases,
                         const Conv2dOptions& geometry) {
  check(x.dim() == 4 && kernels.dim() == 5 && x.shape()[0] == kernels.shape()[0],
        "per_sample_conv2d: expected x [N, C_in, H, W] and kernels [N, C_out, C_in/groups, kH, kW] "
        "with the same N, got {} and {}",
        x.shape(), kernels.shape());
  const int64_t n = x.shape()[0], c_in = x.shape()[1], c_out = kernels.shape()[1];
  check(!biases.defined() || biases.shape() == Shape{n, c_out},
        "per_sample_conv2d: biases must be [N, C_out] = [{}, {}], got {}", n, c_out,
        biases.defined() ? biases.shape() : Shape{});
  check(geometry.groups > 0 && kernels.shape()[2] * geometry.groups == c_in,
        "per_sample_conv2d: kernels {} with groups {} expect {} input channels, x {} has {}",
        kernels.shape(), geometry.groups, kernels.shape()[2] * geometry.groups, x.shape(), c_in);
  Conv2dOptions folded = geometry;
  folded.groups = geometry.groups * n;
  const Shape k = kernels.shape();
  const Tensor y = conv2d(reshape(x, {1, n * c_in, x.shape()[2], x.shape()[3]}),
                          reshape(kernels, {n * c_out, k[2], k[3], k[4]}),
                          biases.defined() ? reshape(biases, {n * c_out}) : Tensor(), folded);
  return reshape(y, {n, c_out, y.shape()[2], y.shape()[3]});
}

}  // namespace dg::dynamic
