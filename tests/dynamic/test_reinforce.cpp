// REINFORCE (dynamic/reinforce.h) on a two-armed bandit, where the true policy gradient is known:
// with logits theta, p = softmax(theta) and mean rewards mu, J = sum_k p_k mu_k and
// dJ/dtheta_j = p_j (mu_j - J). Over many seeds, the mean of the estimates (minus the gradient of
// reinforce_loss) must lie within 3 standard errors of it, with no baseline and with each of the
// three baselines; each baseline must also lower the estimate's spread. Plus the losses' and
// baselines' own rules and their bad-input errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "dynamic/distributions.h"
#include "dynamic/reinforce.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::dynamic;

namespace {

constexpr double kMu[2] = {2.0, 1.0};  // mean reward of each arm
constexpr double kNoise = 0.5;         // reward = mu[arm] + kNoise * N(0, 1)
constexpr int64_t kPulls = 32;         // samples per estimate
constexpr int kSeeds = 600;

// Rewards of the given arms, with noise from the generator.
Tensor pull(const std::vector<int64_t>& arms, Generator& g) {
  std::vector<double> r(arms.size());
  for (size_t i = 0; i < arms.size(); ++i) r[i] = kMu[arms[i]] + kNoise * g.next_normal();
  return from_vector(r);
}

// Returns the baseline for this batch (reward, arms, generator) and may learn from the batch after.
using BaselineFn = std::function<Tensor(const Tensor& reward, Generator& g)>;

struct Estimates {
  double mean[2], standard_error[2];
};

Estimates estimate(const BaselineFn& baseline, const std::function<void(const Tensor&)>& after = {}) {
  const std::vector<double> theta_values{0.4, -0.3};
  double s1[2] = {0, 0}, s2[2] = {0, 0};
  for (int seed = 0; seed < kSeeds; ++seed) {
    Generator g(1000 + seed);
    Tensor theta = from_vector(theta_values).set_requires_grad(true);
    const Categorical policy(expand(reshape(theta, {1, 2}), {kPulls, 2}));
    const Tensor arms = policy.sample(g);
    const Tensor reward = pull(arms.to_vector<int64_t>(), g);
    const Tensor b = baseline ? baseline(reward, g) : Tensor();
    reinforce_loss(policy.log_prob(arms), reward, b).backward();
    if (after) after(reward);
    const auto grad = theta.grad().to_vector<double>();
    for (int j = 0; j < 2; ++j) {
      s1[j] += -grad[j];
      s2[j] += grad[j] * grad[j];
    }
  }
  Estimates e{};
  for (int j = 0; j < 2; ++j) {
    e.mean[j] = s1[j] / kSeeds;
    const double var = (s2[j] - kSeeds * e.mean[j] * e.mean[j]) / (kSeeds - 1);
    e.standard_error[j] = std::sqrt(var / kSeeds);
  }
  return e;
}

// dJ/dtheta for theta = (0.4, -0.3).
std::array<double, 2> analytic_gradient() {
  const double z = std::exp(0.4) + std::exp(-0.3);
  const double p[2] = {std::exp(0.4) / z, std::exp(-0.3) / z};
  const double J = p[0] * kMu[0] + p[1] * kMu[1];
  return {p[0] * (kMu[0] - J), p[1] * (kMu[1] - J)};
}

void check_unbiased(const Estimates& e, const char* name) {
  const auto truth = analytic_gradient();
  for (int j = 0; j < 2; ++j) {
    INFO(name << ": component " << j << ": estimate " << e.mean[j] << " +- " << e.standard_error[j]
              << ", analytic " << truth[j]);
    CHECK(std::abs(e.mean[j] - truth[j]) < 3 * e.standard_error[j]);
    CHECK(e.standard_error[j] > 0.0);
  }
}

}  // namespace

TEST_CASE("REINFORCE on a two-armed bandit: unbiased with every baseline, which lower the variance",
          "[dynamic][policy]") {
  const Estimates none = estimate({});
  check_unbiased(none, "no baseline");

  MovingAverageBaseline moving(0.9);
  const Estimates averaged = estimate(
      [&](const Tensor& reward, Generator&) { return moving.as_tensor(reward); },
      [&](const Tensor& reward) { moving.update(reward); });
  check_unbiased(averaged, "moving average");
  CHECK(moving.value() == Approx(1.6).margin(0.2));  // near J = 1.67

  // Self-critical: the greedy arm (argmax of theta: arm 0) pulled once per sample, fresh noise.
  const Estimates critical = estimate([](const Tensor& reward, Generator& g) {
    return pull(std::vector<int64_t>(reward.numel(), 0), g);
  });
  check_unbiased(critical, "self-critical");

  // A learned value on a constant state, one SGD step per batch on its MSE.
  LearnedBaseline learned(1, {.generator = nullptr, .dtype = DType::f64});
  const Tensor state = ones({kPulls, 1}, DType::f64);
  const Estimates fitted = estimate(
      [&](const Tensor&, Generator&) { return learned(state).detach(); },
      [&](const Tensor& reward) {
        for (Tensor p : learned.parameters()) p.zero_grad();
        LearnedBaseline::loss(learned(state), reward).backward();
        NoGradGuard no_grad;
        for (Tensor p : learned.parameters()) p.sub_(p.grad() * 0.1);
      });
  check_unbiased(fitted, "learned value");
  CHECK(learned(state).to_vector<double>()[0] == Approx(1.67).margin(0.3));

  for (int j = 0; j < 2; ++j) {
    CHECK(averaged.standard_error[j] < 0.7 * none.standard_error[j]);
    CHECK(fitted.standard_error[j] < 0.7 * none.standard_error[j]);
    CHECK(critical.standard_error[j] < none.standard_error[j]);
  }
}

TEST_CASE("reinforce_loss: -mean((reward - baseline) * log_prob), only log_prob differentiated",
          "[dynamic][policy]") {
  Tensor lp = tensor_f64({-0.5, -1.0, -2.0}).set_requires_grad(true);
  Tensor reward = tensor_f64({1.0, 0.0, 3.0}).set_requires_grad(true);
  const Tensor b = tensor_f64({0.5, 0.5, 0.5});
  const Tensor loss = reinforce_loss(lp, reward, b);
  CHECK(loss.item<double>() == Approx(-(0.5 * -0.5 + -0.5 * -1.0 + 2.5 * -2.0) / 3).epsilon(1e-12));
  loss.backward();
  CHECK(dg::test::max_abs_diff(lp.grad(), tensor_f64({-0.5 / 3, 0.5 / 3, -2.5 / 3})) < 1e-15);
  CHECK_FALSE(reward.grad().defined());
  CHECK(reinforce_loss(lp.detach(), reward.detach(), scalar(1.0, DType::f64)).item<double>() ==
        Approx(-(0.0 * -0.5 + -1.0 * -1.0 + 2.0 * -2.0) / 3).epsilon(1e-12));
  CHECK(self_critical_advantage(tensor_f64({1.0, 2.0}), tensor_f64({1.5, 1.5})).to_vector<double>() ==
        std::vector<double>{-0.5, 0.5});

  CHECK_THROWS_WITH(reinforce_loss(lp, tensor_f64({1.0, 2.0})), Catch::Contains("reinforce_loss"));
  CHECK_THROWS_AS(reinforce_loss(lp, reward, tensor_f64({1.0, 2.0})), Error);
  CHECK_THROWS_AS(reinforce_loss(zeros({3, 1}, DType::f64), reward), Error);
  CHECK_THROWS_AS(MovingAverageBaseline(1.0), Error);
  CHECK_THROWS_AS(LearnedBaseline(2)(zeros({3, 3})), Error);
}

TEST_CASE("MovingAverageBaseline: first batch sets it, then an exponential average", "[dynamic][policy]") {
  MovingAverageBaseline b(0.75);
  CHECK(b.value() == 0.0);
  b.update(tensor({1.0f, 3.0f}));
  CHECK(b.value() == 2.0);
  b.update(tensor({6.0f}));
  CHECK(b.value() == Approx(0.75 * 2.0 + 0.25 * 6.0));
}
