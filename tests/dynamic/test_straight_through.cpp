// Straight-through estimators (dynamic/straight_through.h) and the engine's hard Gumbel-softmax:
// the forward value is exactly the hard decision, and the gradient is the identity's (round,
// argmax) or the soft sample's (Gumbel-softmax).
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/straight_through.h"
#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

TEST_CASE("round_half_away: nearest integer, halves away from zero", "[dynamic][policy]") {
  const Tensor x = tensor_f64({-2.5, -1.5, -0.6, -0.4, -0.0, 0.3, 0.5, 0.999, 1.5, 2.4999, 7.0});
  CHECK(round_half_away(x).to_vector<double>() ==
        std::vector<double>{-3, -2, -1, 0, 0, 0, 1, 1, 2, 2, 7});
  CHECK(round_half_away(tensor({0.49f, 0.5f})).to_vector<float>() == std::vector<float>{0, 1});
  // The largest values below one half, where |x| + 0.5 rounds up to 1.
  CHECK(round_half_away(tensor({std::nextafter(0.5f, 0.0f), -std::nextafter(0.5f, 0.0f)})).to_vector<float>() ==
        std::vector<float>{0, 0});
  CHECK(round_half_away(from_vector(std::vector<double>{std::nextafter(0.5, 0.0)})).to_vector<double>() ==
        std::vector<double>{0});
}

TEST_CASE("straight_through_round: exact integers forward, the identity's gradient backward",
          "[dynamic][policy]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = to_dtype(uniform_f64({4, 5}, 11, -3.0, 3.0), dtype).set_requires_grad(true);
    const Tensor v = to_dtype(uniform_f64({4, 5}, 12), dtype);
    const Tensor y = straight_through_round(x);
    CHECK(max_abs_diff(y, round_half_away(x)) == 0.0);
    sum(y * v).backward();
    Tensor x2 = x.detach().clone().set_requires_grad(true);
    sum(x2 * v).backward();  // the identity
    CHECK(max_abs_diff(x.grad(), x2.grad()) == 0.0);
  }
}

TEST_CASE("straight_through_argmax: one-hot forward, the identity's gradient backward",
          "[dynamic][policy]") {
  Tensor p = softmax(uniform_f64({3, 4}, 21, -2.0, 2.0), -1).detach().set_requires_grad(true);
  const Tensor y = straight_through_argmax(p, -1);
  const auto hard = y.to_vector<double>();
  const auto arg = argmax(p, -1).to_vector<int64_t>();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t k = 0; k < 4; ++k) CHECK(hard[r * 4 + k] == (k == arg[r] ? 1.0 : 0.0));
  const Tensor v = uniform_f64({3, 4}, 22);
  sum(y * v).backward();
  CHECK(max_abs_diff(p.grad(), v) == 0.0);
}

TEST_CASE("gumbel_softmax hard: one-hot values with the soft sample's gradient", "[dynamic][policy]") {
  const Tensor base = uniform_f64({6, 5}, 31, -1.5, 1.5);
  const Tensor v = uniform_f64({6, 5}, 32);
  for (double tau : {0.5, 1.0, 2.0}) {
    Tensor a = base.clone().set_requires_grad(true), b = base.clone().set_requires_grad(true);
    Generator g1(5), g2(5);  // the same noise for both
    const Tensor soft = gumbel_softmax(a, tau, /*hard=*/false, -1, &g1);
    const Tensor hard = gumbel_softmax(b, tau, /*hard=*/true, -1, &g2);
    const auto h = hard.to_vector<double>();
    const auto arg = argmax(soft, -1).to_vector<int64_t>();
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t k = 0; k < 5; ++k) CHECK(h[r * 5 + k] == (k == arg[r] ? 1.0 : 0.0));
    sum(soft * v).backward();
    sum(hard * v).backward();
    CHECK(max_abs_diff(a.grad(), b.grad()) < 1e-12);
    CHECK(amax(abs(b.grad())).item<double>() > 0.0);  // a real gradient, not zero
  }
}
