// Tests of adam_step_ (engine/ops/inplace.cpp, kernel in engine/cpu/elementwise_kernels.cpp), the
// fused Adam update the optimizers use: against the chain of in-place ops it replaces over several
// steps in f64 and f32, on contiguous and strided operands and on enough elements for the threaded
// path; that it bumps the versions of all three tensors it writes; and its refusals. The
// optimizers' agreement with PyTorch is tested in tests/nn/test_optim.cpp.
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "tests/engine/test_util.h"

using namespace dg;
using Catch::Contains;

namespace {

// The same update as a chain of in-place ops, each rounding its result.
void adam_chain(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& s) {
  m.mul_(s.beta1);
  m.add_(g * (1 - s.beta1));
  v.mul_(s.beta2);
  v.add_(g * (1 - s.beta2) * g);
  Tensor denom = v.clone();
  denom.sqrt_();
  denom.div_(s.bias_correction2_sqrt);
  denom.add_(s.eps);
  Tensor update = m.clone();
  update.mul_(-s.step_size);
  update.div_(denom);
  p.add_(update);
}

AdamStep step_number(int t) {
  AdamStep s;
  s.beta1 = 0.8;
  s.beta2 = 0.95;
  s.eps = 1e-6;
  s.step_size = 0.01 / (1 - std::pow(s.beta1, t));
  s.bias_correction2_sqrt = std::sqrt(1 - std::pow(s.beta2, t));
  return s;
}

void check_against_chain(const Shape& shape, DType dtype, bool strided_grad) {
  CAPTURE(shape, dtype_name(dtype), strided_grad);
  NoGradGuard no_grad;
  Tensor p = to_dtype(test::uniform_f64(shape, 1), dtype), p_ref = p.clone();
  Tensor m = zeros(shape, dtype), m_ref = m.clone();
  Tensor v = zeros(shape, dtype), v_ref = v.clone();
  for (int t = 1; t <= 4; ++t) {
    Tensor g = to_dtype(test::uniform_f64(shape, 10 + t), dtype);
    if (strided_grad)  // the same values through a transposed layout
      g = transpose(contiguous(transpose(g, 0, 1)), 0, 1);
    adam_step_(p, g, m, v, step_number(t));
    adam_chain(p_ref, g, m_ref, v_ref, step_number(t));
  }
  // f32: an FMA the compiler forms in the fused loop rounds once where the chain rounds twice.
  const double tolerance = dtype == DType::f64 ? 1e-14 : 1e-6;
  CHECK(test::max_abs_diff(m, m_ref) <= tolerance);
  CHECK(test::max_abs_diff(v, v_ref) <= tolerance);
  CHECK(test::max_abs_diff(p, p_ref) <= tolerance);
}

}  // namespace

TEST_CASE("adam_step_ equals the chain of in-place ops it replaces", "[optim]") {
  for (DType dtype : {DType::f64, DType::f32}) {
    check_against_chain({3, 5}, dtype, false);
    check_against_chain({3, 5}, dtype, true);
    check_against_chain({300, 257}, dtype, false);  // threaded
    check_against_chain({300, 257}, dtype, true);
  }
}

TEST_CASE("adam_step_ bumps the versions of the tensors it writes", "[optim]") {
  NoGradGuard no_grad;
  Tensor p = ones({4}), g = ones({4}), m = zeros({4}), v = zeros({4});
  const uint64_t p0 = p.version(), g0 = g.version(), m0 = m.version(), v0 = v.version();
  adam_step_(p, g, m, v, step_number(1));
  CHECK(p.version() > p0);
  CHECK(m.version() > m0);
  CHECK(v.version() > v0);
  CHECK(g.version() == g0);
}

TEST_CASE("adam_step_ refuses mismatched operands and recorded parameters", "[optim]") {
  Tensor p = ones({4}), m = zeros({4}), v = zeros({4});
  {
    NoGradGuard no_grad;
    CHECK_THROWS_WITH(adam_step_(p, ones({5}), m, v, step_number(1)),
                      Contains("adam_step_") && Contains("[5]") && Contains("differ in shape"));
    CHECK_THROWS_WITH(adam_step_(p, ones({4}, DType::f64), m, v, step_number(1)),
                      Contains("adam_step_"));
    CHECK_THROWS_WITH(adam_step_(p, ones({4}), zeros({2, 2}), v, step_number(1)),
                      Contains("adam_step_") && Contains("[2,2]") && Contains("differ in shape"));
  }
  p.set_requires_grad(true);
  CHECK_THROWS_WITH(adam_step_(p, ones({4}), m, v, step_number(1)),
                    Contains("adam_step_") && Contains("requires grad"));
}
