// The launch functions of cuda/*.cu, as the host side of the backend (cuda/*_kernels.cpp) calls
// them: plain pointers, element types, the index structs of indexing.h and the device's stream.
// Each queues its kernel on `stream` and returns cudaGetLastError(), which the caller turns into a
// dg::Error (check.h). This header is read by nvcc and by the C++ compiler; it names nothing of
// Tensor (nvcc does not parse the engine's host headers, see DESIGN in cuda_backend.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/indexing.h"
#include "engine/kernel_ops.h"

namespace dg::cuda {

// dg::DType's values (engine/dtype.h; checked in cuda_backend.cpp).
enum class Elem : uint8_t { f32, f64, i64, b8 };

// ---- elementwise.cu ----
cudaError_t launch_fill(cudaStream_t stream, Elem type, void* out, const StridedIndex<1>& index,
                        int64_t n, double value);
cudaError_t launch_copy(cudaStream_t stream, Elem dst_type, Elem src_type, void* dst,
                        const void* src, const StridedIndex<2>& index, int64_t n);
cudaError_t launch_unary(cudaStream_t stream, UnaryOp op, Elem type, void* out, const void* in,
                         const StridedIndex<2>& index, int64_t n, double p0, double p1);
// `type` is the inputs' element type (comparisons and logical ops write bool).
cudaError_t launch_binary(cudaStream_t stream, BinaryOp op, Elem type, void* out, const void* a,
                          const void* b, const StridedIndex<3>& index, int64_t n);
cudaError_t launch_where(cudaStream_t stream, Elem type, void* out, const void* cond,
                         const void* a, const void* b, const StridedIndex<4>& index, int64_t n);
cudaError_t launch_adam(cudaStream_t stream, Elem type, void* param, const void* grad,
                        void* exp_avg, void* exp_avg_sq, const StridedIndex<4>& index, int64_t n,
                        double beta1, double beta2, double eps, double step_size,
                        double bias_correction2_sqrt);

// ---- reduce.cu ---- (operand 0 of each index is the output, 1 the input)
cudaError_t launch_reduce(cudaStream_t stream, ReduceOp op, Elem type, void* out, const void* in,
                          const LineIndex<2>& index);
// Operands: values, indices, in.
cudaError_t launch_arg_reduce(cudaStream_t stream, bool is_max, Elem type, void* values,
                              int64_t* indices, const void* in, const LineIndex<3>& index);
cudaError_t launch_cumsum(cudaStream_t stream, Elem type, void* out, const void* in,
                          const LineIndex<2>& index);

// ---- index.cu ---- (one thread per line along `dim`, walking it in order, so duplicate indices
// resolve as the reference's row-major loop does: the last write wins, additions in order)
// index_select: operands (out, in seen with out's shape and stride 0 at dim); index 1-D.
cudaError_t launch_index_select(cudaStream_t stream, Elem type, void* out, const void* in,
                                int64_t in_dim_stride, const int64_t* index, int64_t index_stride,
                                const LineIndex<2>& lines);
// gather: operands (out, index, in seen with out's shape and stride 0 at dim).
cudaError_t launch_gather(cudaStream_t stream, Elem type, void* out, const int64_t* index,
                          const void* in, int64_t in_dim_stride, const LineIndex<3>& lines);
// scatter: operands (index, src, out seen with index's shape and stride 0 at dim).
cudaError_t launch_scatter(cudaStream_t stream, Elem type, const int64_t* index, const void* src,
                           void* out, int64_t out_dim_stride, bool accumulate,
                           const LineIndex<3>& lines);
// index_add: operands (src, out seen with src's shape and stride 0 at dim); index 1-D.
cudaError_t launch_index_add(cudaStream_t stream, Elem type, const void* src, void* out,
                             int64_t out_dim_stride, const int64_t* index, int64_t index_stride,
                             const LineIndex<2>& lines);

// topk and sort: each line of `in` along dim (operands values, indices, in; values and indices
// have `count` positions along dim, at the given strides) is ordered by a stable insertion sort
// (first: the larger when `larger_first`, NaN above every number), and its first `count` written.
// scratch holds lines * length i64.
cudaError_t launch_ordered_rows(cudaStream_t stream, Elem type, void* values,
                                int64_t values_dim_stride, int64_t* indices,
                                int64_t indices_dim_stride, const void* in, int64_t count,
                                bool larger_first, int64_t* scratch, const LineIndex<3>& lines);

// ---- norm.cu ---- (x [M, N] for layer norm, [N, C, S] for batch norm; all contiguous; null for
// an undefined optional tensor)
cudaError_t launch_layer_norm(cudaStream_t stream, Elem type, void* out, void* mean, void* rstd,
                              const void* x, const void* weight, const void* bias, int64_t rows,
                              int64_t cols, double eps);
cudaError_t launch_layer_norm_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       void* grad_weight, void* grad_bias, const void* grad_out,
                                       const void* x, const void* mean, const void* rstd,
                                       const void* weight, int64_t rows, int64_t cols);
struct ChannelShape {
  int64_t n = 0, channels = 0, spatial = 0;
};
cudaError_t launch_batch_norm_stats(cudaStream_t stream, Elem type, void* mean, void* var,
                                    const void* x, const ChannelShape& shape);
cudaError_t launch_channel_affine(cudaStream_t stream, Elem type, void* out, const void* x,
                                  const void* scale, const void* shift, const void* y,
                                  const void* y_scale, const ChannelShape& shape);
cudaError_t launch_batch_norm_backward_reduce(cudaStream_t stream, Elem type, void* sum_dy,
                                              void* sum_dy_xmu, const void* grad_out,
                                              const void* x, const void* mean,
                                              const ChannelShape& shape);

// ---- conv.cu ---- (input [N, C, H, W] contiguous; columns [N, C * kh * kw, out_h * out_w]
// contiguous, row (c * kh + i) * kw + j holding input (c, oh * stride - pad + i * dilation, ...)
// for every output position, zero where that falls in the padding)
struct ConvShape {
  int64_t batch = 0, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};
cudaError_t launch_im2col(cudaStream_t stream, Elem type, void* columns, const void* input,
                          const ConvShape& shape);
// Its adjoint: input[n, c, h, w] = the sum of every column entry that reads (c, h, w).
cudaError_t launch_col2im(cudaStream_t stream, Elem type, void* input, const void* columns,
                          const ConvShape& shape);

// ---- pool.cu ---- (planes of [in_h, in_w] in, [out_h, out_w] out, all contiguous). The windows
// are computed on the host by Backend::Pool2dGeometry itself and passed as a device table:
// row_begin [out_h], row_end [out_h], col_begin [out_w], col_end [out_w]; fixed_divisor is the
// kernel's area, or 0 for adaptive windows (which divide by their own area).
struct PoolShape {
  int64_t planes = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0, fixed_divisor = 0;
};
cudaError_t launch_max_pool2d(cudaStream_t stream, Elem type, void* out, int64_t* indices,
                              const void* input, const int64_t* windows, const PoolShape& shape);
cudaError_t launch_max_pool2d_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       const void* grad_out, const int64_t* indices,
                                       const PoolShape& shape);
cudaError_t launch_avg_pool2d(cudaStream_t stream, Elem type, void* out, const void* input,
                              const int64_t* windows, const PoolShape& shape);
cudaError_t launch_avg_pool2d_backward(cudaStream_t stream, Elem type, void* grad_input,
                                       const void* grad_out, const int64_t* windows,
                                       const PoolShape& shape);

// ---- softmax.cu ---- (floating types only)
// Operands: out, in.
cudaError_t launch_softmax(cudaStream_t stream, Elem type, void* out, const void* in,
                           const LineIndex<2>& index, bool log);
// Operands: grad_in, grad_out, out.
cudaError_t launch_softmax_backward(cudaStream_t stream, Elem type, void* grad_in,
                                    const void* grad_out, const void* out,
                                    const LineIndex<3>& index, bool log);
// Logits [N, C, S], target [N, S], weight [C] or null, loss [N, S], lse [2, N, S]; all contiguous.
struct CrossEntropyShape {
  int64_t n = 0, classes = 0, positions = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
cudaError_t launch_cross_entropy(cudaStream_t stream, Elem type, void* loss, void* lse,
                                 const void* logits, const int64_t* target, const void* weight,
                                 const CrossEntropyShape& shape);
// grad_loss [N, S] with strides (grad_loss_stride_n, grad_loss_stride_s).
cudaError_t launch_cross_entropy_backward(cudaStream_t stream, Elem type, void* grad_logits,
                                          const void* grad_loss, int64_t grad_loss_stride_n,
                                          int64_t grad_loss_stride_s, const void* logits,
                                          const void* lse, const int64_t* target,
                                          const void* weight, const CrossEntropyShape& shape);

// ---- recurrent.cu ---- (rows of B x H elements; `*_row` are row strides in elements, 0 for a
// missing optional tensor whose pointer is null)
struct LstmRows {
  int64_t batch = 0, hidden = 0;
};
cudaError_t launch_lstm_cell(cudaStream_t stream, Elem type, void* h, void* c_next,
                             const void* gates, int64_t gates_row, const void* c, int64_t c_row,
                             const LstmRows& rows);
cudaError_t launch_lstm_cell_state_backward(cudaStream_t stream, Elem type, void* grad_gates,
                                            void* grad_c, const void* grad_c_next,
                                            int64_t grad_c_next_row, const void* gates,
                                            int64_t gates_row, const void* c, int64_t c_row,
                                            const LstmRows& rows);
cudaError_t launch_lstm_cell_output_backward(cudaStream_t stream, Elem type, void* grad_o,
                                             void* grad_c_next, const void* grad_h,
                                             int64_t grad_h_row, const void* o, int64_t o_row,
                                             const void* c_next, int64_t c_next_row,
                                             const LstmRows& rows);

}  // namespace dg::cuda
