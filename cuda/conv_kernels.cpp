// CUDA convolution (beside engine/cpu/conv_kernels.cpp), by im2col and cuBLAS: the input patches
// are laid out as columns [N, C * kh * kw, out_h * out_w] (conv.cu), and then, per group g,
//   forward:       out[n, g]    = W_g [OCg, Kg] @ columns[n, g] [Kg, P]   (+ bias)
//   weight grad:   dW_g         = sum_n grad_out[n, g] [OCg, P] @ columns[n, g]^T [P, Kg]
//   input grad:    dcolumns[n, g] = W_g^T [Kg, OCg] @ grad_out[n, g] [OCg, P], then col2im
// each product one batched GEMM over the samples (this backend's matmul: the weight with batch
// stride 0, the transposes as column-major views). Groups and dilation are in the column layout.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"

namespace dg::cuda {
namespace {

ConvShape conv_shape(const Backend::Conv2dGeometry& g) {
  ConvShape s;
  s.batch = g.batch;
  s.channels = g.in_channels;
  s.in_h = g.in_h;
  s.in_w = g.in_w;
  s.out_h = g.out_h;
  s.out_w = g.out_w;
  s.kernel_h = g.kernel_h;
  s.kernel_w = g.kernel_w;
  s.stride_h = g.stride_h;
  s.stride_w = g.stride_w;
  s.pad_h = g.pad_h;
  s.pad_w = g.pad_w;
  s.dilation_h = g.dilation_h;
  s.dilation_w = g.dilation_w;
  return s;
}

// The sizes of one group's products.
struct GroupSizes {
  int64_t N, OC, OCg, Kg, CK, P;
  explicit GroupSizes(const Backend::Conv2dGeometry& g)
      : N(g.batch),
        OC(g.out_channels),
        OCg(g.out_channels / g.groups),
        Kg(g.in_channels / g.groups * g.kernel_h * g.kernel_w),
        CK(g.in_channels * g.kernel_h * g.kernel_w),
        P(g.out_h * g.out_w) {}
};

void check_floating(const Tensor& x, const char* entry) {
  check(is_floating(x.dtype()), "{}: expected a floating dtype (f32 or f64), got {}", entry,
        x.dtype());
}

}  // namespace

void CudaBackend::conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                         const Tensor& bias, const Conv2dGeometry& g) {
  check_floating(input, "conv2d");
  const GroupSizes z(g);
  if (out.numel() == 0) return;
  const Tensor columns = Tensor::empty({z.N, z.CK, z.P}, input.dtype(), input.device(), "conv2d");
  DG_CUDA_CHECK(launch_im2col(stream(), elem(input.dtype()), ptr(columns), ptr(input),
                              conv_shape(g)));
  for (int64_t gi = 0; gi < g.groups; ++gi) {
    const Tensor w = make_view(weight, {z.N, z.OCg, z.Kg}, {0, z.Kg, 1},
                               weight.offset() + gi * z.OCg * z.Kg);
    const Tensor cols = make_view(columns, {z.N, z.Kg, z.P}, {z.CK * z.P, z.P, 1},
                                  columns.offset() + gi * z.Kg * z.P);
    const Tensor o = make_view(out, {z.N, z.OCg, z.P}, {z.OC * z.P, z.P, 1},
                               out.offset() + gi * z.OCg * z.P);
    matmul(o, w, cols);
  }
  if (bias.defined()) {
    const Tensor all = make_view(out, {z.N, z.OC, z.P}, {z.OC * z.P, z.P, 1}, out.offset());
    const Tensor b = make_view(bias, {z.N, z.OC, z.P}, {0, 1, 0}, bias.offset());
    binary(BinaryOp::add, all, all, b);
  }
}

void CudaBackend::conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out,
                                    const Tensor& weight, const Conv2dGeometry& g) {
  check_floating(grad_out, "conv2d_input_grad");
  const GroupSizes z(g);
  if (grad_input.numel() == 0) return;
  const Tensor columns =
      Tensor::empty({z.N, z.CK, z.P}, grad_out.dtype(), grad_out.device(), "conv2d_input_grad");
  for (int64_t gi = 0; gi < g.groups; ++gi) {
    const Tensor wt = make_view(weight, {z.N, z.Kg, z.OCg}, {0, 1, z.Kg},
                                weight.offset() + gi * z.OCg * z.Kg);
    const Tensor go = make_view(grad_out, {z.N, z.OCg, z.P}, {z.OC * z.P, z.P, 1},
                                grad_out.offset() + gi * z.OCg * z.P);
    const Tensor cols = make_view(columns, {z.N, z.Kg, z.P}, {z.CK * z.P, z.P, 1},
                                  columns.offset() + gi * z.Kg * z.P);
    matmul(cols, wt, go);
  }
  DG_CUDA_CHECK(launch_col2im(stream(), elem(grad_out.dtype()), ptr(grad_input), ptr(columns),
                              conv_shape(g)));
}

void CudaBackend::conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                                     const Tensor& input, const Conv2dGeometry& g) {
  check_floating(input, "conv2d_weight_grad");
  const GroupSizes z(g);
  if (grad_weight.numel() == 0) return;
  if (z.N == 0 || z.P == 0) return fill(grad_weight, 0.0);
  const Tensor columns =
      Tensor::empty({z.N, z.CK, z.P}, input.dtype(), input.device(), "conv2d_weight_grad");
  DG_CUDA_CHECK(launch_im2col(stream(), elem(input.dtype()), ptr(columns), ptr(input),
                              conv_shape(g)));
  // Per sample, then summed over the samples.
  const Tensor per_sample =
      Tensor::empty({z.N, z.OCg, z.Kg}, input.dtype(), input.device(), "conv2d_weight_grad");
  for (int64_t gi = 0; gi < g.groups; ++gi) {
    const Tensor go = make_view(grad_out, {z.N, z.OCg, z.P}, {z.OC * z.P, z.P, 1},
                                grad_out.offset() + gi * z.OCg * z.P);
    const Tensor cols_t = make_view(columns, {z.N, z.P, z.Kg}, {z.CK * z.P, 1, z.P},
                                    columns.offset() + gi * z.Kg * z.P);
    matmul(per_sample, go, cols_t);
    const Tensor gw = make_view(grad_weight, {1, z.OCg, z.Kg}, {z.OC * z.Kg, z.Kg, 1},
                                grad_weight.offset() + gi * z.OCg * z.Kg);
    reduce(ReduceOp::sum, gw, per_sample);
  }
}

}  // namespace dg::cuda
