// Helpers shared by the engine tests: deterministic test inputs (independent of the engine's own
// RNG, so a bug there cannot hide a bug elsewhere) and closeness checks.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/ops/ops.h"

namespace dg::test {

// Values in [lo, hi) from a fixed hash of (seed, index): same inputs on every run and platform.
inline std::vector<double> hashed_values(int64_t n, uint64_t seed, double lo, double hi) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = (seed + 1) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[i] = lo + (hi - lo) * static_cast<double>(z >> 11) / 9007199254740992.0;
  }
  return v;
}

// About density * m of the positions [0, m), chosen by hashed values, in increasing order (the
// dynamic positions of a compacted kernel, or any sparse index set).
inline std::vector<int64_t> increasing_positions(int64_t m, double density, uint64_t seed) {
  const std::vector<double> u = hashed_values(m, seed, 0.0, 1.0);
  std::vector<int64_t> out;
  for (int64_t j = 0; j < m; ++j)
    if (u[j] < density) out.push_back(j);
  return out;
}

// An f64 tensor with values in [lo, hi).
inline Tensor uniform_f64(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return from_vector(hashed_values(numel(shape), seed, lo, hi), shape);
}

// As uniform_f64, then requires grad (a leaf input for gradcheck).
inline Tensor grad_input(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return uniform_f64(shape, seed, lo, hi).set_requires_grad(true);
}

inline Tensor uniform_f32(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return to_dtype(uniform_f64(shape, seed, lo, hi), DType::f32);
}

// Max |a - b| over all elements (shapes must match).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace dg::test
