// The CUDA backend: the Backend table (engine/backend.h) on NVIDIA GPUs, for device cuda:0.
// It registers itself for DeviceType::cuda (engine/backend.cpp asks for it the first time a cuda
// tensor is made, so a build with the backend linked in but no GPU present starts normally and
// only fails, with a dg::Error naming the CUDA call, when a cuda tensor is actually created).
//
// How it is split: nvcc does not parse the engine's host headers (fmt's compile-time format
// strings are beyond its front end), so each kernel family has a host half and a device half. The
// host half, a .cpp beside each engine/cpu/ file (elementwise_kernels.cpp, reduce_kernels.cpp,
// matmul_kernels.cpp, index_kernels.cpp, conv_kernels.cpp, pool_kernels.cpp, softmax_kernels.cpp,
// norm_kernels.cpp, recurrent_kernels.cpp), holds the CudaBackend methods: it checks dtypes, turns
// Tensors into raw pointers and the index structs of indexing.h, and calls a launch function
// (kernels.h). The device half, a .cu of the same family (elementwise.cu, reduce.cu, index.cu,
// conv.cu, pool.cu, softmax.cu, norm.cu, recurrent.cu), holds the kernels, thin loops around the
// per-element math of engine/scalar_math.h that the CPU backend shares. Matrix products go to
// cuBLAS.
//
// Every kernel runs on one stream per device (so a freed buffer can be reused by the next kernel
// without waiting, see allocator.h); copies to the host wait for that stream. Every required entry
// of the table has a CUDA kernel; the optional fast paths keep the table's defaults (they decline
// and the op layer composes). None of this has run on a GPU yet.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/kernels.h"
#include "engine/backend.h"

namespace dg::cuda {

// The number of CUDA devices the runtime sees; 0 (never an error) where there is no driver or
// no GPU. Tests use it to skip.
int device_count();

// The backend's single instance (made on first use; registering it touches no GPU).
Backend* cuda_backend();

class CudaBackend final : public Backend {
 public:
  // The device's stream and cuBLAS handle, created on first use.
  cudaStream_t stream();
  cublasHandle_t blas();

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  // ---- elementwise, copies and the Adam step (elementwise_kernels.cpp, elementwise.cu) ----
  void fill(const Tensor& out, double value) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, const AdamStep& step) override;
  // ---- reductions (reduce_kernels.cpp, reduce.cu) ----
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in) override;
  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                  int dim) override;
  void cumsum(const Tensor& out, const Tensor& in, int dim) override;
  // ---- matrix products through cuBLAS (matmul_kernels.cpp) ----
  // grouped_matmul and grouped_matmul_weight_grad keep the table's defaults (one matmul per
  // group, engine/backend_defaults.cpp); inference_linear and inference_attention decline.
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) override;
  // ---- indexing, top-k and sort (index_kernels.cpp, index.cu) ----
  void index_select(const Tensor& out, const Tensor& in, int dim, const Tensor& index) override;
  void gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) override;
  void scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
               bool accumulate) override;
  void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim,
            bool largest, bool sorted) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
            bool descending) override;
  // ---- convolution by im2col and cuBLAS (conv_kernels.cpp, conv.cu; kernel_mixture_conv2d keeps
  // the table's default: it declines and the op composes it) and pooling (pool_kernels.cpp,
  // pool.cu) ----
  void conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dGeometry& g) override;
  void conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                         const Conv2dGeometry& g) override;
  void conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& input,
                          const Conv2dGeometry& g) override;
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                  const Pool2dGeometry& g) override;
  void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices,
                           const Pool2dGeometry& g) override;
  void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) override;
  void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                           const Pool2dGeometry& g) override;
  // ---- softmax and losses (softmax_kernels.cpp, softmax.cu) ----
  void softmax(const Tensor& out, const Tensor& in, int dim, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int dim,
                        bool log) override;
  void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                     const CrossEntropyTarget& spec) override;
  void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss,
                              const Tensor& logits, const Tensor& lse,
                              const CrossEntropyTarget& spec) override;
  // ---- the fused LSTM cell (recurrent_kernels.cpp, recurrent.cu) ----
  void lstm_cell(const Tensor& h, const Tensor& c_next, const Tensor& gates,
                 const Tensor& c) override;
  void lstm_cell_state_backward(const Tensor& grad_gates, const Tensor& grad_c,
                                const Tensor& grad_c_next, const Tensor& gates,
                                const Tensor& c) override;
  void lstm_cell_output_backward(const Tensor& grad_o, const Tensor& grad_c_next,
                                 const Tensor& grad_h, const Tensor& o,
                                 const Tensor& c_next) override;
  // ---- normalisation (norm_kernels.cpp, norm.cu) ----
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

 private:
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
};

// The element type code of a dtype (kernels.h).
Elem elem(DType dtype);
// Raw pointer to t's first element, or null for an undefined tensor.
void* ptr(const Tensor& t);

}  // namespace dg::cuda
