// Confidence exits: the entropy and maximum probability of a row against hand computations, each
// rule stopping exactly where its threshold says, and temperature scaling lowering the validation
// NLL of over-confident logits.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/early_exit/confidence_exit.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using dg::exit_test::signals;

TEST_CASE("softmax_entropy and max_probability match their definitions", "[early_exit][confidence]") {
  const std::vector<double> z{1.0, 2.0, 0.5, -1.0};
  for (const double t : {1.0, 0.5, 3.0}) {
    double total = 0;
    std::vector<double> p;
    for (const double v : z) total += std::exp(v / t);
    double h = 0, top = 0;
    for (const double v : z) {
      p.push_back(std::exp(v / t) / total);
      h -= p.back() * std::log(p.back());
      top = std::max(top, p.back());
    }
    CHECK(softmax_entropy(z, t) == Approx(h).epsilon(1e-13));
    CHECK(max_probability(z, t) == Approx(top).epsilon(1e-13));
  }
  // Uniform logits: entropy log C; huge logits do not overflow.
  CHECK(softmax_entropy(std::vector<double>{3, 3, 3}) == Approx(std::log(3.0)).epsilon(1e-14));
  CHECK(softmax_entropy(std::vector<double>{1000, 0}) == Approx(0.0).margin(1e-300));
  CHECK(max_probability(std::vector<double>{1000, -1000}) == 1.0);
  CHECK_THROWS_AS(softmax_entropy(z, 0.0), Error);
}

TEST_CASE("entropy exits stop exactly the rows below the threshold, all rows at the last exit",
          "[early_exit][confidence]") {
  // Row 0 confident (entropy ~0.0247), row 1 uniform (log 3), row 2 in between.
  const std::vector<double> logits{6, 0, 0, /**/ 1, 1, 1, /**/ 2, 0, 0.5};
  const std::vector<int64_t> samples{4, 7, 9};
  const double h2 = softmax_entropy(std::vector<double>{2, 0, 0.5});
  EntropyExit rule(h2 + 1e-9);  // row 2 just below
  const ExitDecision d = rule.decide(signals(0, 3, samples, logits, 3));
  CHECK(d.stop == std::vector<bool>{true, false, true});
  CHECK(d.prediction == std::vector<int64_t>{0, 0, 0});
  rule.set_threshold(h2 - 1e-9);
  CHECK(rule.decide(signals(0, 3, samples, logits, 3)).stop == std::vector<bool>{true, false, false});
  rule.set_threshold(0.0);  // never confident enough: only the last exit stops
  CHECK(rule.decide(signals(1, 3, samples, logits, 3)).stop == std::vector<bool>{false, false, false});
  CHECK(rule.decide(signals(2, 3, samples, logits, 3)).stop == std::vector<bool>{true, true, true});

  // FastBERT's normalised entropy is H / log C: the uniform row is exactly 1.
  NormalizedEntropyExit normalized(1.0);
  CHECK(normalized.decide(signals(0, 3, samples, logits, 3)).stop == std::vector<bool>{true, false, true});
  normalized.set_threshold(h2 / std::log(3.0) + 1e-9);
  CHECK(normalized.decide(signals(0, 3, samples, logits, 3)).stop == std::vector<bool>{true, false, true});
  normalized.set_threshold(h2 / std::log(3.0) - 1e-9);
  CHECK(normalized.decide(signals(0, 3, samples, logits, 3)).stop == std::vector<bool>{true, false, false});
}

TEST_CASE("calibrated max probability uses each exit's temperature", "[early_exit][confidence]") {
  const std::vector<double> logits{2, 0, 0};  // p_max = e^2 / (e^2 + 2) = 0.787 at T = 1
  const std::vector<int64_t> samples{0};
  CalibratedMaxProbExit rule(0.7, {1.0, 4.0});
  CHECK(rule.decide(signals(0, 2, samples, logits, 3)).stop == std::vector<bool>{true});
  // At T = 4 the same logits give p_max = e^0.5 / (e^0.5 + 2) = 0.452 < 0.7; the last exit stops anyway.
  CalibratedMaxProbExit hot(0.7, {4.0, 4.0, 4.0});
  CHECK(hot.decide(signals(1, 3, samples, logits, 3)).stop == std::vector<bool>{false});
  CHECK(max_probability(logits, 4.0) == Approx(std::exp(0.5) / (std::exp(0.5) + 2)).epsilon(1e-14));
  CHECK_THROWS_AS(rule.decide(signals(0, 3, samples, logits, 3)), Error);  // 2 temperatures, 3 exits
  CHECK_THROWS_AS(CalibratedMaxProbExit(0.5, {1.0, -1.0}), Error);
}

TEST_CASE("fit_temperature lowers the validation NLL of over-confident logits", "[early_exit][confidence]") {
  // Validation logits of a classifier that is right 70% of the time but says so with logits 8 apart
  // (over-confident): the NLL-optimal temperature is well above 1.
  const int64_t n = 200, classes = 4;
  std::vector<double> logits(static_cast<size_t>(n * classes), 0.0);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  const std::vector<double> u = test::hashed_values(2 * n, 11, 0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = i % classes;
    const bool right = u[static_cast<size_t>(i)] < 0.7;
    const int64_t predicted = right ? i % classes : (i + 1) % classes;
    logits[static_cast<size_t>(i * classes + predicted)] = 8.0 + u[static_cast<size_t>(n + i)];
  }
  const double t = fit_temperature(logits, labels, classes);
  const double before = temperature_nll(logits, labels, classes, 1.0);
  const double after = temperature_nll(logits, labels, classes, t);
  CHECK(t > 2.0);
  CHECK(after < 0.5 * before);
  // A minimum: nearby temperatures do no better.
  CHECK(temperature_nll(logits, labels, classes, t * 1.01) >= after);
  CHECK(temperature_nll(logits, labels, classes, t / 1.01) >= after);

  // Under-confident logits (right 95% of the time with a margin of 0.3) get T < 1.
  std::vector<double> timid(static_cast<size_t>(n * classes), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t predicted = u[static_cast<size_t>(i)] < 0.95 ? i % classes : (i + 1) % classes;
    timid[static_cast<size_t>(i * classes + predicted)] = 0.3;
  }
  const double t_timid = fit_temperature(timid, labels, classes);
  CHECK(t_timid < 1.0);
  CHECK(temperature_nll(timid, labels, classes, t_timid) < temperature_nll(timid, labels, classes, 1.0));
  CHECK_THROWS_AS(fit_temperature(logits, labels, 3), Error);  // wrong class count
}
