// Creating tensors: constant fills, ranges, identity, and tensors from host values.
#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {
Tensor filled(const Shape& shape, double value, DType dtype, Device device, std::string_view op) {
  // Converting nan, inf or a value past i64's range to i64 is undefined behaviour in C++.
  check(dtype != DType::i64 || (std::isfinite(value) && value >= -0x1p63 && value < 0x1p63),
        "{}: the value {} has no i64 representation", op, value);
  Tensor t = Tensor::empty(shape, dtype, device, op);
  backend(device).fill(t, value);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  return filled(shape, value, dtype, device, "full");
}
Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return filled(shape, 0.0, dtype, device, "zeros");
}
Tensor ones(const Shape& shape, DType dtype, Device device) {
  return filled(shape, 1.0, dtype, device, "ones");
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype(), t.device()); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

namespace detail {
namespace {
bool is_whole_i64(double v) {
  return std::isfinite(v) && std::trunc(v) == v && v >= -0x1p63 && v < 0x1p63;
}
}  // namespace

Tensor scalar_like(const Tensor& t, double value, std::string_view op) {
  check_defined(t, op);
  check(t.dtype() != DType::i64 || is_whole_i64(value),
        "{}: the scalar {} is not a whole number in i64's range, so it cannot be an operand of "
        "the i64 tensor {} without truncation; convert the tensor with .to(DType::f32) first",
        op, value, t.shape());
  return full({}, value, t.dtype(), t.device());
}

Tensor promote_for_scalar(const Tensor& t, double value) {
  if (t.defined() && t.dtype() == DType::i64 && !is_whole_i64(value)) return t.to(DType::f32);
  return t;
}
}  // namespace detail

Tensor arange(double start, double end, double step, DType dtype) {
  check(step != 0, "arange: step must be non-zero");
  const double count = std::ceil((end - start) / step);
  check(std::isfinite(count) && count < 0x1p62,
        "arange: [{}, {}) in steps of {} has {} elements, more than any tensor can hold", start, end,
        step, count);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = Tensor::empty({n}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + i * step);
  });
  return t;
}

Tensor arange(int64_t end, DType dtype) { return arange(0.0, static_cast<double>(end), 1.0, dtype); }

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  check(steps >= 0, "linspace: steps must be non-negative, got {}", steps);
  check(is_floating(dtype), "linspace: expected a floating dtype, got {}", dtype);
  Tensor t = Tensor::empty({steps}, dtype);
  visit_floating(dtype, "linspace", [&]<class T>() {
    T* p = t.data<T>();
    const double step = steps > 1 ? (end - start) / (steps - 1) : 0.0;
    // Fill from both ends so the last value is exactly `end`, as NumPy does.
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < steps / 2 ? start + i * step : end - (steps - 1 - i) * step);
  });
  return t;
}

Tensor eye(int64_t n, DType dtype) {
  check(n >= 0, "eye: n must be non-negative, got {}", n);
  Tensor t = zeros({n, n}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i * n + i] = static_cast<T>(1);
  });
  return t;
}

namespace {
Tensor from_values(const void* values, size_t count, DType dtype, const Shape& shape_in) {
  const Shape shape = shape_in.empty() ? Shape{static_cast<int64_t>(count)} : shape_in;
  check(numel(shape) == static_cast<int64_t>(count),
        "from_vector: {} values do not fill shape {} ({} elements)", count, shape, numel(shape));
  Tensor t = Tensor::empty(shape, dtype);
  if (count) std::memcpy(t.raw_data(), values, count * itemsize(dtype));
  return t;
}
template <class T>
Tensor from_span(const T* values, size_t count, const Shape& shape) {
  return from_values(values, count, dtype_of<T>(), shape);
}
}  // namespace

Tensor from_vector(const std::vector<float>& v, const Shape& s) { return from_span(v.data(), v.size(), s); }
Tensor from_vector(const std::vector<double>& v, const Shape& s) { return from_span(v.data(), v.size(), s); }
Tensor from_vector(const std::vector<int64_t>& v, const Shape& s) { return from_span(v.data(), v.size(), s); }
Tensor from_vector(const std::vector<bool>& v, const Shape& s) {
  static_assert(sizeof(bool) == 1);
  std::vector<uint8_t> bytes(v.begin(), v.end());  // vector<bool> is packed; bool tensors are bytes
  return from_values(bytes.data(), bytes.size(), DType::b8, s);
}
Tensor tensor(std::initializer_list<float> v, const Shape& s) { return from_span(v.begin(), v.size(), s); }
Tensor tensor_f64(std::initializer_list<double> v, const Shape& s) { return from_span(v.begin(), v.size(), s); }
Tensor tensor_i64(std::initializer_list<int64_t> v, const Shape& s) { return from_span(v.begin(), v.size(), s); }

}  // namespace dg
