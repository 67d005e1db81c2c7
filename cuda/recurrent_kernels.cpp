// Host half of the CUDA LSTM cell (beside engine/cpu/recurrent_kernels.cpp): row strides of the
// [B, *] operands (unit column stride, rows may be strided; outputs contiguous) and the launches of
// recurrent.cu.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"

namespace dg::cuda {
namespace {

int64_t row_stride(const Tensor& t) { return t.defined() ? t.strides()[0] : 0; }

}  // namespace

void CudaBackend::lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                            const Tensor& c) {
  check(is_floating(gates.dtype()), "lstm_cell: expected a floating dtype (f32 or f64), got {}",
        gates.dtype());
  const LstmRows rows{gates.shape()[0], gates.shape()[1] / 4};
  DG_CUDA_CHECK(launch_lstm_cell(stream(), elem(gates.dtype()), ptr(h), ptr(c_next), ptr(gates),
                                 row_stride(gates), ptr(c), row_stride(c), rows));
}

void CudaBackend::lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                           const Tensor& grad_c_next, const Tensor& gates,
                                           const Tensor& c) {
  check(is_floating(gates.dtype()),
        "lstm_cell_state_backward: expected a floating dtype (f32 or f64), got {}", gates.dtype());
  const LstmRows rows{gates.shape()[0], gates.shape()[1] / 4};
  DG_CUDA_CHECK(launch_lstm_cell_state_backward(
      stream(), elem(gates.dtype()), ptr(grad_gates), ptr(grad_c), ptr(grad_c_next),
      row_stride(grad_c_next), ptr(gates), row_stride(gates), ptr(c), row_stride(c), rows));
}

void CudaBackend::lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                            const Tensor& grad_h, const Tensor& o,
                                            const Tensor& c_next) {
  check(is_floating(o.dtype()),
        "lstm_cell_output_backward: expected a floating dtype (f32 or f64), got {}", o.dtype());
  const LstmRows rows{o.shape()[0], o.shape()[1]};
  DG_CUDA_CHECK(launch_lstm_cell_output_backward(
      stream(), elem(o.dtype()), ptr(grad_o), ptr(grad_c_next), ptr(grad_h), row_stride(grad_h),
      ptr(o), row_stride(o), ptr(c_next), row_stride(c_next), rows));
}

}  // namespace dg::cuda
