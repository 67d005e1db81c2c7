// Elementwise ops with NumPy broadcasting: arithmetic, powers, max/min, the unary math functions,
// clamp, where, comparisons and logical ops, and dtype conversion. Each differentiable op's
// backward sits right under its forward; gradients come back in the output's (broadcast) shape and
// the autograd engine sums them down to each input's shape.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace detail {

Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const int lead = shape.size() - t.dim();
  Shape strides = Shape::filled(shape.size(), 0);
  for (int i = 0; i < t.dim(); ++i)
    strides[lead + i] = t.shape()[i] == shape[lead + i] ? t.strides()[i] : 0;
  return make_view(t, shape, strides, t.offset());
}

void check_integer_divisor(const Tensor& a, const Tensor& divisor, std::string_view op) {
  if (!divisor.defined() || divisor.dtype() != DType::i64) return;
  const auto has_zero = [](const int64_t* p, int64_t n) { return std::find(p, p + n, 0) != p + n; };
  const bool zero = divisor.device().is_cpu() && divisor.is_contiguous()
                        ? has_zero(divisor.data<int64_t>(), divisor.numel())
                        : [&] {
                            const std::vector<int64_t> v = divisor.to_vector<int64_t>();
                            return has_zero(v.data(), static_cast<int64_t>(v.size()));
                          }();
  check(!zero,
        "{}: integer division by zero ({} {} / {} {}); i64 division truncates toward zero and has "
        "no value for a zero divisor: convert to a floating dtype with .to() for IEEE division",
        op, a.dtype(), a.shape(), divisor.dtype(), divisor.shape());
}

void check_no_internal_overlap(const Tensor& t, std::string_view op) {
  // Sufficient for no overlap: sorted by stride, each dim of size > 1 steps past the whole extent
  // of the dims below it. Every view the engine makes satisfies it unless it repeats elements.
  std::array<std::pair<int64_t, int64_t>, Shape::kMaxDims> dims;  // (stride, size)
  int n = 0;
  for (int i = 0; i < t.dim(); ++i)
    if (t.shape()[i] > 1) dims[n++] = {std::abs(t.strides()[i]), t.shape()[i]};
  std::sort(dims.begin(), dims.begin() + n);
  int64_t extent = 1;  // elements spanned by the dims so far (a view's extent fits in int64)
  for (int i = 0; i < n; ++i) {
    check(dims[i].first >= extent,
          "{}: cannot write in place into a tensor whose elements overlap in memory (shape {}, "
          "strides {}: a view made by expand or broadcasting); write into .contiguous() or "
          ".clone() instead",
          op, t.shape(), t.strides());
    extent += dims[i].first * (dims[i].second - 1);
  }
}

Tensor run_unary(UnaryOp op, const Tensor& x, double p0, double p1) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).unary(op, out, x, p0, p1);
  flops::add(out.numel());
  return out;
}

Tensor run_binary_same_shape(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend(a.device()).binary(op, out, a, b);
  flops::add(out.numel());
  return out;
}

}  // namespace detail

namespace {

using detail::broadcast_view;
using detail::run_unary;
using detail::promote_for_scalar;
using detail::scalar_like;

Tensor run_binary(BinaryOp op, const Tensor& a, const Tensor& b, std::string_view name,
                  bool bool_output = false) {
  detail::check_same(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, bool_output ? DType::b8 : a.dtype(), a.device(), name);
  backend(a.device()).binary(op, out, broadcast_view(a, shape), broadcast_view(b, shape));
  flops::add(out.numel());
  return out;
}

Tensor run_arithmetic(BinaryOp op, const Tensor& a, const Tensor& b, std::string_view name) {
  check(!a.defined() || a.dtype() != DType::b8,
        "{}: arithmetic on bool tensors; convert with .to()", name);
  return run_binary(op, a, b, name);
}

// A floating unary op with its backward.
template <class Backward>
Tensor unary_op(UnaryOp kernel, OpId id, const Tensor& x, bool save_output, Backward backward,
                double p0 = 0, double p1 = 0) {
  detail::check_floating(x, op_name(id));
  Tensor out = run_unary(kernel, x, p0, p1);
  if (needs_grad(x)) record(id, out, {x}, {x}, std::move(backward), save_output);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- arithmetic

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::add, a, b, "add");
  if (needs_grad(a, b))
    record(OpId::add, out, {a, b}, {}, [](const BackwardArgs& x) -> Grads {
      return {x.grad, x.grad};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::sub, a, b, "sub");
  if (needs_grad(a, b))
    record(OpId::sub, out, {a, b}, {}, [](const BackwardArgs& x) -> Grads {
      return {x.grad, x.needs(1) ? neg(x.grad) : Tensor()};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::mul, a, b, "mul");
  if (needs_grad(a, b))
    record(OpId::mul, out, {a, b}, {a, b}, [](const BackwardArgs& x) -> Grads {
      return {x.needs(0) ? x.grad * x.saved[1] : Tensor(),
              x.needs(1) ? x.grad * x.saved[0] : Tensor()};
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  detail::check_integer_divisor(a, b, "div");
  Tensor out = run_arithmetic(BinaryOp::div, a, b, "div");
  if (needs_grad(a, b))
    record(OpId::div, out, {a, b}, {a, b}, [](const BackwardArgs& x) -> Grads {
      const Tensor& a = x.saved[0];
      const Tensor& b = x.saved[1];
      return {x.needs(0) ? x.grad / b : Tensor(),
              x.needs(1) ? neg(x.grad * a / (b * b)) : Tensor()};
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::pow, a, b, "pow");
  if (needs_grad(a, b))
    record(OpId::pow, out, {a, b}, {a, b}, [](const BackwardArgs& x) -> Grads {
      const Tensor& a = x.saved[0];
      const Tensor& b = x.saved[1];
      Tensor ga, gb;
      if (x.needs(0)) ga = x.grad * b * pow(a, b - 1.0);
      // d(a^b)/db = a^b log a; taken as 0 where a == 0 (the limit for b > 0), like PyTorch.
      if (x.needs(1)) gb = where(eq(a, 0.0), 0.0, x.grad * x.output * log(a));
      return {ga, gb};
    }, /*save_output=*/true);
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  detail::check_floating(a, "pow");
  Tensor out = run_unary(UnaryOp::pow_scalar, a, exponent);
  if (needs_grad(a))
    record(OpId::pow_scalar, out, {a}, {a}, [exponent](const BackwardArgs& x) -> Grads {
      if (exponent == 0.0) return {zeros_like(x.grad)};
      return {x.grad * exponent * pow(x.saved[0], exponent - 1.0)};
    });
  return out;
}

// Ties split the gradient equally between the two inputs, like PyTorch.
static Tensor max_min_backward_weight(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor wins = is_max ? gt(a, b) : lt(a, b);
  return to_dtype(wins, a.dtype()) + to_dtype(eq(a, b), a.dtype()) * 0.5;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::maximum, a, b, "maximum");
  if (needs_grad(a, b))
    record(OpId::maximum, out, {a, b}, {a, b}, [](const BackwardArgs& x) -> Grads {
      Tensor wa = max_min_backward_weight(x.saved[0], x.saved[1], true);
      return {x.grad * wa, x.needs(1) ? x.grad * (1.0 - wa) : Tensor()};
    });
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = run_arithmetic(BinaryOp::minimum, a, b, "minimum");
  if (needs_grad(a, b))
    record(OpId::minimum, out, {a, b}, {a, b}, [](const BackwardArgs& x) -> Grads {
      Tensor wa = max_min_backward_weight(x.saved[0], x.saved[1], false);
      return {x.grad * wa, x.needs(1) ? x.grad * (1.0 - wa) : Tensor()};
    });
  return out;
}

// ---------------------------------------------------------------- unary math

Tensor neg(const Tensor& x) {
  detail::check_defined(x, "neg");
  check(x.dtype() != DType::b8, "neg: not defined for bool tensors; use logical_not");
  Tensor out = run_unary(UnaryOp::neg, x);
  if (needs_grad(x))
    record(OpId::neg, out, {x}, {}, [](const BackwardArgs& a) -> Grads { return {neg(a.grad)}; });
  return out;
}

Tensor exp(const Tensor& x) {
  return unary_op(UnaryOp::exp, OpId::exp, x, true,
                  [](const BackwardArgs& a) -> Grads { return {a.grad * a.output}; });
}

Tensor log(const Tensor& x) {
  return unary_op(UnaryOp::log, OpId::log, x, false,
                  [](const BackwardArgs& a) -> Grads { return {a.grad / a.saved[0]}; });
}

Tensor log1p(const Tensor& x) {
  return unary_op(UnaryOp::log1p, OpId::log1p, x, false,
                  [](const BackwardArgs& a) -> Grads { return {a.grad / (a.saved[0] + 1.0)}; });
}

Tensor sqrt(const Tensor& x) {
  return unary_op(UnaryOp::sqrt, OpId::sqrt, x, true, [](const BackwardArgs& a) -> Grads {
    return {a.grad * 0.5 / a.output};
  });
}

Tensor rsqrt(const Tensor& x) {
  // d(x^-1/2)/dx = -x^-3/2 / 2 = -out^3 / 2
  return unary_op(UnaryOp::rsqrt, OpId::rsqrt, x, true, [](const BackwardArgs& a) -> Grads {
    return {a.grad * pow(a.output, 3.0) * -0.5};
  });
}

Tensor abs(const Tensor& x) {
  detail::check_defined(x, "abs");
  Tensor out = run_unary(UnaryOp::abs, x);
  if (needs_grad(x))
    record(OpId::abs, out, {x}, {x},
           [](const BackwardArgs& a) -> Grads { return {a.grad * sign(a.saved[0])}; });
  return out;
}

Tensor sign(const Tensor& x) {
  detail::check_defined(x, "sign");
  return run_unary(UnaryOp::sign, x);
}

Tensor sin(const Tensor& x) {
  return unary_op(UnaryOp::sin, OpId::sin, x, false,
                  [](const BackwardArgs& a) -> Grads { return {a.grad * cos(a.saved[0])}; });
}

Tensor cos(const Tensor& x) {
  return unary_op(UnaryOp::cos, OpId::cos, x, false,
                  [](const BackwardArgs& a) -> Grads { return {neg(a.grad * sin(a.saved[0]))}; });
}

Tensor erf(const Tensor& x) {
  return unary_op(UnaryOp::erf, OpId::erf, x, false, [](const BackwardArgs& a) -> Grads {
    const double two_over_sqrt_pi = 1.12837916709551257390;
    const Tensor& v = a.saved[0];
    return {a.grad * exp(neg(v * v)) * two_over_sqrt_pi};
  });
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  detail::check_defined(x, "clamp");
  check(!(lo && hi && *lo > *hi), "clamp: lower bound {} is above upper bound {}", *lo, *hi);
  const double inf = std::numeric_limits<double>::infinity();
  const double l = lo.value_or(-inf), h = hi.value_or(inf);
  Tensor out = run_unary(UnaryOp::clamp, x, l, h);
  if (needs_grad(x))
    record(OpId::clamp, out, {x}, {x}, [l, h](const BackwardArgs& a) -> Grads {
      // The gradient passes where lo <= x <= hi, like PyTorch.
      const Tensor& v = a.saved[0];
      return {where(logical_and(ge(v, l), le(v, h)), a.grad, 0.0)};
    });
  return out;
}

// ---------------------------------------------------------------- where

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(cond, "where");
  check(cond.dtype() == DType::b8, "where: condition must be bool, got {} {}", cond.dtype(),
        cond.shape());
  detail::check_same(a, b, "where");
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  backend(a.device()).where(out, broadcast_view(cond, shape), broadcast_view(a, shape),
                            broadcast_view(b, shape));
  flops::add(out.numel());
  if (needs_grad(a, b))
    record(OpId::where, out, {a, b}, {cond}, [](const BackwardArgs& x) -> Grads {
      const Tensor& c = x.saved[0];
      return {x.needs(0) ? where(c, x.grad, 0.0) : Tensor(),
              x.needs(1) ? where(c, 0.0, x.grad) : Tensor()};
    });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, double b) {
  const Tensor x = promote_for_scalar(a, b);
  return where(cond, x, scalar_like(x, b, "where"));
}
Tensor where(const Tensor& cond, double a, const Tensor& b) {
  const Tensor y = promote_for_scalar(b, a);
  return where(cond, scalar_like(y, a, "where"), y);
}

// ---------------------------------------------------------------- comparisons, logic, dtype

Tensor eq(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::eq, a, b, "eq", true); }
Tensor ne(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::ne, a, b, "ne", true); }
Tensor lt(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::lt, a, b, "lt", true); }
Tensor le(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::le, a, b, "le", true); }
Tensor gt(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::gt, a, b, "gt", true); }
Tensor ge(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::ge, a, b, "ge", true); }
// Compared in f32 when an i64 tensor meets a fractional scalar (x == 2.5 is false, not x == 2).
#define DG_COMPARE_SCALAR(name)                                    \
  Tensor name(const Tensor& a, double b) {                         \
    const Tensor x = promote_for_scalar(a, b);                     \
    return name(x, scalar_like(x, b, #name));                      \
  }
DG_COMPARE_SCALAR(eq)
DG_COMPARE_SCALAR(ne)
DG_COMPARE_SCALAR(lt)
DG_COMPARE_SCALAR(le)
DG_COMPARE_SCALAR(gt)
DG_COMPARE_SCALAR(ge)
#undef DG_COMPARE_SCALAR

static Tensor run_logical(BinaryOp op, const Tensor& a, const Tensor& b, std::string_view name) {
  detail::check_same(a, b, name);
  check(a.dtype() == DType::b8, "{}: expected bool tensors, got {} {}", name, a.dtype(), a.shape());
  return run_binary(op, a, b, name, true);
}
Tensor logical_and(const Tensor& a, const Tensor& b) { return run_logical(BinaryOp::logical_and, a, b, "logical_and"); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return run_logical(BinaryOp::logical_or, a, b, "logical_or"); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return run_logical(BinaryOp::logical_xor, a, b, "logical_xor"); }
Tensor logical_not(const Tensor& a) {
  detail::check_defined(a, "logical_not");
  check(a.dtype() == DType::b8, "logical_not: expected a bool tensor, got {} {}", a.dtype(), a.shape());
  return run_unary(UnaryOp::logical_not, a);
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  detail::check_defined(x, "to");
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  backend(x.device()).copy(out, x);
  if (needs_grad(x) && is_floating(dtype)) {
    const DType from = x.dtype();
    record(OpId::to_dtype, out, {x}, {}, [from](const BackwardArgs& a) -> Grads {
      return {to_dtype(a.grad, from)};
    });
  }
  return out;
}

// ---------------------------------------------------------------- operators

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
// Tensor-scalar arithmetic promotes an i64 tensor to f32 when the scalar is not a whole number.
Tensor operator+(const Tensor& a, double b) {
  const Tensor x = promote_for_scalar(a, b);
  return add(x, scalar_like(x, b, "add"));
}
Tensor operator-(const Tensor& a, double b) {
  const Tensor x = promote_for_scalar(a, b);
  return sub(x, scalar_like(x, b, "sub"));
}
Tensor operator*(const Tensor& a, double b) {
  const Tensor x = promote_for_scalar(a, b);
  return mul(x, scalar_like(x, b, "mul"));
}
Tensor operator/(const Tensor& a, double b) {
  const Tensor x = promote_for_scalar(a, b);
  return div(x, scalar_like(x, b, "div"));
}
Tensor operator+(double a, const Tensor& b) {
  const Tensor y = promote_for_scalar(b, a);
  return add(scalar_like(y, a, "add"), y);
}
Tensor operator-(double a, const Tensor& b) {
  const Tensor y = promote_for_scalar(b, a);
  return sub(scalar_like(y, a, "sub"), y);
}
Tensor operator*(double a, const Tensor& b) {
  const Tensor y = promote_for_scalar(b, a);
  return mul(scalar_like(y, a, "mul"), y);
}
Tensor operator/(double a, const Tensor& b) {
  const Tensor y = promote_for_scalar(b, a);
  return div(scalar_like(y, a, "div"), y);
}
Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace dg
