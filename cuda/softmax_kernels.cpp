// Host half of the CUDA softmax and cross-entropy kernels (beside
// engine/cpu/softmax_kernels.cpp): dtype checks, the lines along `dim` (layout.h), and the
// launches of softmax.cu.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/layout.h"

namespace dg::cuda {
namespace {

CrossEntropyShape cross_entropy_shape(const Tensor& logits,
                                      const Backend::CrossEntropyTarget& spec) {
  CrossEntropyShape s;
  s.n = logits.shape()[0];
  s.classes = logits.shape()[1];
  s.positions = logits.shape()[2];
  s.ignore_index = spec.ignore_index;
  s.label_smoothing = spec.label_smoothing;
  return s;
}

}  // namespace

void CudaBackend::softmax(const Tensor& out, const Tensor& in, int dim, bool log) {
  check(is_floating(in.dtype()), "softmax: expected a floating dtype (f32 or f64), got {}",
        in.dtype());
  DG_CUDA_CHECK(launch_softmax(stream(), elem(in.dtype()), ptr(out), ptr(in),
                               line_index<2>(in.shape(), dim, {&out, &in}), log));
}

void CudaBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out,
                                   int dim, bool log) {
  check(is_floating(out.dtype()),
        "softmax_backward: expected a floating dtype (f32 or f64), got {}", out.dtype());
  DG_CUDA_CHECK(launch_softmax_backward(
      stream(), elem(out.dtype()), ptr(grad_in), ptr(grad_out), ptr(out),
      line_index<3>(out.shape(), dim, {&grad_in, &grad_out, &out}), log));
}

void CudaBackend::cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                                const CrossEntropyTarget& spec) {
  check(is_floating(logits.dtype()),
        "cross_entropy: expected a floating dtype (f32 or f64), got {}", logits.dtype());
  DG_CUDA_CHECK(launch_cross_entropy(stream(), elem(logits.dtype()), ptr(loss), ptr(lse),
                                     ptr(logits), spec.target.data<int64_t>(), ptr(spec.weight),
                                     cross_entropy_shape(logits, spec)));
}

void CudaBackend::cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                                         const Tensor& logits, const Tensor& lse,
                                         const CrossEntropyTarget& spec) {
  check(is_floating(logits.dtype()),
        "cross_entropy_backward: expected a floating dtype (f32 or f64), got {}", logits.dtype());
  DG_CUDA_CHECK(launch_cross_entropy_backward(
      stream(), elem(logits.dtype()), ptr(grad_logits), ptr(grad_loss), grad_loss.strides()[0],
      grad_loss.strides()[1], ptr(logits), ptr(lse), spec.target.data<int64_t>(),
      ptr(spec.weight), cross_entropy_shape(logits, spec)));
}

}  // namespace dg::cuda
