// Grouped matmul: the per-destination products of routed rows (mixture-of-experts experts, any
// block of dynamic/routing.h) in one call. x [M, K] holds consecutive groups of rows, group e
// multiplied by its own w[e] ([E, K, N]). The sizes are host integers (the routing plan decided
// them), so an empty group is simply absent from the kernel's task list.
//
// Backward, written with these two ops so it runs on any backend and can be differentiated again:
//   dL/dx[rows of e] = g[rows of e] @ w[e]^T        = grouped_matmul(g, w^T)
//   dL/dw[e]         = x[rows of e]^T @ g[rows of e] = grouped_matmul_weight_grad(x, g)
// and for the weight gradient's own backward (H the incoming gradient, [E, K, N]):
//   d/dx = grouped_matmul(g, H^T),  d/dg = grouped_matmul(x, H).
// FLOPs counted: M * K * N multiply-adds (the routed rows only).
#include <limits>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

// Group sizes are non-negative and sum to the row count; every size fits BLAS's 32-bit ints.
void check_groups(const std::vector<int64_t>& group_sizes, int64_t rows, int64_t groups,
                  std::string_view op, const Shape& x_shape) {
  check(static_cast<int64_t>(group_sizes.size()) == groups,
        "{}: {} group sizes given for {} groups (x {})", op, group_sizes.size(), groups, x_shape);
  int64_t total = 0;
  for (size_t e = 0; e < group_sizes.size(); ++e) {
    check(group_sizes[e] >= 0, "{}: group {} has negative size {}", op, e, group_sizes[e]);
    total += group_sizes[e];
  }
  check(total == rows, "{}: group sizes sum to {} but x {} has {} rows", op, total, x_shape, rows);
}

void check_blas_size(std::initializer_list<int64_t> sizes, std::string_view op) {
  for (int64_t s : sizes)
    check(s <= std::numeric_limits<int>::max(), "{}: dimension {} exceeds BLAS's 32-bit limit", op, s);
}

// w with inner matrices BLAS can read in place (row- or column-major), copied otherwise.
Tensor blas_readable(const Tensor& w) {
  const int64_t K = w.shape()[1], N = w.shape()[2];
  const bool row_major = N == 1 || (w.strides()[2] == 1 && w.strides()[1] >= N);
  const bool col_major = K == 1 || (w.strides()[1] == 1 && w.strides()[2] >= K);
  if (row_major || col_major) return w;
  Tensor copy = Tensor::empty(w.shape(), w.dtype(), w.device());
  backend(w.device()).copy(copy, w);
  return copy;
}

Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor copy = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend(t.device()).copy(copy, t);
  return copy;
}

Tensor transposed_weights(const Tensor& w) { return transpose(w, 1, 2); }

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_sizes) {
  constexpr std::string_view op = "grouped_matmul";
  detail::check_same(x, w, op);
  detail::check_floating(x, op);
  check(x.dim() == 2 && w.dim() == 3, "{}: x {} and w {}: expected x [M, K] and w [E, K, N]", op,
        x.shape(), w.shape());
  check(x.shape()[1] == w.shape()[1], "{}: x {} and w {}: inner dimensions {} and {} differ", op,
        x.shape(), w.shape(), x.shape()[1], w.shape()[1]);
  check_groups(group_sizes, x.shape()[0], w.shape()[0], op, x.shape());
  const int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[2];
  check_blas_size({M, K, N}, op);

  Tensor out = Tensor::empty({M, N}, x.dtype(), x.device());
  backend(x.device()).grouped_matmul(out, dense(x), blas_readable(w), group_sizes);
  flops::add(M * K * N);
  if (needs_grad(x, w)) {
    record(OpId::grouped_matmul, out, {x, w}, {x, w}, [group_sizes](const BackwardArgs& a) -> Grads {
      Tensor grad_x, grad_w;
      if (a.needs(0)) grad_x = grouped_matmul(a.grad, transposed_weights(a.saved[1]), group_sizes);
      if (a.needs(1)) grad_w = grouped_matmul_weight_grad(a.saved[0], a.grad, group_sizes);
      return {grad_x, grad_w};
    });
  }
  return out;
}

Tensor grouped_matmul_weight_grad(const Tensor& x, const Tensor& g,
                                  const std::vector<int64_t>& group_sizes) {
  constexpr std::string_view op = "grouped_matmul_weight_grad";
  detail::check_same(x, g, op);
  detail::check_floating(x, op);
  check(x.dim() == 2 && g.dim() == 2 && x.shape()[0] == g.shape()[0],
        "{}: x {} and g {}: expected x [M, K] and g [M, N] with the same rows", op, x.shape(),
        g.shape());
  const int64_t E = static_cast<int64_t>(group_sizes.size());
  check_groups(group_sizes, x.shape()[0], E, op, x.shape());
  const int64_t M = x.shape()[0], K = x.shape()[1], N = g.shape()[1];
  check_blas_size({M, K, N}, op);

  Tensor out = Tensor::empty({E, K, N}, x.dtype(), x.device());
  backend(x.device()).grouped_matmul_weight_grad(out, dense(x), dense(g), group_sizes);
  flops::add(M * K * N);
  if (needs_grad(x, g)) {
    record(OpId::grouped_matmul_weight_grad, out, {x, g}, {x, g},
           [group_sizes](const BackwardArgs& a) -> Grads {
             Tensor grad_x, grad_g;
             if (a.needs(0)) grad_x = grouped_matmul(a.saved[1], transposed_weights(a.grad), group_sizes);
             if (a.needs(1)) grad_g = grouped_matmul(a.saved[0], a.grad, group_sizes);
             return {grad_x, grad_g};
           });
  }
  return out;
}

}  // namespace dg
