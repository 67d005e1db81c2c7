// The per-element math the CPU and CUDA backends share (engine/scalar_math.h), tested on the CPU:
// the Adam update (the first step moves every parameter by about the learning rate against its
// gradient's sign; the CPU's strided path, which calls math::adam_update, agrees with its
// vectorised contiguous path) and the cross-entropy's target distribution.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "engine/scalar_math.h"
#include "tests/engine/test_util.h"

using namespace dg;

TEST_CASE("scalar_math: the first Adam step moves each parameter by about lr against its sign") {
  const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // Step 1 with bias correction: step_size = lr / (1 - beta1), correction = sqrt(1 - beta2).
  const auto k = math::adam_coefficients<double>(beta1, beta2, eps, lr / (1 - beta1),
                                                 std::sqrt(1 - beta2));
  for (double g : {-3.0, -0.25, 0.5, 7.0}) {
    double p = 1.0, m = 0.0, v = 0.0;
    math::adam_update(p, g, m, v, k);
    INFO("gradient " << g);
    CHECK(m == Approx((1 - beta1) * g));
    CHECK(v == Approx((1 - beta2) * g * g));
    CHECK(p == Approx(1.0 - lr * (g > 0 ? 1 : -1)).epsilon(1e-6));
  }
  // A zero gradient leaves a parameter with zero moments where it is.
  double p = 2.0, m = 0.0, v = 0.0;
  math::adam_update(p, 0.0, m, v, k);
  CHECK(p == 2.0);
}

TEST_CASE("scalar_math: the CPU's strided Adam path (math::adam_update) matches its vector path") {
  AdamStep step;
  step.step_size = 3e-3;
  step.bias_correction2_sqrt = 0.7;
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype_name(dtype));
    const Tensor p0 = to_dtype(test::uniform_f64({6, 5}, 1), dtype);
    const Tensor g0 = to_dtype(test::uniform_f64({6, 5}, 2), dtype);
    const Tensor m0 = to_dtype(test::uniform_f64({6, 5}, 3), dtype);
    const Tensor v0 = to_dtype(test::uniform_f64({6, 5}, 4, 0.0, 1.0), dtype);
    // Contiguous: the vectorised path.
    Tensor p = p0.clone(), g = g0.clone(), m = m0.clone(), v = v0.clone();
    backend(Device::cpu()).adam_step(p, g, m, v, step);
    // The same values seen through transposed views: the per-element path.
    auto transposed = [](const Tensor& t) {
      return t.transpose(0, 1).contiguous().transpose(0, 1);
    };
    Tensor pt = transposed(p0), gt = transposed(g0), mt = transposed(m0), vt = transposed(v0);
    REQUIRE(!pt.is_contiguous());
    backend(Device::cpu()).adam_step(pt, gt, mt, vt, step);
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-14;  // an FMA may differ by an ulp
    CHECK(test::max_abs_diff(pt, p) <= tol);
    CHECK(test::max_abs_diff(mt, m) <= tol);
    CHECK(test::max_abs_diff(vt, v) <= tol);
    CHECK(test::max_abs_diff(pt, p0) > 1e-4);  // the step did move the parameters
  }
}

TEST_CASE("scalar_math: the cross-entropy target distribution") {
  // Ignored: nothing.
  const math::TargetMass ignored = math::target_mass(true, 2.0, 0.1, 5, 7.0);
  CHECK(ignored.on_target == 0);
  CHECK(ignored.smooth == 0);
  CHECK(ignored.total == 0);
  // Unit weights: a distribution over the classes, summing to 1 whatever the smoothing.
  for (double smoothing : {0.0, 0.1, 1.0}) {
    const math::TargetMass m = math::target_mass(false, 1.0, smoothing, 4, 4.0);
    INFO("smoothing " << smoothing);
    CHECK(m.on_target == Approx(1 - smoothing));
    CHECK(m.smooth == Approx(smoothing / 4));
    CHECK(m.on_target + 4 * m.smooth == Approx(1.0));
    CHECK(m.total == Approx(1.0));
  }
  // Class weights: the target class's weight, plus the smoothed share of all weights.
  const math::TargetMass w = math::target_mass(false, 3.0, 0.2, 4, 10.0);
  CHECK(w.on_target == Approx(0.8 * 3.0));
  CHECK(w.total == Approx(0.8 * 3.0 + 0.2 / 4 * 10.0));
}
