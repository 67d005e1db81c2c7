// The indexing ops: index_select, gather, scatter, scatter_add, index_add, index_copy, masked_fill,
// one_hot,
// topk, sort and argsort, with PyTorch's semantics. Every index tensor is validated here, before a
// kernel touches memory: it must be i64, have the rank the op expects, fit the tensors it
// addresses, and hold only values in [0, size) (a negative index is an error, not a wrap-around).
// The backward formulas are the ops' transposes, written with these same ops so that they run on
// any backend and can be differentiated again: gather <-> scatter_add, index_select <->
// index_add, and topk/sort send each value's gradient back to the index it came from.
// FLOPs counted: the adds of scatter_add and index_add, one per element for masked_fill (as for
// where), one per input element for topk and sort (comparisons, counted like a reduction); pure
// data movement (index_select, gather, scatter, one_hot) executes no arithmetic and counts none.
#include <algorithm>
#include <optional>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

// ---------------------------------------------------------------- index validation

void check_has_dims(const Tensor& x, std::string_view op) {
  detail::check_defined(x, op);
  check(x.dim() >= 1, "{}: expected a tensor with at least 1 dim, got a 0-dim tensor", op);
}

void check_index_dtype(const Tensor& index, const Tensor& x, std::string_view op) {
  detail::check_defined(index, op);
  check(index.dtype() == DType::i64, "{}: index of shape {} has dtype {}, expected i64", op,
        index.shape(), index.dtype());
  check(index.device() == x.device(), "{}: index is on {} but the input is on {}", op,
        index.device(), x.device());
}

// Every value of `index` addresses dim `dim` (of size `x.size(dim)`) of `x`.
void check_index_range(const Tensor& index, const Tensor& x, int dim, std::string_view op) {
  const int64_t size = x.shape()[dim];
  if (auto bad = detail::first_out_of_range(index, size))
    fail("{}: index {} out of range for dim {} of size {} (input shape {}){}", op, *bad, dim, size,
         x.shape(), *bad < 0 ? "; negative indices are not supported" : "");
}

// gather/scatter: the index has the rank of `target` and is no larger than it on every dim
// (except `free_dim`, when given: the dim the index addresses, where any length goes).
void check_index_fits(const Tensor& index, const Tensor& target, std::string_view target_name,
                      std::optional<int> free_dim, std::string_view op) {
  check(index.dim() == target.dim(), "{}: index of shape {} has {} dims but {} of shape {} has {}",
        op, index.shape(), index.dim(), target_name, target.shape(), target.dim());
  for (int d = 0; d < index.dim(); ++d) {
    if (free_dim && d == *free_dim) continue;
    check(index.shape()[d] <= target.shape()[d],
          "{}: index of shape {} is larger than {} of shape {} at dim {} ({} > {})", op,
          index.shape(), target_name, target.shape(), d, index.shape()[d], target.shape()[d]);
  }
}

// A fresh contiguous copy of x for the in-place kernels to write into (no autograd).
Tensor copy_for_writing(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).copy(out, x);
  return out;
}

// The gradient of a scatter src that is larger than its index: zeros where src was never read.
Tensor pad_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  std::vector<int64_t> padding;  // (before, after) pairs from the last dim, as pad() wants
  for (int d = g.dim() - 1; d >= 0; --d) {
    padding.push_back(0);
    padding.push_back(shape[d] - g.shape()[d]);
  }
  return pad(g, padding, 0.0);
}

Tensor zeros_for_grad(const Shape& shape, const Tensor& grad) {
  return zeros(shape, grad.dtype(), grad.device());
}

// scatter_add(zeros(shape), dim, index, src), or index_add(...) when `id` is OpId::index_add: the
// backward of gather, topk, sort and index_select. Same result and same recorded op as calling
// the public function, minus two costs that would dominate an embedding's backward: copying a
// tensor of zeros, and re-scanning an index the forward already checked (a saved index is
// version-checked before its backward runs, so it cannot have changed since). src has the
// index's shape (index_add: x's shape with dim sized by the index).
Tensor accumulate_into_zeros(OpId id, const Shape& shape, int dim, const Tensor& index,
                             const Tensor& src) {
  Tensor out = zeros_for_grad(shape, src);
  if (id == OpId::index_add) {
    backend(src.device()).index_add(out, dim, index, src);
  } else {
    backend(src.device()).scatter(out, dim, index, src, /*accumulate=*/true);
  }
  flops::add(src.numel());
  if (needs_grad(src))
    record(id, out, {src}, {index}, [id, dim](const BackwardArgs& a) -> Grads {
      const Tensor& index = a.saved[0];
      return {id == OpId::index_add ? index_select(a.grad, dim, index) : gather(a.grad, dim, index)};
    });
  return out;
}

// ---------------------------------------------------------------- scatter and scatter_add

Tensor scatter_impl(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                    bool accumulate) {
  const OpId id = accumulate ? OpId::scatter_add : OpId::scatter;
  const std::string_view op = op_name(id);
  check_has_dims(x, op);
  detail::check_same(x, src, op);
  check(!accumulate || x.dtype() != DType::b8, "{}: not defined for bool tensors", op);
  const int d = wrap_dim(dim, x.dim(), op);
  check_index_dtype(index, x, op);
  check_index_fits(index, x, "input", d, op);
  check_index_fits(index, src, "src", std::nullopt, op);
  check_index_range(index, x, d, op);

  Tensor out = copy_for_writing(x);
  backend(x.device()).scatter(out, d, index, src, accumulate);
  if (accumulate) flops::add(index.numel());
  if (needs_grad(x, src)) {
    const Shape src_shape = src.shape();
    record(id, out, {x, src}, {index}, [d, src_shape, accumulate](const BackwardArgs& a) -> Grads {
      const Tensor& index = a.saved[0];
      Tensor grad_x, grad_src;
      if (a.needs(0)) {
        // Overwritten positions of x do not reach the output (scatter zeros into them).
        grad_x = accumulate ? a.grad : scatter(a.grad, d, index, zeros_for_grad(index.shape(), a.grad));
      }
      // With duplicate indices in scatter only one src value lands; this gradient (like
      // PyTorch's) then credits all of them, so it is exact only for unique indices.
      if (a.needs(1)) grad_src = pad_to(gather(a.grad, d, index), src_shape);
      return {grad_x, grad_src};
    });
  }
  return out;
}

// ---------------------------------------------------------------- topk and sort

// The backward of topk and sort: each value came from x at its index, so its gradient goes back
// there (indices are distinct within a row, so scatter_add equals scatter here; scatter_add's own
// backward is the plain gather).
BackwardFn values_backward(const Shape& in_shape, int dim) {
  return [in_shape, dim](const BackwardArgs& a) -> Grads {
    return {accumulate_into_zeros(OpId::scatter_add, in_shape, dim, a.saved[0], a.grad)};
  };
}

// Allocates values and indices of in's shape with `keep` at dim.
std::tuple<Tensor, Tensor> empty_values_indices(const Tensor& x, int dim, int64_t keep) {
  Shape shape = x.shape();
  shape[dim] = keep;
  return {Tensor::empty(shape, x.dtype(), x.device()), Tensor::empty(shape, DType::i64, x.device())};
}

}  // namespace

// ---------------------------------------------------------------- index_select, gather

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  constexpr std::string_view op = "index_select";
  check_has_dims(x, op);
  const int d = wrap_dim(dim, x.dim(), op);
  check_index_dtype(index, x, op);
  check(index.dim() == 1, "{}: index must be 1-D, got shape {}", op, index.shape());
  check_index_range(index, x, d, op);

  Shape shape = x.shape();
  shape[d] = index.numel();
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  backend(x.device()).index_select(out, x, d, index);
  if (needs_grad(x)) {
    const Shape in_shape = x.shape();
    record(OpId::index_select, out, {x}, {index}, [d, in_shape](const BackwardArgs& a) -> Grads {
      return {accumulate_into_zeros(OpId::index_add, in_shape, d, a.saved[0], a.grad)};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  constexpr std::string_view op = "gather";
  check_has_dims(x, op);
  const int d = wrap_dim(dim, x.dim(), op);
  check_index_dtype(index, x, op);
  check_index_fits(index, x, "input", d, op);
  check_index_range(index, x, d, op);

  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  backend(x.device()).gather(out, x, d, index);
  if (needs_grad(x)) {
    const Shape in_shape = x.shape();
    record(OpId::gather, out, {x}, {index}, [d, in_shape](const BackwardArgs& a) -> Grads {
      return {accumulate_into_zeros(OpId::scatter_add, in_shape, d, a.saved[0], a.grad)};
    });
  }
  return out;
}

// ---------------------------------------------------------------- scatter, scatter_add, index_add

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, /*accumulate=*/false);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, /*accumulate=*/true);
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  constexpr std::string_view op = "index_add";
  check_has_dims(x, op);
  detail::check_same(x, src, op);
  check(x.dtype() != DType::b8, "{}: not defined for bool tensors", op);
  const int d = wrap_dim(dim, x.dim(), op);
  check_index_dtype(index, x, op);
  check(index.dim() == 1, "{}: index must be 1-D, got shape {}", op, index.shape());
  Shape expected = x.shape();
  expected[d] = index.numel();
  check(src.shape() == expected,
        "{}: src has shape {}, expected {} (input shape {} with dim {} sized by the {} indices)", op,
        src.shape(), expected, x.shape(), d, index.numel());
  check_index_range(index, x, d, op);

  Tensor out = copy_for_writing(x);
  backend(x.device()).index_add(out, d, index, src);
  flops::add(src.numel());
  if (needs_grad(x, src))
    record(OpId::index_add, out, {x, src}, {index}, [d](const BackwardArgs& a) -> Grads {
      return {a.grad, a.needs(1) ? index_select(a.grad, d, a.saved[0]) : Tensor()};
    });
  return out;
}

// out = x with out.select(dim, index[i]) = src.select(dim, i): the write-back of a compacted batch
// (dynamic/routing.h). The indices must be distinct (checked), so every written row has exactly
// one source and the gradient is exact: the overwritten rows of x get none, each src row gets the
// gradient of the row it was written to.
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  constexpr std::string_view op = "index_copy";
  check_has_dims(x, op);
  detail::check_same(x, src, op);
  const int d = wrap_dim(dim, x.dim(), op);
  check_index_dtype(index, x, op);
  check(index.dim() == 1, "{}: index must be 1-D, got shape {}", op, index.shape());
  Shape expected = x.shape();
  expected[d] = index.numel();
  check(src.shape() == expected,
        "{}: src has shape {}, expected {} (input shape {} with dim {} sized by the {} indices)", op,
        src.shape(), expected, x.shape(), d, index.numel());
  check_index_range(index, x, d, op);
  {
    std::vector<bool> seen(x.shape()[d], false);
    for (int64_t i : index.to_vector<int64_t>()) {
      check(!seen[i], "{}: index {} appears twice (input shape {}); the indices must be distinct",
            op, i, x.shape());
      seen[i] = true;
    }
  }

  Tensor out = copy_for_writing(x);
  if (index.numel() > 0) {
    // The index seen with src's shape: its values along `dim`, stride 0 on every other dim, so
    // the scatter kernel writes whole rows (the index_add path, without accumulation).
    Shape strides = Shape::filled(src.dim(), 0);
    strides[d] = index.strides()[0];
    const Tensor rows = make_view(index, src.shape(), strides, index.offset());
    backend(x.device()).scatter(out, d, rows, src, /*accumulate=*/false);
  }
  if (needs_grad(x, src)) {
    const Shape src_shape = src.shape();
    record(OpId::index_copy, out, {x, src}, {index}, [d, src_shape](const BackwardArgs& a) -> Grads {
      const Tensor& index = a.saved[0];
      Tensor grad_x, grad_src;
      if (a.needs(0)) grad_x = index_copy(a.grad, d, index, zeros(src_shape, a.grad.dtype(), a.grad.device()));
      if (a.needs(1)) grad_src = index_select(a.grad, d, index);
      return {grad_x, grad_src};
    });
  }
  return out;
}

// ---------------------------------------------------------------- masked_fill, one_hot

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  constexpr std::string_view op = "masked_fill";
  detail::check_defined(x, op);
  detail::check_defined(mask, op);
  check(mask.dtype() == DType::b8, "{}: mask of shape {} has dtype {}, expected bool", op,
        mask.shape(), mask.dtype());
  check(mask.device() == x.device(), "{}: mask is on {} but the input is on {}", op,
        mask.device(), x.device());
  const Shape& shape = x.shape();
  check(broadcast_shapes(mask.shape(), shape, op) == shape,
        "{}: mask of shape {} does not broadcast to input shape {}", op, mask.shape(), shape);

  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  backend(x.device()).where(out, detail::broadcast_view(mask, shape),
                            detail::broadcast_view(detail::scalar_like(x, value), shape), x);
  flops::add(out.numel());
  if (needs_grad(x))
    record(OpId::masked_fill, out, {x}, {mask}, [](const BackwardArgs& a) -> Grads {
      return {where(a.saved[0], 0.0, a.grad)};
    });
  return out;
}

// num_classes = -1 infers max(index) + 1, as PyTorch does.
Tensor one_hot(const Tensor& index, int64_t num_classes) {
  constexpr std::string_view op = "one_hot";
  check_index_dtype(index, index, op);
  check(num_classes > 0 || num_classes == -1,
        "{}: num_classes must be positive (or -1 to infer it), got {}", op, num_classes);
  if (num_classes == -1) {
    check(index.numel() > 0, "{}: cannot infer num_classes from an empty index", op);
    const std::vector<int64_t> values = index.to_vector<int64_t>();
    // At least 1, so that a negative index is reported as out of range below.
    num_classes = std::max<int64_t>(*std::max_element(values.begin(), values.end()) + 1, 1);
  }
  if (auto bad = detail::first_out_of_range(index, num_classes))
    fail("{}: class index {} out of range for num_classes {} (index shape {})", op, *bad,
         num_classes, index.shape());

  Shape shape = index.shape();
  shape.push_back(num_classes);
  Shape column = index.shape();
  column.push_back(1);
  Tensor out = zeros(shape, DType::i64, index.device());
  const Tensor ones_column = detail::broadcast_view(scalar(1.0, DType::i64, index.device()), column);
  backend(index.device()).scatter(out, shape.size() - 1, unsqueeze(index, -1), ones_column, false);
  return out;
}

// ---------------------------------------------------------------- topk, sort, argsort

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest,
                                bool sorted) {
  constexpr std::string_view op = "topk";
  check_has_dims(x, op);
  const int d = wrap_dim(dim, x.dim(), op);
  check(k >= 0 && k <= x.shape()[d], "{}: k = {} out of range for dim {} of size {} (input shape {})",
        op, k, d, x.shape()[d], x.shape());

  auto [values, indices] = empty_values_indices(x, d, k);
  backend(x.device()).topk(values, indices, x, k, d, largest, sorted);
  flops::add(x.numel());  // comparisons, counted once per input element like a reduction
  if (needs_grad(x)) record(OpId::topk, values, {x}, {indices}, values_backward(x.shape(), d));
  return {values, indices};
}

std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  constexpr std::string_view op = "sort";
  check_has_dims(x, op);
  const int d = wrap_dim(dim, x.dim(), op);

  auto [values, indices] = empty_values_indices(x, d, x.shape()[d]);
  backend(x.device()).sort(values, indices, x, d, descending);
  flops::add(x.numel());
  if (needs_grad(x)) record(OpId::sort, values, {x}, {indices}, values_backward(x.shape(), d));
  return {values, indices};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  NoGradGuard no_grad;  // only the indices are wanted: record nothing
  return std::get<1>(sort(x, dim, descending));
}

}  // namespace dg
