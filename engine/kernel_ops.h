// The operation codes the elementwise and reduction kernels of the Backend table take
// (engine/backend.h). They live apart from backend.h so that code which must not see Tensor (the
// CUDA kernels, compiled by nvcc: cuda/) can name them, through engine/scalar_math.h.
#pragma once

#include <cstdint>

namespace dg {

enum class UnaryOp : uint8_t {
  neg, exp, log, log1p, sqrt, rsqrt, abs, sign, sin, cos, erf,
  tanh, sigmoid, relu, silu, gelu_erf, gelu_tanh,
  softplus,     // p0 = beta, p1 = threshold
  leaky_relu,   // p0 = negative slope
  clamp,        // p0 = lo, p1 = hi (use +-inf for an open side)
  pow_scalar,   // p0 = exponent
  logical_not,
};

enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  // Backward of an activation from (grad, output) in one pass; used when no graph of the
  // backward itself is being recorded (the composed formulas serve create_graph).
  sigmoid_grad, tanh_grad, relu_grad,
  eq, ne, lt, le, gt, ge,  // out is bool
  logical_and, logical_or, logical_xor,  // inputs and out are bool
};

enum class ReduceOp : uint8_t { sum, max, min };

}  // namespace dg
