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

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape strides = Shape::filled(s.size(), 1);
  for (int i = s.size() - 2; i >= 0; --i) strides[i] = strides[i + 1] * std::max<int64_t>(s[i + 1], 1);
  return strides;
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
  return out;
}

}  // namespace dg
