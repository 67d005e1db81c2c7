// Plain implementations of the kernel-table entries a backend may leave to the table, written with
// the backend's own basic kernels (matmul, fill). They are the readable reference of those
// entries: a new backend works without them, and tests compare each backend's override with them.
#include "engine/backend.h"

namespace dg {

namespace {

// Rows [first, first + rows) of a contiguous [M, C] matrix, seen as one batch entry [1, rows, C].
Tensor row_block(const Tensor& t, int64_t first, int64_t rows) {
  const int64_t C = t.shape()[1];
  return make_view(t, {1, rows, C}, {rows * C, C, 1}, t.offset() + first * C);
}

// Entry e of [E, R, C] (any strides), as [1, R, C].
Tensor entry(const Tensor& t, int64_t e) {
  return make_view(t, {1, t.shape()[1], t.shape()[2]}, {0, t.strides()[1], t.strides()[2]},
                   t.offset() + e * t.strides()[0]);
}

}  // namespace

void Backend::grouped_matmul(const Tensor& out, const Tensor& x, const Tensor& w,
                             const std::vector<int64_t>& group_sizes) {
  int64_t first = 0;
  for (size_t e = 0; e < group_sizes.size(); first += group_sizes[e], ++e) {
    if (group_sizes[e] == 0) continue;
    matmul(row_block(out, first, group_sizes[e]), row_block(x, first, group_sizes[e]),
           entry(w, static_cast<int64_t>(e)));
  }
}

void Backend::grouped_matmul_weight_grad(const Tensor& out, const Tensor& x, const Tensor& g,
                                         const std::vector<int64_t>& group_sizes) {
  const int64_t K = x.shape()[1];
  int64_t first = 0;
  for (size_t e = 0; e < group_sizes.size(); first += group_sizes[e], ++e) {
    const Tensor target = entry(out, static_cast<int64_t>(e));
    if (group_sizes[e] == 0) {
      fill(target, 0.0);
      continue;
    }
    // x[rows of e]^T: the block [m, K] read column-major as [K, m].
    const Tensor xt = make_view(x, {1, K, group_sizes[e]}, {0, 1, K}, x.offset() + first * K);
    matmul(target, xt, row_block(g, first, group_sizes[e]));
  }
}

}  // namespace dg
