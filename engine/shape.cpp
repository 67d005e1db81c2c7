// Shape algebra shared by every op: printing, numel, strides, dim wrapping, broadcasting.
#include "engine/shape.h"

namespace dg {

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (int i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {

[[noreturn]] void fail_overflow(const Shape& s, std::string_view op) {
  fail("{}: shape {} has more elements than a 64-bit count can hold", op, s);
}

}  // namespace

int64_t numel(const Shape& s, std::string_view op) {
  // The product of the sizes taken as at least 1 bounds every contiguous stride, so checking it
  // once here keeps strides and offsets in range too. (A negative size, invalid in a tensor but
  // passed through by shape arithmetic, counts with its sign.)
  int64_t bound = 1, sign = 1;
  bool has_zero = false;
  for (int64_t d : s) {
    has_zero |= d == 0;
    if (d < 0) sign = -sign;
    const int64_t magnitude = d == INT64_MIN ? 0 : (d < 0 ? -d : std::max<int64_t>(d, 1));
    if (magnitude == 0 || __builtin_mul_overflow(bound, magnitude, &bound)) [[unlikely]]
      fail_overflow(s, op);
  }
  return has_zero ? 0 : sign * bound;
}

Shape contiguous_strides(const Shape& s, std::string_view op) {
  Shape strides = Shape::filled(s.size(), 1);
  for (int i = s.size() - 2; i >= 0; --i)
    if (__builtin_mul_overflow(strides[i + 1], std::max<int64_t>(s[i + 1], 1), &strides[i]))
      [[unlikely]] fail_overflow(s, op);
  return strides;
}

int64_t checked_nbytes(const Shape& s, int64_t itemsize, std::string_view dtype_name,
                       std::string_view op) {
  for (int64_t d : s) check(d >= 0, "{}: negative size in shape {}", op, s);
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel(s, op), itemsize, &bytes)) [[unlikely]]
    fail("{}: a {} tensor of shape {} needs more than 2^63 bytes", op, dtype_name, s);
  return bytes;
}

int wrap_dim(int64_t dim, int ndim, std::string_view op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  check(dim >= lo && dim <= hi, "{}: dim {} out of range for a tensor with {} dims (expected {}..{})",
        op, dim, ndim, lo, hi);
  return static_cast<int>(dim < 0 ? dim + std::max(ndim, 1) : dim);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const int n = std::max(a.size(), b.size());
  Shape out = Shape::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    const int ia = a.size() - n + i, ib = b.size() - n + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    check(da == db || da == 1 || db == 1,
          "{}: shapes {} and {} are not broadcastable (dim {}: {} vs {})", op, a, b, i - n, da, db);
    out[i] = da == 1 ? db : da;
  }
  numel(out, op);  // {2^40,1} and {1,2^40} broadcast to a shape no count can hold
  return out;
}

}  // namespace dg
