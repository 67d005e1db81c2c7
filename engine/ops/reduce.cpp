// Reductions over any set of dims: sum, mean, amax/amin, max/min along a dim with indices,
// argmax/argmin, var/std, logsumexp, norm, and cumsum. Backward formulas bring the gradient back
// to the keepdim shape (a reshape) and let broadcasting spread it over the reduced dims.
//
// Primitives with their own autograd node: sum, amax/amin, max/min along a dim, logsumexp and
// cumsum. mean, var, std and norm are composed from them and the elementwise ops, so their
// gradients (and gradients of gradients) come for free.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace detail {

// Which of x's dims `dims` reduces (all when empty); throws on an out-of-range or repeated dim.
// A 0-dim tensor accepts dim 0 or -1, as PyTorch does, and reduces over its single element.
std::vector<bool> reduced_dims_mask(const Tensor& x, const std::vector<int64_t>& dims,
                                    std::string_view op) {
  std::vector<bool> reduced(x.dim(), dims.empty());
  std::vector<int64_t> seen;
  for (int64_t d : dims) {
    const int w = wrap_dim(d, x.dim(), op);
    check(std::find(seen.begin(), seen.end(), w) == seen.end(),
          "{}: dim {} appears more than once in the reduction dims", op, w);
    seen.push_back(w);
    if (x.dim() > 0) reduced[w] = true;
  }
  return reduced;
}

// The keepdim shape of reducing `x` over `dims` (all dims when empty).
Shape reduced_shape(const Tensor& x, const std::vector<int64_t>& dims, std::string_view op) {
  const std::vector<bool> reduced = reduced_dims_mask(x, dims, op);
  Shape shape = x.shape();
  for (int i = 0; i < x.dim(); ++i)
    if (reduced[i]) shape[i] = 1;
  return shape;
}

// Drops the reduced dims of a keepdim-shaped result (no autograd: callers record the op).
Tensor drop_reduced_dims(const Tensor& t, const Tensor& x, const std::vector<int64_t>& dims) {
  const std::vector<bool> reduced = reduced_dims_mask(x, dims, "reduce");
  Shape shape;
  for (int i = 0; i < x.dim(); ++i)
    if (!reduced[i]) shape.push_back(x.shape()[i]);
  return make_view(t, shape, contiguous_strides(shape), t.offset());
}

// Runs a value reduction kernel into a fresh keepdim-shaped tensor. max and min have no identity,
// so reducing over a dim of size 0 is an error for them; an empty sum is 0.
Tensor run_reduce(ReduceOp op, const Tensor& x, const Shape& keep_shape, std::string_view name) {
  if (op != ReduceOp::sum) {
    for (int d = 0; d < x.dim(); ++d)
      check(!(x.shape()[d] == 0 && keep_shape[d] == 1),
            "{}: cannot reduce over dim {} of size 0 (input shape {}): an empty reduction has no "
            "identity",
            name, d, x.shape());
  }
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

namespace {

using detail::drop_reduced_dims;
using detail::reduced_shape;
using detail::run_reduce;

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_not_bool(const Tensor& x, std::string_view op) {
  detail::check_defined(x, op);
  check(x.dtype() != DType::b8, "{}: not defined for bool tensors ({}); convert with .to()", op,
        x.shape());
}

// Elements per output of a reduction to `keep_shape`.
int64_t reduced_count(const Tensor& x, const Shape& keep_shape) {
  return numel(keep_shape) == 0 ? 0 : x.numel() / numel(keep_shape);
}

}  // namespace

// ---------------------------------------------------------------- sum and mean

Tensor sum(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_defined(x_in, "sum");
  // Bools are counted, as in NumPy and PyTorch.
  const Tensor x = x_in.dtype() == DType::b8 ? to_dtype(x_in, DType::i64) : x_in;
  const Shape keep_shape = reduced_shape(x, dims, "sum");
  Tensor out = run_reduce(ReduceOp::sum, x, keep_shape, "sum");
  if (!keepdim) out = drop_reduced_dims(out, x, dims);
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
  const int64_t count = reduced_count(x, reduced_shape(x, dims, "mean"));
  return sum(x, dims, keepdim) / static_cast<double>(count);
}

// ---------------------------------------------------------------- amax and amin

namespace {

// amax/amin; `name` is what errors call the op (max(x) and min(x) come through here too).
Tensor extremum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_max,
                std::string_view name) {
  check_not_bool(x, name);
  const Shape keep_shape = reduced_shape(x, dims, name);
  Tensor out = run_reduce(is_max ? ReduceOp::max : ReduceOp::min, x, keep_shape, name);
  if (!keepdim) out = drop_reduced_dims(out, x, dims);
  if (needs_grad(x)) {
    const std::vector<int64_t> all_dims = dims;
    record(is_max ? OpId::amax : OpId::amin, out, {x}, {x},
           [keep_shape, all_dims](const BackwardArgs& a) -> Grads {
             // Every element equal to the result shares the gradient equally, like PyTorch. A NaN
             // is the result of its group (NaN propagates), so NaNs are the winners there.
             const Tensor& v = a.saved[0];
             Tensor winners = logical_or(eq(v, reshape(a.output, keep_shape)), ne(v, v));
             Tensor ties = to_dtype(sum(winners, all_dims, /*keepdim=*/true), v.dtype());
             return {where(winners, reshape(a.grad, keep_shape) / ties, 0.0)};
           },
           /*save_output=*/true);
  }
  return out;
}

}  // namespace

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(x, dims, keepdim, true, "amax");
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(x, dims, keepdim, false, "amin");
}
Tensor max(const Tensor& x) { return extremum(x, {}, false, true, "max"); }
Tensor min(const Tensor& x) { return extremum(x, {}, false, false, "min"); }

// ---------------------------------------------------------------- max/min along a dim

namespace {

// Values and i64 indices (first among ties, NaN wins) along `dim`, both in keepdim form. Not
// recorded; `x` has at least one dim.
std::tuple<Tensor, Tensor> run_arg_reduce(const Tensor& x, int dim, bool is_max,
                                          std::string_view name) {
  check(x.shape()[dim] > 0,
        "{}: cannot reduce over dim {} of size 0 (input shape {}): an empty reduction has no "
        "identity",
        name, dim, x.shape());
  Shape keep_shape = x.shape();
  keep_shape[dim] = 1;
  Tensor values = Tensor::empty(keep_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(keep_shape, DType::i64, x.device());
  if (values.numel() > 0) backend(x.device()).arg_reduce(is_max, values, indices, x, dim);
  flops::add(x.numel());
  return {values, indices};
}

// 0, 1, ..., n-1 along `dim` of a rank-`rank` tensor (size 1 elsewhere), on `device`. Built as a
// cumsum of ones so it runs on any backend.
Tensor positions_along(int dim, int rank, int64_t n, Device device) {
  Shape shape = Shape::filled(rank, 1);
  shape[dim] = n;
  return cumsum(ones(shape, DType::i64, device), dim) - 1.0;
}

std::tuple<Tensor, Tensor> max_min_dim(const Tensor& x_in, int64_t dim_in, bool keepdim,
                                       bool is_max, std::string_view name) {
  check_not_bool(x_in, name);
  const int dim = wrap_dim(dim_in, x_in.dim(), name);
  // A 0-dim tensor is its own max, at index 0: reduce it as a [1] and drop that dim again.
  const bool scalar_input = x_in.dim() == 0;
  const Tensor x = scalar_input ? reshape(x_in, {1}) : x_in;
  auto [values, indices] = run_arg_reduce(x, dim, is_max, name);
  const Tensor indices_keep = indices;
  if (!keepdim || scalar_input) {
    values = drop_reduced_dims(values, x, {dim});
    indices = drop_reduced_dims(indices, x, {dim});
  }
  if (needs_grad(x)) {
    const Shape in_shape = x.shape(), keep_shape = indices_keep.shape();
    record(is_max ? OpId::max_dim : OpId::min_dim, values, {x}, {indices_keep},
           [dim, in_shape, keep_shape](const BackwardArgs& a) -> Grads {
             // The whole gradient goes to the chosen index: a one-hot along dim.
             const Tensor& index = a.saved[0];
             Tensor chosen = eq(positions_along(dim, in_shape.size(), in_shape[dim],
                                                index.device()),
                                index);
             return {where(chosen, reshape(a.grad, keep_shape), 0.0)};
           });
  }
  return {values, indices};
}

Tensor arg_extremum(const Tensor& x_in, int64_t dim_in, bool keepdim, bool is_max,
                    std::string_view name) {
  check_not_bool(x_in, name);
  const int dim = wrap_dim(dim_in, x_in.dim(), name);
  const bool scalar_input = x_in.dim() == 0;
  const Tensor x = scalar_input ? reshape(x_in.detach(), {1}) : x_in.detach();
  Tensor indices = std::get<1>(run_arg_reduce(x, dim, is_max, name));
  return keepdim && !scalar_input ? indices : drop_reduced_dims(indices, x, {dim});
}

}  // namespace

std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(x, dim, keepdim, true, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(x, dim, keepdim, false, "min");
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum(x, dim, keepdim, true, "argmax");
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extremum(x, dim, keepdim, false, "argmin");
}

// ---------------------------------------------------------------- var and std

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  detail::check_floating(x, "var");
  const int64_t count = reduced_count(x, reduced_shape(x, dims, "var"));
  // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which cancels badly.
  // A divisor of 0 (e.g. one element with correction 1) gives NaN or inf, as in PyTorch.
  Tensor deviation = x - mean(x, dims, /*keepdim=*/true);
  const double divisor = static_cast<double>(std::max<int64_t>(count - correction, 0));
  return sum(deviation * deviation, dims, keepdim) / divisor;
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  detail::check_floating(x, "std");
  return sqrt(var(x, dims, correction, keepdim));
}

// ---------------------------------------------------------------- logsumexp

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_floating(x, "logsumexp");
  const Shape keep_shape = reduced_shape(x, dims, "logsumexp");
  Tensor out;
  {
    NoGradGuard no_grad;  // the forward's steps are not the op's gradient; it has its own node
    const Tensor v = x.detach();
    // Shift by the max so exp cannot overflow. Where the max is infinite, x - max would be NaN,
    // so those groups are shifted by 0 instead (a group holding +inf then comes out +inf).
    const Tensor largest = x.numel() > 0 ? run_reduce(ReduceOp::max, v, keep_shape, "logsumexp")
                                         : full(keep_shape, -kInf, x.dtype(), x.device());
    const Tensor shift = where(eq(abs(largest), kInf), 0.0, largest);
    out = log(sum(exp(v - shift), dims, /*keepdim=*/true)) + shift;
    // A group that is all -inf (or empty) is exactly -inf; set it rather than rely on exp(-inf)
    // being exactly 0, which vectorised exp implementations do not all guarantee.
    out = where(eq(largest, -kInf), -kInf, out);
  }
  if (!keepdim) out = drop_reduced_dims(out, x, dims);
  if (needs_grad(x))
    record(OpId::logsumexp, out, {x}, {x},
           [keep_shape](const BackwardArgs& a) -> Grads {
             // d logsumexp / dx = softmax(x) = exp(x - logsumexp(x)).
             return {reshape(a.grad, keep_shape) * exp(a.saved[0] - reshape(a.output, keep_shape))};
           },
           /*save_output=*/true);
  return out;
}

// ---------------------------------------------------------------- norm

namespace {

// s^(1/p) with a zero gradient where s == 0. The root's derivative is infinite at 0, which would
// turn a zero input's gradient into 0 * inf = NaN; PyTorch's subgradient choice there is 0. Both
// `where`s are needed: the inner one keeps the root's backward away from s == 0, the outer one
// puts the zero back.
Tensor root_with_zero_subgradient(const Tensor& s, double p) {
  Tensor is_zero = eq(s, 0.0);
  Tensor safe = where(is_zero, 1.0, s);
  return where(is_zero, 0.0, p == 2.0 ? sqrt(safe) : pow(safe, 1.0 / p));
}

}  // namespace

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_floating(x, "norm");
  check(!std::isnan(p), "norm: p is NaN");
  if (p == kInf) return amax(abs(x), dims, keepdim);
  if (p == -kInf) return amin(abs(x), dims, keepdim);
  if (p == 0.0) return sum(to_dtype(ne(x, 0.0), x.dtype()), dims, keepdim);  // count, no gradient
  if (p == 1.0) return sum(abs(x), dims, keepdim);
  if (p == 2.0) return root_with_zero_subgradient(sum(x * x, dims, keepdim), 2.0);
  return root_with_zero_subgradient(sum(pow(abs(x), p), dims, keepdim), p);
}

// ---------------------------------------------------------------- cumsum

Tensor cumsum(const Tensor& x_in, int64_t dim_in) {
  detail::check_defined(x_in, "cumsum");
  // Bools are counted, as in sum.
  const Tensor x = x_in.dtype() == DType::b8 ? to_dtype(x_in, DType::i64) : x_in;
  const int dim = wrap_dim(dim_in, x.dim(), "cumsum");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.dim() == 0) {
    backend(x.device()).copy(out, x);
  } else if (x.numel() > 0) {
    backend(x.device()).cumsum(out, x, dim);
  }
  flops::add(x.numel());
  if (needs_grad(x))
    record(OpId::cumsum, out, {x}, {}, [dim](const BackwardArgs& a) -> Grads {
      if (a.grad.dim() == 0) return {a.grad};
      // x_i reaches every out_j with j >= i, so its gradient is the reversed cumsum of g:
      // sum_{j >= i} g_j = sum_j g_j - sum_{j < i} g_j = total - cumsum(g)_i + g_i. Written this
      // way it needs no flip, which the engine has no view for.
      const Tensor& g = a.grad;
      return {sum(g, {dim}, /*keepdim=*/true) - cumsum(g, dim) + g};
    });
  return out;
}

}  // namespace dg
