// Small helpers the op files share: argument checks with uniform messages, and the internal
// (non-recording) views that kernels are called on.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

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

// The first value of `index` outside [0, size), if any.
// The values are read on the host: directly for a contiguous CPU index, through to_vector (a
// contiguous host copy) otherwise. For a device backend (none exists yet) this would cost a copy
// and a sync per op; a device-side min/max reduction should then replace it.
inline std::optional<int64_t> first_out_of_range(const Tensor& index, int64_t size) {
  auto scan = [size](const int64_t* p, int64_t n) -> std::optional<int64_t> {
    // A branch-free pass first (it vectorises; a negative value is a huge unsigned one), then the
    // first offender only when there is one.
    uint64_t largest = 0;
    for (int64_t i = 0; i < n; ++i) largest = std::max(largest, static_cast<uint64_t>(p[i]));
    if (largest < static_cast<uint64_t>(size)) return std::nullopt;
    for (int64_t i = 0; i < n; ++i)
      if (p[i] < 0 || p[i] >= size) return p[i];
    return std::nullopt;
  };
  if (index.device().is_cpu() && index.is_contiguous()) return scan(index.data<int64_t>(), index.numel());
  const std::vector<int64_t> values = index.to_vector<int64_t>();
  return scan(values.data(), static_cast<int64_t>(values.size()));
}

}  // namespace dg::detail
