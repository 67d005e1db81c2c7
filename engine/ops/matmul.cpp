// Matrix products: matmul with NumPy semantics, bmm and outer. matmul promotes a 1-D operand to a
// matrix ([K] -> [1,K] on the left, [K,1] on the right), broadcasts the batch dims, runs one
// batched GEMM kernel on [B,M,K] @ [B,K,N] views, and removes the promoted dims from the result.
// Its backward is the textbook pair grad_a = grad @ b^T and grad_b = a^T @ grad, written with
// matmul itself on transposed views, so it runs on any backend and can be differentiated again;
// gradients of broadcast batch dims come back in the broadcast shape and the autograd engine sums
// them down (sum_to), the one place where broadcasting is undone.
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

Shape batch_dims(const Shape& s) {
  Shape batch = s;
  batch.resize(s.size() - 2);
  return batch;
}

Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

// A 1-D tensor [n] viewed as the matrix [rows, cols] (one of them 1): no copy, no autograd record.
Tensor vector_as_matrix(const Tensor& v, int64_t rows, int64_t cols) {
  const int64_t s = v.strides()[0];
  const Shape strides = rows == 1 ? Shape{cols * s, s} : Shape{s, 1};
  return make_view(v, {rows, cols}, strides, v.offset());
}

// The two operands as matrices (1-D promoted), checked, with the shapes of the product.
struct MatmulPlan {
  Tensor a, b;         // the operands with >= 2 dims (1-D promoted; views, no copies)
  Shape batch;         // the broadcast batch dims
  int64_t M, K, N;
  Shape out_promoted;  // batch + [M, N]
  Shape out;           // out_promoted without the dims added by promotion
};

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b, std::string_view op) {
  detail::check_defined(a, op);
  detail::check_defined(b, op);
  check(a.dim() >= 1 && b.dim() >= 1,
        "{}: {} @ {}: both operands need at least 1 dim (use mul for a 0-dim scalar)", op,
        a.shape(), b.shape());
  detail::check_same(a, b, op);
  check(is_floating(a.dtype()),
        "{}: {} {} @ {} {}: only f32 and f64 are supported (integer and bool matmul are not; "
        "convert with .to(DType::f32))",
        op, a.dtype(), a.shape(), b.dtype(), b.shape());
  const int64_t a_inner = a.shape().back();
  const int64_t b_inner = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  check(a_inner == b_inner, "{}: {} @ {}: inner dimensions {} and {} differ", op, a.shape(),
        b.shape(), a_inner, b_inner);

  MatmulPlan p;
  p.a = a.dim() == 1 ? vector_as_matrix(a, 1, a.shape()[0]) : a;
  p.b = b.dim() == 1 ? vector_as_matrix(b, b.shape()[0], 1) : b;
  const Shape a_batch = batch_dims(p.a.shape()), b_batch = batch_dims(p.b.shape());
  // The batch dims broadcast like NumPy's; the message names the operands, not just the batches.
  const int n = std::max(a_batch.size(), b_batch.size());
  p.batch = Shape::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    const int ia = i - (n - a_batch.size()), ib = i - (n - b_batch.size());
    const int64_t sa = ia >= 0 ? a_batch[ia] : 1, sb = ib >= 0 ? b_batch[ib] : 1;
    check(sa == sb || sa == 1 || sb == 1,
          "{}: {} @ {}: batch dimensions {} and {} do not broadcast", op, a.shape(), b.shape(),
          a_batch, b_batch);
    p.batch[i] = sa == 1 ? sb : sa;
  }
  p.M = p.a.shape()[p.a.dim() - 2];
  p.K = a_inner;
  p.N = p.b.shape().back();
  p.out_promoted = with_matrix(p.batch, p.M, p.N);
  p.out = p.batch;
  if (a.dim() > 1) p.out.push_back(p.M);
  if (b.dim() > 1) p.out.push_back(p.N);
  return p;
}

// `t` ([..., rows, cols]) broadcast to batch + [rows, cols] and flattened to [B, rows, cols]: a view
// whenever the batch dims collapse into one stride (always for a broadcast-only or contiguous
// batch), a contiguous copy otherwise. The inner matrix keeps its strides (row- or column-major).
Tensor as_batched_matrices(const Tensor& t, const Shape& batch) {
  const int64_t rows = t.shape()[t.dim() - 2], cols = t.shape().back();
  const Tensor expanded = detail::broadcast_view(t, with_matrix(batch, rows, cols));
  int64_t batch_stride = 0;
  bool collapses = true;
  int64_t inner_count = 1;  // product of the batch sizes after the dim being looked at
  for (int d = batch.size() - 1; d >= 0; --d) {
    if (batch[d] == 1) continue;
    const int64_t stride = expanded.strides()[d];
    if (inner_count == 1) {
      batch_stride = stride;
    } else if (stride != batch_stride * inner_count) {
      collapses = false;
      break;
    }
    inner_count *= batch[d];
  }
  const Shape shape{numel(batch), rows, cols};
  if (collapses) {
    const Shape strides{batch_stride, expanded.strides()[batch.size()],
                        expanded.strides()[batch.size() + 1]};
    return make_view(expanded, shape, strides, expanded.offset());
  }
  Tensor copy = Tensor::empty(shape, t.dtype(), t.device());
  backend(t.device()).copy(make_view(copy, expanded.shape(), contiguous_strides(expanded.shape()), 0),
                           expanded);
  return copy;
}

// The forward computation on a plan, without autograd.
Tensor run_matmul(const MatmulPlan& p) {
  const Tensor a3 = as_batched_matrices(p.a, p.batch);
  const Tensor b3 = as_batched_matrices(p.b, p.batch);
  const int64_t B = numel(p.batch);
  Tensor out3 = Tensor::empty({B, p.M, p.N}, p.a.dtype(), p.a.device(), "matmul");
  backend(out3.device()).matmul(out3, a3, b3);
  flops::add(B * p.M * p.N * p.K);
  return make_view(out3, p.out, contiguous_strides(p.out), 0);
}

Tensor transpose_last(const Tensor& t) { return transpose(t, -1, -2); }

// matmul and bmm: the forward, and the one backward formula both record.
Tensor matmul_impl(const Tensor& a, const Tensor& b, std::string_view op) {
  const MatmulPlan p = plan_matmul(a, b, op);
  Tensor out = run_matmul(p);
  if (needs_grad(a, b)) {
    const bool a_vector = a.dim() == 1, b_vector = b.dim() == 1;
    const Shape out_promoted = p.out_promoted;
    record(OpId::matmul, out, {a, b}, {a, b},
           [a_vector, b_vector, out_promoted](const BackwardArgs& x) -> Grads {
      // Work on the promoted (>= 2-D) forms; reshape records autograd, so this stays
      // differentiable for second-order gradients.
      const Tensor a = a_vector ? unsqueeze(x.saved[0], 0) : x.saved[0];
      const Tensor b = b_vector ? unsqueeze(x.saved[1], 1) : x.saved[1];
      const Tensor g = reshape(x.grad, out_promoted);
      Tensor grad_a, grad_b;
      // Shapes broadcast to the inputs' shapes; the engine sums the batch dims down. A promoted
      // left vector's gradient is [..., 1, K], which sums to [K] the same way.
      if (x.needs(0)) grad_a = matmul(g, transpose_last(b));
      if (x.needs(1)) {
        if (b.dim() == 2 && a.dim() > 2) {
          // A batched a times one matrix b (a linear layer on [batch, T, K] input): fold the
          // batch into the rows, so dL/db is one [K, B*T] @ [B*T, N] GEMM instead of a batch of
          // GEMMs followed by a sum over the batch.
          const int64_t K = a.shape().back(), N = g.shape().back();
          grad_b = matmul(transpose_last(reshape(a, {-1, K})), reshape(g, {-1, N}));
        } else {
          grad_b = matmul(transpose_last(a), g);
        }
        // A promoted right vector's gradient is [..., K, 1]: drop the 1 so it sums down to [K].
        if (b_vector) grad_b = squeeze(grad_b, -1);
      }
      return {grad_a, grad_b};
    });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return matmul_impl(a, b, "matmul"); }

Tensor bmm(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "bmm");
  detail::check_defined(b, "bmm");
  check(a.dim() == 3 && b.dim() == 3, "bmm: {} @ {}: expected two 3-D tensors [B,M,K] and [B,K,N]",
        a.shape(), b.shape());
  check(a.shape()[0] == b.shape()[0],
        "bmm: {} @ {}: batch sizes {} and {} differ (bmm does not broadcast; use matmul)",
        a.shape(), b.shape(), a.shape()[0], b.shape()[0]);
  return matmul_impl(a, b, "bmm");
}

Tensor outer(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "outer");
  detail::check_defined(b, "outer");
  check(a.dim() == 1 && b.dim() == 1, "outer: {} and {}: expected two 1-D tensors", a.shape(),
        b.shape());
  // The textbook definition: a column times a row, a GEMM with inner dimension 1.
  return matmul_impl(unsqueeze(a, 1), unsqueeze(b, 0), "outer");
}

}  // namespace dg
