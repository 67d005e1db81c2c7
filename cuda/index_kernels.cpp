// Host half of the CUDA indexing kernels (beside engine/cpu/index_kernels.cpp): the lines along
// `dim` that index.cu walks, with the indexed operand seen through a view of the walked shape
// whose stride at `dim` is 0 (its position along `dim` comes from the index instead); topk and
// sort with a scratch buffer for each line's order.
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/layout.h"

namespace dg::cuda {
namespace {

// t seen with `shape` (t's own strides, 0 at dim): the element a line's position j reaches before
// the index picks the position along dim.
Tensor along_shape(const Tensor& t, const Shape& shape, int dim) {
  Shape strides = shape;
  for (int d = 0; d < shape.size(); ++d) strides[d] = d == dim ? 0 : t.strides()[d];
  return make_view(t, shape, strides, t.offset());
}

}  // namespace

void CudaBackend::index_select(const Tensor& out, const Tensor& in, int dim, const Tensor& index) {
  if (out.numel() == 0) return;
  const Tensor in_view = along_shape(in, out.shape(), dim);
  DG_CUDA_CHECK(launch_index_select(stream(), elem(out.dtype()), ptr(out), ptr(in),
                                    in.strides()[dim], index.data<int64_t>(), index.strides()[0],
                                    line_index<2>(out.shape(), dim, {&out, &in_view})));
}

void CudaBackend::gather(const Tensor& out, const Tensor& in, int dim, const Tensor& index) {
  if (out.numel() == 0) return;
  const Tensor in_view = along_shape(in, out.shape(), dim);
  DG_CUDA_CHECK(launch_gather(stream(), elem(out.dtype()), ptr(out), index.data<int64_t>(),
                              ptr(in), in.strides()[dim],
                              line_index<3>(out.shape(), dim, {&out, &index, &in_view})));
}

void CudaBackend::scatter(const Tensor& out, int dim, const Tensor& index, const Tensor& src,
                          bool accumulate) {
  check(!(accumulate && out.dtype() == DType::b8), "scatter_add: not defined for bool tensors");
  if (index.numel() == 0) return;
  const Tensor src_view = make_view(src, index.shape(), src.strides(), src.offset());
  const Tensor out_view = along_shape(out, index.shape(), dim);
  DG_CUDA_CHECK(launch_scatter(stream(), elem(out.dtype()), index.data<int64_t>(), ptr(src),
                               ptr(out), out.strides()[dim], accumulate,
                               line_index<3>(index.shape(), dim, {&index, &src_view, &out_view})));
}

void CudaBackend::index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) {
  check(out.dtype() != DType::b8, "index_add: not defined for bool tensors");
  if (src.numel() == 0) return;
  const Tensor out_view = along_shape(out, src.shape(), dim);
  DG_CUDA_CHECK(launch_index_add(stream(), elem(out.dtype()), ptr(src), ptr(out),
                                 out.strides()[dim], index.data<int64_t>(), index.strides()[0],
                                 line_index<2>(src.shape(), dim, {&src, &out_view})));
}

namespace {

void ordered_rows(CudaBackend& b, const Tensor& values, const Tensor& indices, const Tensor& in,
                  int dim, int64_t count, bool larger_first, const char* entry) {
  check(in.dtype() != DType::b8, "{}: not defined for bool tensors", entry);
  if (values.numel() == 0) return;
  const LineIndex<3> lines = line_index<3>(in.shape(), dim, {&values, &indices, &in});
  const Tensor scratch = Tensor::empty({lines.lines * lines.length}, DType::i64, Device::cuda(),
                                       entry);
  DG_CUDA_CHECK(launch_ordered_rows(b.stream(), elem(in.dtype()), ptr(values),
                                    values.strides()[dim], indices.data<int64_t>(),
                                    indices.strides()[dim], ptr(in), count, larger_first,
                                    scratch.data<int64_t>(), lines));
}

}  // namespace

// sorted = false may list the k in any order; these are always in order.
void CudaBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                       int dim, bool largest, bool /*sorted*/) {
  ordered_rows(*this, values, indices, in, dim, k, largest, "topk");
}

void CudaBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int dim,
                       bool descending) {
  ordered_rows(*this, values, indices, in, dim, in.shape()[dim], descending, "sort");
}

}  // namespace dg::cuda
