// Host half of the CUDA elementwise family (beside engine/cpu/elementwise_kernels.cpp): checks
// dtypes as the CPU kernels do, coalesces the operands' dims (layout.h) and launches the kernels
// of elementwise.cu on the device's stream.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/layout.h"
#include "engine/ops/ops.h"

namespace dg::cuda {

void CudaBackend::fill(const Tensor& out, double value) {
  DG_CUDA_CHECK(launch_fill(stream(), elem(out.dtype()), ptr(out),
                            strided_index<1>(out.shape(), {&out}), out.numel(), value));
}

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  DG_CUDA_CHECK(launch_copy(stream(), elem(dst.dtype()), elem(src.dtype()), ptr(dst), ptr(src),
                            strided_index<2>(dst.shape(), {&dst, &src}), dst.numel()));
}

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0, double p1) {
  check(op == UnaryOp::logical_not || in.dtype() != DType::b8,
        "unary: op not defined for bool tensors");
  DG_CUDA_CHECK(launch_unary(stream(), op, elem(in.dtype()), ptr(out), ptr(in),
                             strided_index<2>(out.shape(), {&out, &in}), out.numel(), p0, p1));
}

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  check(math::is_logical(op) || math::is_comparison(op) || a.dtype() != DType::b8,
        "binary: arithmetic is not defined for bool tensors");
  DG_CUDA_CHECK(launch_binary(stream(), op, elem(a.dtype()), ptr(out), ptr(a), ptr(b),
                              strided_index<3>(out.shape(), {&out, &a, &b}), out.numel()));
}

void CudaBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  DG_CUDA_CHECK(launch_where(stream(), elem(out.dtype()), ptr(out), ptr(cond), ptr(a), ptr(b),
                             strided_index<4>(out.shape(), {&out, &cond, &a, &b}), out.numel()));
}

void CudaBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                            const Tensor& exp_avg_sq, const AdamStep& step) {
  check(is_floating(param.dtype()), "adam_step: expected a floating dtype (f32 or f64), got {}",
        param.dtype());
  DG_CUDA_CHECK(launch_adam(stream(), elem(param.dtype()), ptr(param), ptr(grad), ptr(exp_avg),
                            ptr(exp_avg_sq),
                            strided_index<4>(param.shape(), {&param, &grad, &exp_avg, &exp_avg_sq}),
                            param.numel(), step.beta1, step.beta2, step.eps, step.step_size,
                            step.bias_correction2_sqrt));
}

}  // namespace dg::cuda
