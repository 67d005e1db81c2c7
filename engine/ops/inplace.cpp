// In-place ops, for optimizers and buffer updates: add_, sub_, mul_, div_, sqrt_, copy_, fill_,
// zero_, and the fused Adam step adam_step_ (a dozen of the others in one pass over memory). Each
// bumps the storage's version counter, so a graph that saved this tensor (or a view of
// it) for backward detects the change and refuses to compute a wrong gradient. They are not
// recorded by autograd: on a tensor that requires grad they are refused while grad mode is on.
#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

void check_inplace(const Tensor& self, const Tensor* other, std::string_view op) {
  detail::check_defined(self, op);
  detail::check_no_internal_overlap(self, op);
  check(!grad_enabled() || (!self.requires_grad() && !(other && other->requires_grad())),
        "{}: in-place operation on a tensor of shape {} that requires grad (or with an operand "
        "that does) while grad mode is on; use NoGradGuard (as optimizers do) or the out-of-place op",
        op, self.shape());
  if (other) {
    detail::check_same(self, *other, op);
    const Shape shape = broadcast_shapes(self.shape(), other->shape(), op);
    check(shape == self.shape(), "{}: operand of shape {} does not broadcast to the tensor's shape {}",
          op, other->shape(), self.shape());
  }
}

void binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other, std::string_view name) {
  check_inplace(self, &other, name);
  backend(self.device()).binary(op, self, self, detail::broadcast_view(other, self.shape()));
  flops::add(self.numel());
  self.storage()->bump_version();
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  if (alpha == 1.0) {
    binary_inplace(BinaryOp::add, *this, other, "add_");
  } else {
    check_inplace(*this, &other, "add_");
    NoGradGuard no_grad;
    binary_inplace(BinaryOp::add, *this, other * alpha, "add_");
  }
  return *this;
}

Tensor& Tensor::sub_(const Tensor& other) {
  binary_inplace(BinaryOp::sub, *this, other, "sub_");
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  binary_inplace(BinaryOp::mul, *this, other, "mul_");
  return *this;
}

Tensor& Tensor::mul_(double value) {
  binary_inplace(BinaryOp::mul, *this, detail::scalar_like(*this, value, "mul_"), "mul_");
  return *this;
}

Tensor& Tensor::add_(double value) {
  binary_inplace(BinaryOp::add, *this, detail::scalar_like(*this, value, "add_"), "add_");
  return *this;
}

Tensor& Tensor::div_(const Tensor& other) {
  detail::check_integer_divisor(*this, other, "div_");
  binary_inplace(BinaryOp::div, *this, other, "div_");
  return *this;
}

Tensor& Tensor::div_(double value) {
  const Tensor divisor = detail::scalar_like(*this, value, "div_");
  detail::check_integer_divisor(*this, divisor, "div_");
  binary_inplace(BinaryOp::div, *this, divisor, "div_");
  return *this;
}

Tensor& Tensor::sqrt_() {
  check_inplace(*this, nullptr, "sqrt_");
  detail::check_floating(*this, "sqrt_");
  backend(device()).unary(UnaryOp::sqrt, *this, *this, 0, 0);
  flops::add(numel());
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, nullptr, "copy_");
  detail::check_defined(src, "copy_");
  check(!grad_enabled() || !src.requires_grad(),
        "copy_: source requires grad while grad mode is on; use NoGradGuard or detach()");
  check(broadcast_shapes(shape(), src.shape(), "copy_") == shape(),
        "copy_: source of shape {} does not broadcast to {}", src.shape(), shape());
  Tensor s = detail::broadcast_view(src, shape());
  if (s.device() != device()) {
    check(s.is_contiguous() && is_contiguous() && s.dtype() == dtype(),
          "copy_: between devices, both tensors must be contiguous with the same dtype");
    const size_t nbytes = numel() * itemsize(dtype());
    if (device().is_cpu()) backend(s.device()).copy_to_host(raw_data(), s.raw_data(), nbytes);
    else backend(device()).copy_from_host(raw_data(), s.raw_data(), nbytes);
  } else {
    backend(device()).copy(*this, s);
  }
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, nullptr, "fill_");
  backend(device()).fill(*this, value);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const AdamStep& step) {
  constexpr std::string_view op = "adam_step_";
  detail::check_floating(param, op);
  for (const Tensor* t : {&grad, &exp_avg, &exp_avg_sq}) {
    detail::check_defined(*t, op);
    check(t->shape() == param.shape(), "{}: parameter {} and its grad/state {} differ in shape", op,
          param.shape(), t->shape());
    check_inplace(param, t, op);
  }
  check_inplace(exp_avg, nullptr, op);
  check_inplace(exp_avg_sq, nullptr, op);
  backend(param.device()).adam_step(param, grad, exp_avg, exp_avg_sq, step);
  flops::add(12 * param.numel());  // the dozen elementwise ops it replaces
  param.storage()->bump_version();
  exp_avg.storage()->bump_version();
  exp_avg_sq.storage()->bump_version();
}

}  // namespace dg
