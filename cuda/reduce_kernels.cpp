// Host half of the CUDA reductions (beside engine/cpu/reduce_kernels.cpp): splits the input's dims
// into the lines the kernels of reduce.cu walk (layout.h) and launches them.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/layout.h"

namespace dg::cuda {

void CudaBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  check(in.dtype() != DType::b8, "reduce: bool tensors must be converted before reducing");
  if (out.numel() == 0) return;
  bool reduced[Shape::kMaxDims] = {};
  for (int d = 0; d < in.dim(); ++d) reduced[d] = out.shape()[d] == 1 && in.shape()[d] != 1;
  DG_CUDA_CHECK(launch_reduce(stream(), op, elem(in.dtype()), ptr(out), ptr(in),
                              line_index<2>(in.shape(), reduced, {&out, &in})));
}

void CudaBackend::arg_reduce(bool is_max, const Tensor& values, const Tensor& indices,
                             const Tensor& in, int dim) {
  check(in.dtype() != DType::b8, "arg_reduce: bool tensors must be converted before reducing");
  if (values.numel() == 0) return;
  DG_CUDA_CHECK(launch_arg_reduce(stream(), is_max, elem(in.dtype()), ptr(values),
                                  indices.data<int64_t>(), ptr(in),
                                  line_index<3>(in.shape(), dim, {&values, &indices, &in})));
}

void CudaBackend::cumsum(const Tensor& out, const Tensor& in, int dim) {
  check(in.dtype() != DType::b8, "cumsum: bool tensors must be converted before summing");
  DG_CUDA_CHECK(launch_cumsum(stream(), elem(in.dtype()), ptr(out), ptr(in),
                              line_index<2>(in.shape(), dim, {&out, &in})));
}

}  // namespace dg::cuda
