// Reductions over any set of dims: sum, mean, amax/amin, max/min along a dim with indices,
// argmax/argmin, var/std, logsumexp, norm, and cumsum. Backward formulas broadcast the gradient
// back over the reduced dims (expand of the keepdim-shaped gradient).
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace detail {

// The keepdim shape of reducing `x` over `dims` (all dims when empty).
Shape reduced_shape(const Tensor& x, const std::vector<int64_t>& dims, std::string_view op) {
  Shape shape = x.shape();
  if (dims.empty()) {
    for (int64_t& s : shape) s = 1;
    return shape;
  }
  std::vector<bool> seen(x.dim(), false);
  for (int64_t d : dims) {
    const int w = wrap_dim(d, x.dim(), op);
    check(!seen[w], "{}: dim {} appears more than once in the reduction dims", op, w);
    seen[w] = true;
    shape[w] = 1;
  }
  return shape;
}

// Drops the reduced dims of a keepdim-shaped result (no autograd: callers record the op).
Tensor drop_reduced_dims(const Tensor& t, const Tensor& x, const std::vector<int64_t>& dims) {
  Shape shape;
  if (!dims.empty()) {
    std::vector<bool> reduced(x.dim(), false);
    for (int64_t d : dims) reduced[wrap_dim(d, x.dim(), "reduce")] = true;
    for (int i = 0; i < x.dim(); ++i)
      if (!reduced[i]) shape.push_back(x.shape()[i]);
  }
  return make_view(t, shape, contiguous_strides(shape), t.offset());
}

// Runs a value reduction kernel into a fresh keepdim-shaped tensor.
Tensor run_reduce(ReduceOp op, const Tensor& x, const Shape& keep_shape, std::string_view name) {
  check(op == ReduceOp::sum || x.numel() > 0,
        "{}: cannot reduce an empty tensor of shape {} (the operation has no identity)", name,
        x.shape());
  Tensor out = Tensor::empty(keep_shape, x.dtype(), x.device());
  if (x.numel() == 0) {
    backend(x.device()).fill(out, 0.0);
  } else {
    backend(x.device()).reduce(op, out, x);
  }
  flops::add(x.numel());
  return out;
}

}  // namespace detail

Tensor sum(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_defined(x_in, "sum");
  // Bools are counted, as in NumPy and PyTorch.
  const Tensor x = x_in.dtype() == DType::b8 ? to_dtype(x_in, DType::i64) : x_in;
  const Shape keep_shape = detail::reduced_shape(x, dims, "sum");
  Tensor out = detail::run_reduce(ReduceOp::sum, x, keep_shape, "sum");
  if (!keepdim) out = detail::drop_reduced_dims(out, x, dims);
  if (needs_grad(x)) {
    const Shape in_shape = x.shape();
    record(OpId::sum, out, {x}, {}, [in_shape, keep_shape](const BackwardArgs& a) -> Grads {
      return {expand(reshape(a.grad, keep_shape), in_shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_floating(x, "mean");
  const Shape keep_shape = detail::reduced_shape(x, dims, "mean");
  const int64_t count = numel(keep_shape) == 0 ? 0 : x.numel() / numel(keep_shape);
  return sum(x, dims, keepdim) / static_cast<double>(count);
}

}  // namespace dg
