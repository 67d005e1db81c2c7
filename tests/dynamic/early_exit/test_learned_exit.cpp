// BERxiT's learned exit: the LTE module's score decides, and its loss is the hand-computed MSE
// against each exit's correctness.
#include <catch2/catch.hpp>

#include "dynamic/early_exit/learned_exit.h"
#include "dynamic/early_exit/training.h"
#include "engine/autograd.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using namespace dg::exit_test;

namespace {
void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor handle = t;
  handle.copy_(values);
}
}  // namespace

TEST_CASE("LearnedExit stops the rows whose LTE score exceeds theta", "[early_exit][learned]") {
  auto score = std::make_shared<LearnedExitScore>(std::vector<int64_t>{2, 2, 2}, kF64);
  CHECK(score->shared());
  // u = sigmoid(x0 - x1): rows (2, 0) -> 0.881, (0, 0) -> 0.5, (0, 2) -> 0.119.
  assign(score->linears[0]->weight, tensor_f64({1.0, -1.0}, {1, 2}));
  assign(score->linears[0]->bias, tensor_f64({0.0}));
  const Tensor features = tensor_f64({2, 0, 0, 0, 0, 2}, {3, 2});
  const std::vector<double> logits{0, 1, /**/ 1, 0, /**/ 0, 1};
  const std::vector<int64_t> samples{0, 1, 2};
  LearnedExit rule(0.6, score);
  ExitSignals s = signals(0, 3, samples, logits, 2);
  s.features = features;
  ExitDecision d = rule.decide(s);
  CHECK(d.stop == std::vector<bool>{true, false, false});
  CHECK(d.prediction == std::vector<int64_t>{1, 0, 1});
  rule.set_threshold(0.1);
  CHECK(rule.decide(s).stop == std::vector<bool>{true, true, true});
  rule.set_threshold(0.99);
  s.exit_index = 2;  // the last exit stops everything
  CHECK(rule.decide(s).stop == std::vector<bool>{true, true, true});
  s.features = Tensor();
  CHECK_THROWS_WITH(rule.decide(s), Catch::Contains("LearnedExit"));
}

TEST_CASE("learned_exit_loss is the sum over exits of MSE(u, 1[exit correct])", "[early_exit][learned]") {
  Generator init(2);
  auto model = small_transformer(init, 3, /*lte=*/true, /*layers=*/2);
  const TokenBatch batch = token_batch(4, 6, 3);
  const Tensor target = tensor_i64({0, 1, 2, 0});
  const auto outputs = model->forward_all(batch.ids, batch.mask);
  const Tensor loss = learned_exit_loss(*model, outputs, target);
  double expected = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ExitOutput& out = outputs[i];
    const auto u = model->exit_score()->forward(static_cast<int64_t>(i), out.features).to_vector<double>();
    const auto predicted = argmax(out.logits, 1).to_vector<int64_t>();
    const auto labels = target.to_vector<int64_t>();
    for (size_t b = 0; b < 4; ++b) {
      const double c = predicted[b] == labels[b] ? 1.0 : 0.0;
      expected += (u[b] - c) * (u[b] - c) / 4.0;
    }
  }
  CHECK(loss.item<double>() == Approx(expected).epsilon(1e-12));
  // The LTE module learns from the features without changing them.
  loss.backward();
  for (const Tensor& p : model->exit_score_parameters()) CHECK(p.grad().defined());
  for (const Tensor& p : model->backbone_parameters()) CHECK_FALSE(p.grad().defined());
  auto plain = small_transformer(init, 3, false, 2);
  CHECK_THROWS_WITH(learned_exit_loss(*plain, outputs, target), Catch::Contains("LearnedExitScore"));
}

TEST_CASE("LearnedExitScore: one linear layer shared by exits of one width, one per exit otherwise",
          "[early_exit][learned]") {
  const LearnedExitScore shared({8, 8, 8});
  CHECK(shared.linears.size() == 1);
  LearnedExitScore per_exit({4, 6, 8}, kF64);
  CHECK(per_exit.linears.size() == 3);
  CHECK(per_exit.forward(1, test::uniform_f64({5, 6}, 1)).shape() == Shape{5});
  CHECK_THROWS_WITH(per_exit.forward(1, test::uniform_f64({5, 8}, 1)), Catch::Contains("exit 1"));
  CHECK_THROWS_AS(per_exit.forward(3, test::uniform_f64({5, 8}, 1)), Error);
}
