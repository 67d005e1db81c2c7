// The kernel table. The op layer (engine/ops/) checks arguments, allocates outputs and handles
// autograd; it then calls one of these kernels on the Backend of the tensors' device. The CPU
// backend (engine/cpu/) implements every kernel; the reference backend (engine/reference/) is the
// plain version every other backend is tested against; the CUDA backend (cuda/, built with
// DG_CUDA) fills the entries listed in docs/architecture.md and registers itself for
// DeviceType::cuda through register_backend.
//
// Conventions for every kernel: all tensors are on this backend's device; `out` tensors are
// freshly allocated and contiguous unless stated otherwise; inputs may have any strides (a stride
// of 0 is a broadcast dim) unless stated otherwise. Index tensors are i64 and have already been
// bounds-checked by the op layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernel_ops.h"
#include "engine/tensor.h"

namespace dg {

struct AdamStep;  // engine/ops/ops.h

class Backend {
 public:
  virtual ~Backend() = default;

  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;

  // out[...] = value (out may be any strided view).
  virtual void fill(const Tensor& out, double value) = 0;
  // dst[...] = src[...] converting dtype; same shape; dst may be any non-overlapping view.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // Copies raw bytes between host memory and this device.
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;

  // out = op(in) elementwise; in has out's shape; p0/p1 as documented on UnaryOp.
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0, double p1) = 0;
  // out = a op b; a and b are views with out's shape (broadcast dims have stride 0).
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out = cond ? a : b; all three are views with out's shape.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // The fused Adam step of adam_step_ (engine/ops/ops.h): all four tensors in place, same shape.
  virtual void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                         const Tensor& exp_avg_sq, const AdamStep& step) = 0;

  // out has in's rank with every reduced dim of size 1 (keepdim form); dims where out is 1 and in
  // is not are reduced.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in) = 0;
  // Max (is_max) or min along `dim` with the first index among ties; values/indices in keepdim form.
  virtual void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices,
                          const Tensor& in, int dim) = 0;
  virtual void cumsum(const Tensor& out, const Tensor& in, int dim) = 0;

  // out[b] = a[b] @ b[b]: a is [B,M,K], b is [B,K,N], out is [B,M,N] contiguous. a and b may have
  // batch stride 0 (broadcast) and either row- or column-major inner matrices.
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // Grouped products (engine/ops/grouped_matmul.cpp): x [M, K] contiguous in consecutive row groups
  // of group_sizes[e] rows (summing to M); w [E, K, N] with row- or column-major inner matrices.
  // out [M, N] contiguous: out[rows of e] = x[rows of e] @ w[e].
  // The default (engine/backend_defaults.cpp) is the plain reference: one matmul per non-empty
  // group, in order; a backend overrides it with something faster (the CPU's one task list).
  virtual void grouped_matmul(const Tensor& out, const Tensor& x, const Tensor& w,
                              const std::vector<int64_t>& group_sizes);
  // out [E, K, N] contiguous: out[e] = x[rows of e]^T @ g[rows of e] (zeros for an empty group);
  // x [M, K] and g [M, N] contiguous. Default: one matmul (or fill) per group, in order.
  virtual void grouped_matmul_weight_grad(const Tensor& out, const Tensor& x, const Tensor& g,
                                          const std::vector<int64_t>& group_sizes);
  // rows @ weight^T (+ bias) for a linear layer whose graph is not recorded: rows [M, K], weight
  // [N, K], bias [N] or undefined; then relu when `relu`, then + residual [M, N] when it is
  // defined. A backend may keep a faster layout of a weight it sees again (the CPU backend's
  // packed panels, engine/cpu/fast/packed_linear.cpp). Returns an undefined tensor, having allocated
  // and written nothing, where it has no fast path for these operands (dtype, layout, size); the
  // caller then composes the result from other ops.
  virtual Tensor inference_linear(const Tensor& /*rows*/, const Tensor& /*weight*/,
                                  const Tensor& /*bias*/, bool /*relu*/,
                                  const Tensor& /*residual*/) {
    return Tensor();
  }

  // Attention where no graph is recorded and no dropout is drawn: for q [B, H, Lq, D] and k, v
  // [B, H, Lk, D] (any strides), out[b, i, h, :] = sum_j softmax_j(scale q_i . k_j + additive[i, j],
  // masked positions excluded) v_j, returned as a new [B, Lq, H, D] tensor. `masked` (bool) is
  // expanded to [B, H, Lq, Lk] or undefined; `additive` is [Lq, Lk] of q's dtype or undefined. A
  // row with every position masked gives zeros when `masked` is defined, NaN otherwise (the
  // composed path's results). Returns an undefined tensor, having written nothing, where the
  // backend has no fast path; the caller then composes attention from ops.
  virtual Tensor inference_attention(const Tensor& /*q*/, const Tensor& /*k*/,
                                     const Tensor& /*v*/, const Tensor& /*masked*/,
                                     const Tensor& /*additive*/, double /*scale*/) {
    return Tensor();
  }

  // out = in.index_select(dim, index); index is 1-D.
  virtual void index_select(const Tensor& out, const Tensor& in, int dim, const Tensor& index) = 0;
  // out[i][j] = in[index[i][j]][j] (for dim 0); out and index have the same shape.
  virtual void gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) = 0;
  // In place on `out` (contiguous): out[index[i][j]][j] = src[i][j] (or += when accumulate).
  virtual void scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
                       bool accumulate) = 0;
  // In place on `out` (contiguous): out.select(dim, index[i]) += src.select(dim, i).
  virtual void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) = 0;
  // k largest/smallest along dim; values/indices have in's shape with size k at dim.
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                    int dim, bool largest, bool sorted) = 0;
  // Stable sort along dim.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
                    bool descending) = 0;

  // ---- convolution and pooling (CPU: engine/cpu/conv_kernels.cpp) ----
  // The sizes of one 2-D convolution, checked by the op layer (engine/ops/conv.cpp). input is
  // [batch, in_channels, in_h, in_w], weight [out_channels, in_channels / groups, kernel_h,
  // kernel_w], output [batch, out_channels, out_h, out_w]; group g maps input channels
  // [g * in_channels / groups, (g + 1) * in_channels / groups) to the matching slice of outputs.
  struct Conv2dGeometry {
    int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
    int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
    int64_t kernel_h = 1, kernel_w = 1;
    int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  };
  // out = conv(input, weight) (+ bias[c] on every output of channel c when bias is defined).
  // input, weight and bias are contiguous; out is contiguous and fully overwritten.
  virtual void conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                      const Tensor& bias, const Conv2dGeometry& g) = 0;
  // grad_input = the adjoint of conv2d in its input applied to grad_out (a transposed
  // convolution); grad_out and weight contiguous; grad_input contiguous, fully overwritten.
  virtual void conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out,
                                 const Tensor& weight, const Conv2dGeometry& g) = 0;
  // grad_weight = the adjoint of conv2d in its weight: sum over the batch of grad_out times the
  // input patches; grad_out and input contiguous; grad_weight contiguous, fully overwritten.
  virtual void conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                                  const Tensor& input, const Conv2dGeometry& g) = 0;
  // Kernel-mixture convolution (dynamic convolution's inference kernel): sample n is convolved
  // with its own kernel W_n (+ biases[n, c] on channel c when biases is defined), where
  //   without base_kernel:  W_n = sum_k mixing[n, k] factors[k]      (factors [K, kernel shape])
  //   with base_kernel:     W_n = base_kernel, except W_n.flat[positions[i]] = sum_k mixing[n, k]
  //                         factors[k, i] for the D positions (factors [K, D], positions i64 [D],
  //                         distinct and in range).
  // g describes one sample's convolution with groups as the layer has them; g.batch = N. All
  // operands are contiguous; out is contiguous and fully overwritten.
  // Optional: a backend without a fused kernel keeps this default, which writes nothing and
  // returns false; the op (engine/ops/conv.cpp) then composes the same result from matmul, scatter
  // and one grouped conv2d. Returns true when it wrote out, having counted (flops.h) its work.
  virtual bool kernel_mixture_conv2d(const Tensor& /*out*/, const Tensor& /*input*/,
                                     const Tensor& /*mixing*/, const Tensor& /*factors*/,
                                     const Tensor& /*biases*/, const Tensor& /*base_kernel*/,
                                     const Tensor& /*positions*/, const Conv2dGeometry& /*g*/) {
    return false;
  }

  // The sizes of one 2-D pooling over `planes` = batch * channels contiguous [in_h, in_w] planes.
  // Output row oh reads input rows [row_begin(oh), row_end(oh)), clipped to the input (padding
  // reads nothing); columns likewise. Fixed windows start at o * stride - pad and span `kernel`;
  // adaptive windows are PyTorch's [floor(o * in / out), ceil((o + 1) * in / out)).
  struct Pool2dGeometry {
    int64_t planes = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
    int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
    bool adaptive = false;

    constexpr int64_t row_begin(int64_t oh) const {
      return adaptive ? oh * in_h / out_h : clip(oh * stride_h - pad_h, in_h);
    }
    constexpr int64_t row_end(int64_t oh) const {
      return adaptive ? ((oh + 1) * in_h + out_h - 1) / out_h
                      : clip(oh * stride_h - pad_h + kernel_h, in_h);
    }
    constexpr int64_t col_begin(int64_t ow) const {
      return adaptive ? ow * in_w / out_w : clip(ow * stride_w - pad_w, in_w);
    }
    constexpr int64_t col_end(int64_t ow) const {
      return adaptive ? ((ow + 1) * in_w + out_w - 1) / out_w
                      : clip(ow * stride_w - pad_w + kernel_w, in_w);
    }
    // What an average divides by: the whole kernel, padding included (count_include_pad), or the
    // adaptive window's own size.
    constexpr int64_t divisor(int64_t oh, int64_t ow) const {
      return adaptive ? (row_end(oh) - row_begin(oh)) * (col_end(ow) - col_begin(ow))
                      : kernel_h * kernel_w;
    }
    static constexpr int64_t clip(int64_t i, int64_t size) {
      return i < 0 ? 0 : i > size ? size : i;
    }
  };
  // out[p, o] = the max over window o of plane p, indices[p, o] its flat position in the plane
  // (oh_in * in_w + ow_in; the first among ties; a NaN wins). input contiguous. indices may be
  // undefined (inference): then only the maxima are written.
  virtual void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                          const Pool2dGeometry& g) = 0;
  // grad_input[p, indices[p, o]] += grad_out[p, o], into a grad_input it zeroes first. All
  // contiguous; indices are in range.
  virtual void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                   const Tensor& indices, const Pool2dGeometry& g) = 0;
  // out[p, o] = the sum over window o of plane p / divisor(o). input contiguous.
  virtual void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) = 0;
  // Its adjoint: every input of window o gets grad_out[p, o] / divisor(o). All contiguous.
  virtual void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                   const Pool2dGeometry& g) = 0;

  // ---- softmax and losses (CPU: engine/cpu/softmax_kernels.cpp) ----
  // What a cross-entropy kernel compares its logits with (see cross_entropy below).
  struct CrossEntropyTarget {
    Tensor target;                 // i64 class indices
    Tensor weight;                 // [C] per-class weights, or undefined for all ones
    int64_t ignore_index = -100;   // positions whose target equals it contribute nothing
    double label_smoothing = 0.0;  // in [0, 1]
  };
  // out = softmax(in) along `dim`, or log_softmax when `log`; in may have any strides. A row
  // holding NaN or +inf, or only -inf, comes out NaN (PyTorch's semantics); an -inf entry in any
  // other row gets probability exactly 0.
  virtual void softmax(const Tensor& out, const Tensor& in, int dim, bool log) = 0;
  // The vector-Jacobian product of softmax along `dim`, given its output y and the gradient g of
  // that output (both any strides): grad_in = y * (g - sum(g * y)), or for log_softmax
  // grad_in = g - exp(y) * sum(g).
  virtual void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out,
                                int dim, bool log) = 0;
  // Cross-entropy of logits [N, C, S] (contiguous) against `spec.target` [N, S] (contiguous i64,
  // every entry in [0, C) or equal to spec.ignore_index, already checked; spec.weight contiguous
  // with the logits' dtype). Per position it writes loss = -sum_c T_c log_softmax(x)_c, where the
  // target distribution T puts (1 - smoothing) * w[target] on the target class plus
  // smoothing * w[c] / C on every class c (w = spec.weight, or ones when undefined) and is all
  // zero at an ignored position; and the log-sum-exp over the classes in two parts, lse[0] = max_c x_c
  // and lse[1] = log sum_c exp(x_c - max), kept apart so that the backward's x - max - lse[1] is
  // as accurate as log_softmax's own output even for logits far from 0. loss is [N, S] and lse
  // [2, N, S], both contiguous.
  virtual void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                             const CrossEntropyTarget& spec) = 0;
  // grad_logits[n, c, s] = grad_loss[n, s] * (softmax(x)_c * sum_c' T_c' - T_c), with lse from
  // the forward; grad_loss is [N, S] with any strides (stride 0 for a reduced loss).
  virtual void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                                      const Tensor& logits, const Tensor& lse,
                                      const CrossEntropyTarget& spec) = 0;

  // ---- normalisation (CPU: engine/cpu/norm_kernels.cpp) ----
  // Layer norm over the rows of x [M, N] (contiguous): mean[m], rstd[m] = 1 / sqrt(var + eps)
  // with the biased variance, and out = (x - mean) * rstd * weight + bias. mean and rstd are [M];
  // weight and bias are [N] contiguous, or undefined (no scale, no shift).
  virtual void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                          const Tensor& x, const Tensor& weight, const Tensor& bias,
                          double eps) = 0;
  // Its backward from the saved mean and rstd: grad_input [M, N], grad_weight and grad_bias [N].
  // Any of the three outputs may be undefined (not needed); weight may be undefined (scale 1).
  // grad_out and x are [M, N] contiguous.
  virtual void layer_norm_backward(const Tensor& grad_input, const Tensor& grad_weight,
                                   const Tensor& grad_bias, const Tensor& grad_out,
                                   const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight) = 0;
  // x is [N, C, S] contiguous: per-channel mean and biased variance over N and S (both [C]).
  virtual void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& x) = 0;
  // Per-channel affine map of [N, C, S] contiguous tensors: out = x * scale[c] + shift[c], plus
  // y * y_scale[c] when y is defined. scale, shift and y_scale are [C] contiguous.
  virtual void channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale,
                              const Tensor& shift, const Tensor& y, const Tensor& y_scale) = 0;
  // Per channel of [N, C, S] contiguous grad_out and x: sum_dy[c] = sum of grad_out and
  // sum_dy_xmu[c] = sum of grad_out * (x - mean[c]), over N and S.
  virtual void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu,
                                          const Tensor& grad_out, const Tensor& x,
                                          const Tensor& mean) = 0;

  // ---- recurrent cells (CPU: engine/cpu/recurrent_kernels.cpp) ----
  // The LSTM cell's pointwise part for gates [B, 4H] (pre-activations i, f, g, o, PyTorch's order)
  // and c [B, H] (undefined: zeros): c_next = sigmoid(f) c + sigmoid(i) tanh(g) and
  // h = sigmoid(o) tanh(c_next). Every tensor is [B, *] with unit column stride (rows may be
  // strided); outputs are contiguous.
  virtual void lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                         const Tensor& c) = 0;
  // From dL/dc_next: dL/d(gates) [B, 4H] (the o quarter is zero: o does not reach c_next) and
  // dL/dc (undefined when not needed or c is undefined).
  virtual void lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                        const Tensor& grad_c_next, const Tensor& gates,
                                        const Tensor& c) = 0;
  // From dL/dh: dL/d(o) [B, H] and dL/dc_next [B, H], o being the o quarter of the gates.
  virtual void lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                         const Tensor& grad_h, const Tensor& o,
                                         const Tensor& c_next) = 0;

};

Backend& backend(Device device);
// Called once by a non-CPU backend at start-up to make its device type usable.
void register_backend(DeviceType type, Backend* backend);

}  // namespace dg
