// Small helpers the op files share: argument checks with uniform messages, and the internal
// (non-recording) views that kernels are called on.
#pragma once

#include <string_view>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace dg::detail {

inline void check_defined(const Tensor& t, std::string_view op) {
  check(t.defined(), "{}: undefined tensor", op);
}

// Same dtype and device for two operands of `op`.
inline void check_same(const Tensor& a, const Tensor& b, std::string_view op) {
  check_defined(a, op);
  check_defined(b, op);
  check(a.dtype() == b.dtype(), "{}: dtype mismatch: {} {} and {} {} (convert one with .to())", op,
        a.dtype(), a.shape(), b.dtype(), b.shape());
  check(a.device() == b.device(), "{}: device mismatch: {} on {} and {} on {}", op, a.shape(),
        a.device(), b.shape(), b.device());
}

inline void check_floating(const Tensor& t, std::string_view op) {
  check_defined(t, op);
  check(is_floating(t.dtype()), "{}: expected a floating tensor (f32 or f64), got {} {}", op,
        t.dtype(), t.shape());
}

// A view of `t` broadcast to `shape` (stride 0 on broadcast dims); not recorded by autograd.
Tensor broadcast_view(const Tensor& t, const Shape& shape);

// A 0-dim tensor with `t`'s dtype and device.
Tensor scalar_like(const Tensor& t, double value);

// Raw kernel calls returning a new tensor (no autograd).
Tensor run_unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
// Same shape, dtype and device for a and b (checked by the caller).
Tensor run_binary_same_shape(BinaryOp op, const Tensor& a, const Tensor& b);

}  // namespace dg::detail
