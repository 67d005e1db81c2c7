// Helpers shared by the mixture-of-experts tests: f64 parameter options, assigning a router's
// weights, and reading 2-D tensors as nested vectors.
#pragma once

#include <catch2/catch.hpp>

#include <vector>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "nn/layer_options.h"
#include "tests/engine/test_util.h"

namespace dg::moe_test {

inline const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

// Overwrites t's values in place, outside autograd.
inline void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor handle = t;
  handle.copy_(values);
}

inline std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
inline std::vector<double> reals(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace dg::moe_test
