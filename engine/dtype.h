// Element types and the one switch that turns a runtime dtype into a C++ type. Kernels are written
// once as templates over the element type and reached through visit_dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/error.h"

namespace dg {

enum class DType : uint8_t { f32, f64, i64, b8 };

constexpr size_t itemsize(DType d) {
  switch (d) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::b8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::b8: return "bool";
  }
  return "?";
}

constexpr bool is_floating(DType d) { return d == DType::f32 || d == DType::f64; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<bool>() { return DType::b8; }

// Calls f.template operator()<T>() with T the C++ type of `d`.
template <class F>
decltype(auto) visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::i64: return f.template operator()<int64_t>();
    case DType::b8: return f.template operator()<bool>();
  }
  fail("visit_dtype: unknown dtype {}", static_cast<int>(d));
}

// As visit_dtype, for the two floating types only; `op` names the caller in the error.
template <class F>
decltype(auto) visit_floating(DType d, std::string_view op, F&& f) {
  switch (d) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    default: fail("{}: expected a floating dtype (f32 or f64), got {}", op, dtype_name(d));
  }
}

}  // namespace dg

template <>
struct fmt::formatter<dg::DType> : fmt::formatter<std::string_view> {
  auto format(dg::DType d, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dg::dtype_name(d), ctx);
  }
};
