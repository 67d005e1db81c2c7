// The reference backend: every kernel of the Backend table (engine/backend.h) written the way a
// textbook states it, with plain loops over one element at a time. No threads, no intrinsics, no
// BLAS, no blocking: each kernel is the definition of what it computes, so a reader can learn an
// operation here and the backend registry (tests/engine/test_backend_registry.cpp) can check every
// fast backend against it. Floating results accumulate in double and are rounded once at the end.
// It works on host memory, so its tensors are CPU tensors; the files mirror engine/cpu/:
// elementwise.cpp, reduce.cpp, matmul.cpp, attention.cpp, index.cpp, conv.cpp, pool.cpp,
// softmax.cpp, norm.cpp, recurrent.cpp.
#pragma once

#include "engine/backend.h"

namespace dg::reference {

class ReferenceBackend final : public Backend {
 public:
  // ---- memory (elementwise.cpp) ----
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;

  // ---- elementwise (elementwise.cpp) ----
  void fill(const Tensor& out, double value) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, const AdamStep& step) override;

  // ---- reductions (reduce.cpp) ----
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in) override;
  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                  int dim) override;
  void cumsum(const Tensor& out, const Tensor& in, int dim) override;

  // ---- products (matmul.cpp, attention.cpp) ----
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) override;
  Tensor inference_linear(const Tensor& rows, const Tensor& weight, const Tensor& bias, bool relu,
                          const Tensor& residual) override;
  Tensor inference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                             const Tensor& masked, const Tensor& additive, double scale) override;

  // ---- indexing (index.cpp) ----
  void index_select(const Tensor& out, const Tensor& in, int dim, const Tensor& index) override;
  void gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) override;
  void scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
               bool accumulate) override;
  void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim,
            bool largest, bool sorted) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
            bool descending) override;

  // ---- convolution (conv.cpp) ----
  void conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dGeometry& g) override;
  void conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                         const Conv2dGeometry& g) override;
  void conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& input,
                          const Conv2dGeometry& g) override;
  bool kernel_mixture_conv2d(const Tensor& out, const Tensor& input, const Tensor& mixing,
                             const Tensor& factors, const Tensor& biases, const Tensor& base_kernel,
                             const Tensor& positions, const Conv2dGeometry& g) override;

  // ---- pooling (pool.cpp) ----
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                  const Pool2dGeometry& g) override;
  void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices,
                           const Pool2dGeometry& g) override;
  void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) override;
  void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                           const Pool2dGeometry& g) override;

  // ---- softmax and losses (softmax.cpp) ----
  void softmax(const Tensor& out, const Tensor& in, int dim, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int dim,
                        bool log) override;
  void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                     const CrossEntropyTarget& spec) override;
  void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                              const Tensor& logits, const Tensor& lse,
                              const CrossEntropyTarget& spec) override;

  // ---- normalisation (norm.cpp) ----
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                  const Tensor& weight, const Tensor& bias, double eps) override;
  void layer_norm_backward(const Tensor& grad_input, const Tensor& grad_weight,
                           const Tensor& grad_bias, const Tensor& grad_out, const Tensor& x,
                           const Tensor& mean, const Tensor& rstd, const Tensor& weight) override;
  void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& x) override;
  void channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift,
                      const Tensor& y, const Tensor& y_scale) override;
  void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu,
                                  const Tensor& grad_out, const Tensor& x,
                                  const Tensor& mean) override;

  // ---- recurrent cells (recurrent.cpp) ----
  void lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                 const Tensor& c) override;
  void lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                const Tensor& grad_c_next, const Tensor& gates,
                                const Tensor& c) override;
  void lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                 const Tensor& grad_h, const Tensor& o,
                                 const Tensor& c_next) override;
};

// The one instance (it holds no state).
ReferenceBackend& reference_backend();

}  // namespace dg::reference
