// LSTM-Jump (dynamic/lstm_jump.h): a policy that never skips (always "next token") reads every
// token and equals the plain LSTM; a policy that always stops reads R tokens; a fixed jump reads
// exactly the tokens the rule names and at most N jumps are taken; a batch of sequences of
// different lengths equals each sample run alone (values, decisions, tokens read and gradients of
// all three losses); the cell runs once per token read, no more; the losses by hand.
#include <catch2/catch.hpp>

#include "dynamic/lstm_jump.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "nn/rnn.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::assign;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// Cross-entropy summed over the batch, so a batch's loss is the sum of its samples' losses.
const CrossEntropyOptions kSum = [] {
  CrossEntropyOptions o;
  o.reduction = Reduction::sum;
  return o;
}();

// Parameters from a generator of their own, so a test does not depend on which ran before it.
Generator g_params(23);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

// The jump head ignores the state and always picks `k`.
void force_jump(LSTMJump& model, int64_t k) {
  assign(model.jump->weight, zeros_like(model.jump->weight));
  Tensor bias = full_like(model.jump->bias, -30.0);
  assign(model.jump->bias, index_add(bias, 0, tensor_i64({k}), tensor_f64({60.0})));
}

// The plain LSTM with the model's cell weights over the given token positions of sample b.
Tensor plain_final_h(LSTMJump& model, const Tensor& x, int64_t b, const std::vector<int64_t>& positions) {
  nn::LSTM plain(model.input_size, model.hidden_size, {}, kF64);
  assign(plain.weight_ih[0], model.cell->weight_ih);
  assign(plain.weight_hh[0], model.cell->weight_hh);
  assign(plain.bias_ih[0], model.cell->bias_ih);
  assign(plain.bias_hh[0], model.cell->bias_hh);
  const Tensor tokens = index_select(narrow(x, 0, b, 1), 1, from_vector(positions));
  return select(select(plain(tokens).final.h, 0, 0), 0, 0);  // layer 0, sample 0
}

std::vector<int64_t> range(int64_t n) {
  std::vector<int64_t> r(n);
  for (int64_t i = 0; i < n; ++i) r[i] = i;
  return r;
}

}  // namespace

TEST_CASE("LSTMJump: never jumping reads everything and equals the plain LSTM", "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t B = 3, T = 11, I = 4, H = 5;
  LSTMJump model(I, H, 3, {.read = 2, .max_jump = 4, .max_jumps = 100}, kF64);
  force_jump(model, 1);
  const Tensor x = uniform_f64({B, T, I}, 1);
  const Tensor lengths = tensor_i64({11, 7, 1});
  const LSTMJumpOutput out = model.forward(x, lengths);
  CHECK(out.tokens_read == std::vector<int64_t>{11, 7, 1});
  CHECK(out.cell_rows == 19);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths.to_vector<int64_t>()[b];
    const Tensor ref = plain_final_h(model, x, b, range(len));
    CHECK(max_abs_diff(select(out.h, 0, b), ref) < 1e-12);
    CHECK(max_abs_diff(select(out.logits, 0, b), model.classifier->forward(ref)) < 1e-12);
  }
  // Decisions after every 2 tokens that still had tokens left: 5 + 3 + 0.
  CHECK(out.decision_samples.numel() == 8);
}

TEST_CASE("LSTMJump: stopping reads R tokens; a fixed jump reads the tokens the rule names",
          "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t T = 20, I = 3, H = 4;
  const Tensor x = uniform_f64({1, T, I}, 2);
  LSTMJump model(I, H, 2, {.read = 3, .max_jump = 5, .max_jumps = 2}, kF64);
  force_jump(model, 0);
  LSTMJumpOutput out = model.forward(x);
  CHECK(out.tokens_read == std::vector<int64_t>{3});
  CHECK(max_abs_diff(select(out.h, 0, 0), plain_final_h(model, x, 0, {0, 1, 2})) < 1e-12);
  CHECK(out.decision_jumps.to_vector<int64_t>() == std::vector<int64_t>{0});

  // Jump 4 after every 3 tokens: read 0 1 2, next is 2 + 4 = 6: read 6 7 8, jump to 12: read 12 13
  // 14, then a decision point with N = 2 jumps taken: stop.
  force_jump(model, 4);
  out = model.forward(x);
  CHECK(out.tokens_read == std::vector<int64_t>{9});
  CHECK(out.decision_jumps.to_vector<int64_t>() == std::vector<int64_t>{4, 4});
  CHECK(max_abs_diff(select(out.h, 0, 0),
                     plain_final_h(model, x, 0, {0, 1, 2, 6, 7, 8, 12, 13, 14})) < 1e-12);
  // A jump past the end stops reading.
  LSTMJump far(I, H, 2, {.read = 3, .max_jump = 30, .max_jumps = 2}, kF64);
  force_jump(far, 25);
  CHECK(far.forward(x).tokens_read == std::vector<int64_t>{3});
}

TEST_CASE("LSTMJump with jumps back (LSTM-Shuttle) reads the named passage again", "[dynamic][skim]") {
  g_params.manual_seed(7);
  const int64_t T = 10, I = 3, H = 4;
  const Tensor x = uniform_f64({1, T, I}, 6);
  LSTMJump model(I, H, 2, {.read = 3, .max_jump = 4, .max_jumps = 2, .max_back_jump = 3}, kF64);
  CHECK(model.jump->out_features == 1 + 4 + 3);
  // Choice K + 2 = 6 is "2 back": after reading 0 1 2 the next token is 2 - 2 = 0, twice, then the
  // N = 2 limit stops reading.
  force_jump(model, 6);
  LSTMJumpOutput out = model.forward(x);
  CHECK(out.tokens_read == std::vector<int64_t>{9});
  CHECK(max_abs_diff(select(out.h, 0, 0), plain_final_h(model, x, 0, {0, 1, 2, 0, 1, 2, 0, 1, 2})) < 1e-12);
  // "3 back" after 0 1 2 would be position -1: it starts again from 0.
  force_jump(model, 7);
  out = model.forward(x);
  CHECK(max_abs_diff(select(out.h, 0, 0), plain_final_h(model, x, 0, {0, 1, 2, 0, 1, 2, 0, 1, 2})) < 1e-12);
  // Forward choices keep LSTM-Jump's meaning.
  force_jump(model, 4);
  CHECK(model.forward(x).tokens_read == std::vector<int64_t>{6});  // 0 1 2, 6 7 8, then past the end
  CHECK_THROWS_AS(LSTMJump(3, 4, 2, {.max_back_jump = -1}), Error);
}

TEST_CASE("LSTMJump: a batch equals each sample alone, with the gradients of all its losses",
          "[dynamic][skim]") {
  g_params.manual_seed(3);
  const int64_t B = 5, T = 24, I = 3, H = 6;
  LSTMJump model(I, H, 3, {.read = 2, .max_jump = 4, .max_jumps = 3}, kF64);
  assign(model.jump->weight, uniform_f64(model.jump->weight.shape(), 3, -2.0, 2.0));
  const Tensor x = uniform_f64({B, T, I}, 4, -2.0, 2.0);
  const Tensor lengths = tensor_i64({24, 9, 17, 3, 24});
  const Tensor labels = tensor_i64({0, 2, 1, 1, 0});
  const auto params = model.parameters();
  const auto total_loss = [&](const LSTMJumpOutput& out, const Tensor& y, double scale) {
    const JumpLosses l = lstm_jump_losses(out, jump_reward(out.logits, y));
    return (cross_entropy(out.logits, y, kSum) + l.policy * out.logits.shape()[0]) * scale +
           l.baseline * static_cast<double>(out.decision_samples.numel());
  };

  const LSTMJumpOutput batched = model.forward(x, lengths);
  total_loss(batched, labels, 1.0).backward();
  std::vector<Tensor> batched_grads;
  for (Tensor p : params) {
    batched_grads.push_back(p.grad().clone());
    p.zero_grad();
  }
  std::vector<int64_t> tokens, jumps_taken;
  int64_t rows = 0;
  for (int64_t b = 0; b < B; ++b) {
    const LSTMJumpOutput one = model.forward(narrow(x, 0, b, 1), narrow(lengths, 0, b, 1));
    total_loss(one, narrow(labels, 0, b, 1), 1.0).backward();
    CHECK(max_abs_diff(one.logits, narrow(batched.logits, 0, b, 1)) < 1e-12);
    tokens.push_back(one.tokens_read[0]);
    for (int64_t k : one.decision_jumps.to_vector<int64_t>()) jumps_taken.push_back(k);
    rows += one.cell_rows;
  }
  CHECK(batched.tokens_read == tokens);
  CHECK(batched.cell_rows == rows);
  CHECK(rows < 24 + 9 + 17 + 3 + 24);  // some tokens were skipped
  // The batch's decisions, grouped by sample, are the samples' own.
  std::vector<int64_t> grouped;
  const auto samples = batched.decision_samples.to_vector<int64_t>();
  const auto k = batched.decision_jumps.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (size_t i = 0; i < samples.size(); ++i)
      if (samples[i] == b) grouped.push_back(k[i]);
  CHECK(grouped == jumps_taken);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(batched_grads[i], params[i].grad()) < 1e-10);
  }
}

TEST_CASE("LSTMJump: losses and reward by hand; sampled jumps are seeded; bad input",
          "[dynamic][skim]") {
  g_params.manual_seed(4);
  CHECK(jump_reward(tensor_f64({0.1, 0.9, 2.0, -1.0}, {2, 2}), tensor_i64({1, 1})).to_vector<double>() ==
        std::vector<double>{1.0, -1.0});
  LSTMJumpOutput out;
  out.logits = zeros({2, 3}, DType::f64);
  Tensor lp = tensor_f64({-0.5, -1.0, -2.0}).set_requires_grad(true);
  Tensor base = tensor_f64({0.5, 0.0, -0.5}).set_requires_grad(true);
  out.decision_log_probs = lp;
  out.decision_baselines = base;
  out.decision_samples = tensor_i64({0, 1, 1});
  const JumpLosses l = lstm_jump_losses(out, tensor_f64({1.0, -1.0}));
  // advantages 0.5, -1, -0.5
  CHECK(l.policy.item<double>() == Approx(-(0.5 * -0.5 + -1.0 * -1.0 + -0.5 * -2.0) / 2).epsilon(1e-12));
  CHECK(l.baseline.item<double>() == Approx((0.25 + 1.0 + 0.25) / 3).epsilon(1e-12));

  LSTMJump model(3, 4, 2, {.read = 2, .max_jump = 3, .max_jumps = 4}, kF64);
  const Tensor x = uniform_f64({4, 15, 3}, 5);
  Generator g1(9), g2(9);
  CHECK(model.forward(x, {}, JumpMode::sample, &g1).decision_jumps.to_vector<int64_t>() ==
        model.forward(x, {}, JumpMode::sample, &g2).decision_jumps.to_vector<int64_t>());
  CHECK_THROWS_WITH(model.forward(x, {}, JumpMode::sample), Catch::Contains("generator"));
  CHECK_THROWS_AS(model.forward(x, tensor_i64({1, 2, 3, 16})), Error);
  CHECK_THROWS_AS(model.forward(zeros({4, 15, 2}, DType::f64)), Error);
  CHECK_THROWS_AS(LSTMJump(3, 4, 2, {.read = 0}), Error);
}
