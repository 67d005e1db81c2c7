// Host half of the CUDA normalisation kernels (beside engine/cpu/norm_kernels.cpp): dtype checks
// and the launches of norm.cu (every operand is contiguous, per the table).
#include "cuda/check.h"
#include "cuda/cuda_backend.h"

namespace dg::cuda {
namespace {

ChannelShape channel_shape(const Tensor& x) {
  return {x.shape()[0], x.shape()[1], x.shape()[2]};
}

void check_floating(const Tensor& x, const char* entry) {
  check(is_floating(x.dtype()), "{}: expected a floating dtype (f32 or f64), got {}", entry,
        x.dtype());
}

}  // namespace

void CudaBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                             const Tensor& x, const Tensor& weight, const Tensor& bias,
                             double eps) {
  check_floating(x, "layer_norm");
  DG_CUDA_CHECK(launch_layer_norm(stream(), elem(x.dtype()), ptr(out), ptr(mean), ptr(rstd),
                                  ptr(x), ptr(weight), ptr(bias), x.shape()[0], x.shape()[1],
                                  eps));
}

void CudaBackend::layer_norm_backward(const Tensor& grad_input, const Tensor& grad_weight,
                                      const Tensor& grad_bias, const Tensor& grad_out,
                                      const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& weight) {
  check_floating(x, "layer_norm_backward");
  DG_CUDA_CHECK(launch_layer_norm_backward(stream(), elem(x.dtype()), ptr(grad_input),
                                           ptr(grad_weight), ptr(grad_bias), ptr(grad_out), ptr(x),
                                           ptr(mean), ptr(rstd), ptr(weight), x.shape()[0],
                                           x.shape()[1]));
}

void CudaBackend::batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& x) {
  check_floating(x, "batch_norm_stats");
  DG_CUDA_CHECK(launch_batch_norm_stats(stream(), elem(x.dtype()), ptr(mean), ptr(var), ptr(x),
                                        channel_shape(x)));
}

void CudaBackend::channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale,
                                 const Tensor& shift, const Tensor& y, const Tensor& y_scale) {
  check_floating(x, "channel_affine");
  DG_CUDA_CHECK(launch_channel_affine(stream(), elem(x.dtype()), ptr(out), ptr(x), ptr(scale),
                                      ptr(shift), ptr(y), ptr(y_scale), channel_shape(x)));
}

void CudaBackend::batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu,
                                             const Tensor& grad_out, const Tensor& x,
                                             const Tensor& mean) {
  check_floating(x, "batch_norm_backward_reduce");
  DG_CUDA_CHECK(launch_batch_norm_backward_reduce(stream(), elem(x.dtype()), ptr(sum_dy),
                                                  ptr(sum_dy_xmu), ptr(grad_out), ptr(x),
                                                  ptr(mean), channel_shape(x)));
}

}  // namespace dg::cuda
