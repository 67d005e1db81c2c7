// Skim-RNN (dynamic/skim_rnn.h): in inference, always reading is the plain LSTM of the big cell;
// always skimming runs the small cell on the first d' units and copies the rest, and the FLOP
// counter shows the big cell never ran; a batch that mixes both equals each sample alone; in
// training the Gumbel-softmax mixture is seeded and sends gradients to the choice; the skim loss.
#include <catch2/catch.hpp>

#include "dynamic/skim_rnn.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "nn/rnn.h"
#include "tests/dynamic/dynamic_test_util.h"

using namespace dg;
using namespace dg::dynamic;
using dg::dynamic_test::assign;
using dg::test::max_abs_diff;
using dg::test::uniform_f64;

namespace {

// Parameters from a generator of their own, so a test does not depend on which ran before it.
Generator g_params(23);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

// The choice ignores its input: logits (read, skim) = (bias, -bias).
void force_choice(SkimRNN& rnn, double read_minus_skim) {
  assign(rnn.choice->weight, zeros_like(rnn.choice->weight));
  assign(rnn.choice->bias, tensor_f64({read_minus_skim / 2, -read_minus_skim / 2}));
}

// The final h [1, B, H] of an LSTM with `cell`'s weights over x [B, T, I].
Tensor plain_final_h(const nn::LSTMCell& cell, const Tensor& x) {
  nn::LSTM plain(cell.input_size, cell.hidden_size, {}, kF64);
  assign(plain.weight_ih[0], cell.weight_ih);
  assign(plain.weight_hh[0], cell.weight_hh);
  assign(plain.bias_ih[0], cell.bias_ih);
  assign(plain.bias_hh[0], cell.bias_hh);
  return plain(x).final.h;
}

}  // namespace

TEST_CASE("SkimRNN: reading every step is the big LSTM; skimming every step is the small one, "
          "and the big cell never runs", "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t B = 3, T = 6, I = 4, d = 8, ds = 2;
  SkimRNN rnn(I, d, {.small_hidden = ds}, kF64);
  rnn.eval();
  const Tensor x = uniform_f64({B, T, I}, 1);
  NoGradGuard no_grad;

  force_choice(rnn, 40.0);
  FlopScope read_scope;
  const SkimRNNOutput read = rnn.forward(x);
  const int64_t read_flops = read_scope.count();
  CHECK(max_abs_diff(read.h, select(plain_final_h(*rnn.big, x), 0, 0)) < 1e-12);
  CHECK(read.big_rows == B * T);
  CHECK(read.small_rows == 0);
  CHECK(sum(read.skimmed).item<double>() == 0.0);

  force_choice(rnn, -40.0);
  FlopScope skim_scope;
  const SkimRNNOutput skim = rnn.forward(x);
  const int64_t skim_flops = skim_scope.count();
  CHECK(max_abs_diff(narrow(skim.h, 1, 0, ds), select(plain_final_h(*rnn.small, x), 0, 0)) < 1e-12);
  CHECK(max_abs_diff(narrow(skim.h, 1, ds, d - ds), zeros({B, d - ds}, DType::f64)) == 0.0);
  CHECK(skim.big_rows == 0);
  CHECK(skim.small_rows == B * T);

  // The two runs differ by exactly T times (big cell - small cell) on the batch: nothing else of
  // the big cell ran when skimming.
  const auto step_flops = [&](nn::LSTMCell& cell) {
    FlopScope s;
    cell.forward(select(x, 1, 0), {zeros({B, cell.hidden_size}, DType::f64), zeros({B, cell.hidden_size}, DType::f64)});
    return s.count();
  };
  const int64_t big_step = step_flops(*rnn.big), small_step = step_flops(*rnn.small);
  CHECK(read_flops - skim_flops == T * (big_step - small_step));
  CHECK(skim_flops < read_flops / 2);
}

TEST_CASE("SkimRNN: a batch mixing reads and skims equals each sample alone", "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 6, T = 9, I = 3, d = 7;
  SkimRNN rnn(I, d, {.small_hidden = 3, .return_sequence = true}, kF64);
  rnn.eval();
  assign(rnn.choice->weight, uniform_f64(rnn.choice->weight.shape(), 2, -2.0, 2.0));
  const Tensor x = uniform_f64({B, T, I}, 3, -2.0, 2.0);
  NoGradGuard no_grad;
  const SkimRNNOutput batched = rnn.forward(x);
  std::vector<Tensor> outputs, skimmed;
  int64_t big_rows = 0;
  for (int64_t b = 0; b < B; ++b) {
    const SkimRNNOutput one = rnn.forward(narrow(x, 0, b, 1));
    outputs.push_back(one.output);
    skimmed.push_back(one.skimmed);
    big_rows += one.big_rows;
  }
  CHECK(max_abs_diff(batched.output, cat(outputs, 0)) < 1e-12);
  CHECK(max_abs_diff(batched.skimmed, cat(skimmed, 0)) == 0.0);
  CHECK(batched.big_rows == big_rows);
  const double fraction = sum(batched.skimmed).item<double>() / (B * T);
  CHECK(fraction > 0.1);
  CHECK(fraction < 0.9);
  CHECK(batched.big_rows + batched.small_rows == B * T);
}

TEST_CASE("SkimRNN: training mixes both cells by a seeded Gumbel-softmax; the skim loss",
          "[dynamic][skim]") {
  g_params.manual_seed(3);
  SkimRNN rnn(3, 6, {.small_hidden = 2, .temperature = 0.5}, kF64);
  const Tensor x = uniform_f64({4, 5, 3}, 4);
  Generator g1(1), g2(1);
  const SkimRNNOutput a = rnn.forward(x, &g1), b = rnn.forward(x, &g2);
  CHECK(max_abs_diff(a.h, b.h) == 0.0);
  CHECK(a.big_rows == 20);
  CHECK(a.small_rows == 20);
  const Tensor loss = skim_loss(a.skim_log_probs, 0.1) + sum(a.h * uniform_f64({4, 6}, 5));
  CHECK(skim_loss(a.skim_log_probs, 0.1).item<double>() ==
        Approx(-0.1 * mean(a.skim_log_probs).item<double>()).epsilon(1e-12));
  loss.backward();
  CHECK(amax(abs(rnn.choice->weight.grad())).item<double>() > 0.0);
  CHECK(amax(abs(rnn.small->weight_ih.grad())).item<double>() > 0.0);
  CHECK(amax(abs(rnn.big->weight_ih.grad())).item<double>() > 0.0);
  CHECK_THROWS_AS(SkimRNN(3, 6, {.small_hidden = 6}), Error);
  CHECK_THROWS_WITH(rnn.forward(zeros({4, 5, 2}, DType::f64)), Catch::Contains("SkimRNN"));
  CHECK_THROWS_AS(skim_loss(a.skim_log_probs, -1.0), Error);
}
