// Bernoulli and Categorical (dynamic/distributions.h): log_prob and entropy against hand
// computations, sampling frequencies against the probabilities (seeded, so the same draws every
// run), modes, impossible choices, bad input, and float64 gradient checks of the differentiable
// parts (log_prob and entropy in the logits).
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/distributions.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/gradcheck.h"
#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::test::grad_input;

namespace {

double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

TEST_CASE("Bernoulli: log_prob, entropy, probs and mode by hand", "[dynamic][policy]") {
  const std::vector<double> l{-2.0, -0.1, 0.0, 0.7, 3.0};
  const Bernoulli d(from_vector(l));
  const std::vector<double> v{1, 0, 1, 0, 1};
  const auto lp = d.log_prob(from_vector(v)).to_vector<double>();
  const auto h = d.entropy().to_vector<double>();
  const auto p = d.probs().to_vector<double>();
  const auto m = d.mode().to_vector<double>();
  for (size_t i = 0; i < l.size(); ++i) {
    const double q = sigmoid_of(l[i]);
    CHECK(p[i] == Approx(q).epsilon(1e-12));
    CHECK(lp[i] == Approx(v[i] ? std::log(q) : std::log(1 - q)).epsilon(1e-12));
    CHECK(h[i] == Approx(-q * std::log(q) - (1 - q) * std::log(1 - q)).epsilon(1e-12));
    CHECK(m[i] == (l[i] > 0 ? 1.0 : 0.0));
  }
  const Bernoulli from_p = Bernoulli::from_probs(from_vector(std::vector<double>{0.2, 0.9}));
  CHECK(from_p.probs().to_vector<double>()[0] == Approx(0.2).epsilon(1e-12));
  CHECK(from_p.probs().to_vector<double>()[1] == Approx(0.9).epsilon(1e-12));
}

TEST_CASE("Bernoulli: seeded samples follow the probabilities", "[dynamic][policy]") {
  const int64_t n = 20000;
  const std::vector<double> probs{0.05, 0.5, 0.8};
  const Bernoulli d = Bernoulli::from_probs(
      expand(reshape(from_vector(probs), {1, 3}), {n, 3}).contiguous());
  Generator g1(7), g2(7);
  const Tensor s = d.sample(g1);
  CHECK(test::max_abs_diff(s, d.sample(g2)) == 0.0);  // same seed, same decisions
  CHECK_FALSE(s.requires_grad());
  const auto freq = mean(s, {0}).to_vector<double>();
  for (size_t k = 0; k < probs.size(); ++k) {
    const double se = std::sqrt(probs[k] * (1 - probs[k]) / n);
    CHECK(std::abs(freq[k] - probs[k]) < 4 * se);
  }
}

TEST_CASE("Categorical: log_prob, entropy and mode by hand; impossible choices", "[dynamic][policy]") {
  const Tensor logits = tensor_f64({0.5, -1.0, 2.0, 0.0, 0.0, -INFINITY}, {2, 3});
  const Categorical d(logits);
  CHECK(d.num_choices() == 3);
  const auto lp = d.log_prob(tensor_i64({2, 1})).to_vector<double>();
  const double z0 = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
  CHECK(lp[0] == Approx(2.0 - std::log(z0)).epsilon(1e-12));
  CHECK(lp[1] == Approx(std::log(0.5)).epsilon(1e-12));
  const auto h = d.entropy().to_vector<double>();
  double h0 = 0;
  for (double x : {0.5, -1.0, 2.0}) h0 -= std::exp(x) / z0 * (x - std::log(z0));
  CHECK(h[0] == Approx(h0).epsilon(1e-12));
  CHECK(h[1] == Approx(std::log(2.0)).epsilon(1e-12));  // the impossible choice adds 0, not NaN
  CHECK(d.mode().to_vector<int64_t>() == std::vector<int64_t>{2, 0});

  // The entropy's gradient stays finite with an impossible choice.
  Tensor x = tensor_f64({0.0, 1.0, -INFINITY}, {1, 3}).set_requires_grad(true);
  sum(Categorical(x).entropy()).backward();
  const auto g = x.grad().to_vector<double>();
  CHECK(std::isfinite(g[0]));
  CHECK(std::isfinite(g[1]));
  CHECK(g[2] == 0.0);
}

TEST_CASE("Categorical: seeded samples follow the probabilities, never an impossible choice",
          "[dynamic][policy]") {
  const int64_t n = 20000;
  const Tensor row = tensor_f64({0.1, 0.6, -INFINITY, 1.2}, {1, 4});
  const Categorical d(expand(row, {n, 4}).contiguous());
  Generator g1(3), g2(3);
  const Tensor s = d.sample(g1);
  CHECK(s.dtype() == DType::i64);
  CHECK(s.shape() == Shape{n});
  CHECK(s.to_vector<int64_t>() == d.sample(g2).to_vector<int64_t>());
  const auto p = softmax(row, -1).to_vector<double>();
  std::vector<double> count(4, 0.0);
  for (int64_t k : s.to_vector<int64_t>()) count[k] += 1.0;
  CHECK(count[2] == 0.0);
  for (int k = 0; k < 4; ++k) {
    const double se = std::sqrt(p[k] * (1 - p[k]) / n) + 1e-12;
    CHECK(std::abs(count[k] / n - p[k]) < 4 * se);
  }
}

TEST_CASE("Distributions: bad input names the distribution and the shapes", "[dynamic][policy]") {
  CHECK_THROWS_AS(Bernoulli(tensor_i64({1, 0})), Error);
  CHECK_THROWS_AS(Bernoulli(tensor_f64({0.1})).log_prob(tensor({1.0f})), Error);  // dtype
  CHECK_THROWS_AS(Categorical(scalar(1.0, DType::f64)), Error);
  const Categorical d(zeros({2, 3}, DType::f64));
  CHECK_THROWS_AS(d.log_prob(tensor_i64({0, 1, 2})), Error);
  CHECK_THROWS_WITH(d.log_prob(tensor_i64({0})), Catch::Contains("Categorical::log_prob"));
}

TEST_CASE("Distributions: float64 gradient checks of log_prob and entropy", "[dynamic][policy]") {
  const Tensor value = tensor_f64({1, 0, 1, 1, 0, 0}, {2, 3});
  CHECK(gradcheck([&](const std::vector<Tensor>& x) { return Bernoulli(x[0]).log_prob(value); },
                  {grad_input({2, 3}, 1, -2.0, 2.0)}).ok);
  CHECK(gradcheck([](const std::vector<Tensor>& x) { return Bernoulli(x[0]).entropy(); },
                  {grad_input({2, 3}, 2, -2.0, 2.0)}).ok);
  const Tensor index = tensor_i64({3, 0, 1});
  CHECK(gradcheck([&](const std::vector<Tensor>& x) { return Categorical(x[0]).log_prob(index); },
                  {grad_input({3, 4}, 3, -2.0, 2.0)}).ok);
  CHECK(gradcheck([](const std::vector<Tensor>& x) { return Categorical(x[0]).entropy(); },
                  {grad_input({3, 4}, 4, -2.0, 2.0)}).ok);
}
