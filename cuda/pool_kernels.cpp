// Host half of the CUDA pooling kernels (beside engine/cpu/pool_kernels.cpp): the windows of every
// output row and column, computed here by Backend::Pool2dGeometry itself (so the GPU uses the
// table's own window rule, not a copy of it) and uploaded as a small device table, then the
// launches of pool.cu.
#include <vector>

#include "cuda/check.h"
#include "cuda/cuda_backend.h"

namespace dg::cuda {
namespace {

PoolShape pool_shape(const Backend::Pool2dGeometry& g) {
  return {g.planes, g.in_h, g.in_w, g.out_h, g.out_w, g.adaptive ? 0 : g.kernel_h * g.kernel_w};
}

// row_begin, row_end (out_h each), col_begin, col_end (out_w each), on the device.
Tensor window_table(CudaBackend& b, const Backend::Pool2dGeometry& g) {
  std::vector<int64_t> table;
  table.reserve(static_cast<size_t>(2 * (g.out_h + g.out_w)));
  for (int64_t oh = 0; oh < g.out_h; ++oh) table.push_back(g.row_begin(oh));
  for (int64_t oh = 0; oh < g.out_h; ++oh) table.push_back(g.row_end(oh));
  for (int64_t ow = 0; ow < g.out_w; ++ow) table.push_back(g.col_begin(ow));
  for (int64_t ow = 0; ow < g.out_w; ++ow) table.push_back(g.col_end(ow));
  Tensor device = Tensor::empty({static_cast<int64_t>(table.size())}, DType::i64, Device::cuda(),
                                "pool2d windows");
  b.copy_from_host(device.raw_data(), table.data(), table.size() * sizeof(int64_t));
  return device;
}

void check_floating(const Tensor& x, const char* entry) {
  check(is_floating(x.dtype()), "{}: expected a floating dtype (f32 or f64), got {}", entry,
        x.dtype());
}

}  // namespace

void CudaBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                             const Pool2dGeometry& g) {
  check_floating(input, "max_pool2d");
  const Tensor windows = window_table(*this, g);
  DG_CUDA_CHECK(launch_max_pool2d(stream(), elem(input.dtype()), ptr(out),
                                  static_cast<int64_t*>(ptr(indices)), ptr(input),
                                  windows.data<int64_t>(), pool_shape(g)));
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                      const Tensor& indices, const Pool2dGeometry& g) {
  check_floating(grad_input, "max_pool2d_backward");
  DG_CUDA_CHECK(launch_max_pool2d_backward(stream(), elem(grad_input.dtype()), ptr(grad_input),
                                           ptr(grad_out), indices.data<int64_t>(),
                                           pool_shape(g)));
}

void CudaBackend::avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) {
  check_floating(input, "avg_pool2d");
  const Tensor windows = window_table(*this, g);
  DG_CUDA_CHECK(launch_avg_pool2d(stream(), elem(input.dtype()), ptr(out), ptr(input),
                                  windows.data<int64_t>(), pool_shape(g)));
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                      const Pool2dGeometry& g) {
  check_floating(grad_input, "avg_pool2d_backward");
  const Tensor windows = window_table(*this, g);
  DG_CUDA_CHECK(launch_avg_pool2d_backward(stream(), elem(grad_input.dtype()), ptr(grad_input),
                                           ptr(grad_out), windows.data<int64_t>(),
                                           pool_shape(g)));
}

}  // namespace dg::cuda
