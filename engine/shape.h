// Shape: the sizes (or strides) of a tensor, held inline for up to kMaxDims dims so that creating a
// tensor never allocates for its metadata. Also the shape algebra every op shares: numel, contiguous
// strides, dim wrapping and NumPy broadcasting.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "engine/error.h"

namespace dg {

class Shape {
 public:
  static constexpr int kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> sizes) { assign(sizes.begin(), sizes.end()); }
  explicit Shape(std::span<const int64_t> sizes) { assign(sizes.begin(), sizes.end()); }
  explicit Shape(const std::vector<int64_t>& sizes) { assign(sizes.begin(), sizes.end()); }
  // n dims, each equal to `value`.
  static Shape filled(int n, int64_t value) {
    Shape s;
    s.resize(n, value);
    return s;
  }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t back() const { return d_[n_ - 1]; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + n_; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  const int64_t* data() const { return d_.data(); }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  void push_back(int64_t v) {
    check(n_ < kMaxDims, "tensor: at most {} dims are supported", kMaxDims);
    d_[n_++] = v;
  }
  void pop_back() { --n_; }
  void resize(int n, int64_t value = 0) {
    check(n >= 0 && n <= kMaxDims, "tensor: at most {} dims are supported, got {}", kMaxDims, n);
    for (int i = n_; i < n; ++i) d_[i] = value;
    n_ = n;
  }
  void insert(int pos, int64_t v) {
    push_back(0);
    for (int i = n_ - 1; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
    --n_;
  }

  bool operator==(const Shape& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }

 private:
  template <class It>
  void assign(It first, It last) {
    n_ = 0;
    for (; first != last; ++first) push_back(*first);
  }
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

// "[2,3,4]"
std::string to_string(const Shape& s);

// The number of elements. Every shape product is checked: a shape whose element count (or the
// product of its non-zero sizes, which bounds its contiguous strides) does not fit in int64 is a
// dg::Error naming `op` and the shape, never a wrapped count that would size a short buffer.
int64_t numel(const Shape& s, std::string_view op = "tensor");
// Row-major strides in elements (checked like numel).
Shape contiguous_strides(const Shape& s, std::string_view op = "tensor");
// The bytes a contiguous tensor of this shape and element size needs; a dg::Error naming `op`,
// the shape and the dtype when a size is negative or the byte count does not fit in int64.
int64_t checked_nbytes(const Shape& s, int64_t itemsize, std::string_view dtype_name,
                       std::string_view op);

// Turns a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int wrap_dim(int64_t dim, int ndim, std::string_view op);

// NumPy broadcasting of two shapes; throws naming `op` when they are not broadcastable.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

}  // namespace dg

template <>
struct fmt::formatter<dg::Shape> : fmt::formatter<std::string_view> {
  auto format(const dg::Shape& s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dg::to_string(s), ctx);
  }
};
