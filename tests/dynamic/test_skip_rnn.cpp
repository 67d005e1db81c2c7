// Skip RNN (dynamic/skip_rnn.h), its defining properties: with the gate forced open (every
// u_t = 1) it is the plain LSTM; with the gate forced shut after the first step the state is that
// step's, copied, and the FLOP counter shows no cell ran after it; the accumulation rule of u~ by
// hand; a batch equals each sample run alone (values, decisions and gradients), although the batch
// runs the cell on the updating rows only; the budget loss; bad input.
#include <catch2/catch.hpp>

#include <cmath>

#include "dynamic/skip_rnn.h"
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
Generator g_params(17);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

// Gate logits W s + b = `bias` for every state: sigmoid(50) is 1 in float64, sigmoid(-50) ~ 2e-22.
void force_gate(SkipRNN& rnn, double bias) {
  assign(rnn.gate->weight, zeros_like(rnn.gate->weight));
  assign(rnn.gate->bias, full_like(rnn.gate->bias, bias));
}

// A gate whose update probabilities differ clearly between samples and steps.
void varied_gate(SkipRNN& rnn, uint64_t seed) {
  assign(rnn.gate->weight, uniform_f64(rnn.gate->weight.shape(), seed, -6.0, 6.0));
  assign(rnn.gate->bias, full_like(rnn.gate->bias, -1.0));
}

}  // namespace

TEST_CASE("SkipRNN: gate forced open is the plain LSTM", "[dynamic][skim]") {
  const int64_t B = 3, T = 7, I = 4, H = 5;
  SkipRNN rnn(I, H, {.return_sequence = true}, kF64);
  force_gate(rnn, 50.0);
  nn::LSTM plain(I, H, {}, kF64);
  assign(plain.weight_ih[0], rnn.lstm->weight_ih);
  assign(plain.weight_hh[0], rnn.lstm->weight_hh);
  assign(plain.bias_ih[0], rnn.lstm->bias_ih);
  assign(plain.bias_hh[0], rnn.lstm->bias_hh);
  const Tensor x = uniform_f64({B, T, I}, 1);
  const SkipRNNOutput out = rnn(x);
  const nn::LSTMOutput ref = plain(x);
  CHECK(max_abs_diff(out.output, ref.output) < 1e-12);
  CHECK(max_abs_diff(out.h, select(ref.final.h, 0, 0)) < 1e-12);
  CHECK(max_abs_diff(out.c, select(ref.final.c, 0, 0)) < 1e-12);
  CHECK(sum(out.updates).item<double>() == B * T);
  CHECK(out.cell_rows == B * T);
}

TEST_CASE("SkipRNN: gate forced shut copies the first step's state and runs no cell after it",
          "[dynamic][skim]") {
  const int64_t B = 4, T = 9, I = 8, H = 16;
  for (SkipCell kind : {SkipCell::lstm, SkipCell::gru}) {
    SkipRNN rnn(I, H, {.cell = kind, .return_sequence = true}, kF64);
    force_gate(rnn, -50.0);
    const Tensor x = uniform_f64({B, T, I}, 2);
    NoGradGuard no_grad;
    // The cell's cost on the whole batch, for scale.
    int64_t cell_flops = 0;
    {
      FlopScope scope;
      if (rnn.lstm) rnn.lstm->forward(select(x, 1, 0), {zeros({B, H}, DType::f64), zeros({B, H}, DType::f64)});
      else rnn.gru->forward(select(x, 1, 0), zeros({B, H}, DType::f64));
      cell_flops = scope.count();
    }
    std::vector<int64_t> flops_at(T + 1);
    SkipRNNOutput out;
    for (int64_t steps = 1; steps <= T; ++steps) {
      FlopScope scope;
      out = rnn(narrow(x, 1, 0, steps));
      flops_at[steps] = scope.count();
    }
    CHECK(out.cell_rows == B);  // the first step only
    const auto u = out.updates.to_vector<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) CHECK(u[b * T + t] == (t == 0 ? 1.0 : 0.0));
    for (int64_t t = 1; t < T; ++t)
      CHECK(max_abs_diff(select(out.output, 1, t), select(out.output, 1, 0)) == 0.0);
    // Without a graph a skipped step runs no op at all.
    CHECK(cell_flops > 0);
    CHECK(flops_at[T] == flops_at[1]);

    // While recording (training), a skipped step costs the gate's bookkeeping on [B, 1] (the
    // straight-through rounding and the accumulation rule), the same at every step, and no cell.
    EnableGradGuard recording;
    std::vector<int64_t> recorded_at(T + 1);
    for (int64_t steps = 1; steps <= T; ++steps) {
      FlopScope scope;
      out = rnn(narrow(x, 1, 0, steps));
      recorded_at[steps] = scope.count();
    }
    CHECK(out.cell_rows == B);
    const int64_t per_skip = recorded_at[2] - recorded_at[1];
    CHECK(per_skip < cell_flops / 20);
    CHECK(recorded_at[T] - recorded_at[1] == (T - 1) * per_skip);
  }
}

TEST_CASE("SkipRNN: with and without a graph, the same decisions and states", "[dynamic][skim]") {
  const int64_t B = 6, T = 12, I = 3, H = 5;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (SkipCell kind : {SkipCell::lstm, SkipCell::gru}) {
      Generator g(3);
      SkipRNN rnn(I, H, {.cell = kind, .return_sequence = true}, {.generator = &g, .dtype = dtype});
      varied_gate(rnn, 8);
      const Tensor x = to_dtype(uniform_f64({B, T, I}, 9, -2.0, 2.0), dtype);
      const SkipRNNOutput recorded = rnn(x);
      NoGradGuard no_grad;
      const SkipRNNOutput inferred = rnn(x);
      CHECK(max_abs_diff(recorded.updates, inferred.updates) == 0.0);
      CHECK(max_abs_diff(recorded.output, inferred.output) == 0.0);
      CHECK(recorded.cell_rows == inferred.cell_rows);
      CHECK(inferred.cell_rows < B * T);
    }
  }
}

TEST_CASE("SkipRNN: the accumulation rule of u~ by hand", "[dynamic][skim]") {
  // A constant du~ = 0.3: u~ = 1, 0.3, 0.6 -> update, skip, update (round(0.6) = 1), then
  // u~ = 0.3 again: the pattern 1 0 1 0 1 ...
  SkipRNN rnn(2, 3, {}, kF64);
  force_gate(rnn, std::log(0.3 / 0.7));
  NoGradGuard no_grad;
  const SkipRNNOutput out = rnn(uniform_f64({1, 6, 2}, 3));
  CHECK(out.updates.to_vector<double>() == std::vector<double>{1, 0, 1, 0, 1, 0});
  // du~ = 0.2: u~ = 1, 0.2, 0.4, 0.6 -> 1 0 0 1 0 0 1
  force_gate(rnn, std::log(0.2 / 0.8));
  CHECK(rnn(uniform_f64({1, 7, 2}, 3)).updates.to_vector<double>() ==
        std::vector<double>{1, 0, 0, 1, 0, 0, 1});
}

TEST_CASE("SkipRNN: a batch equals each sample run alone, with its gradients", "[dynamic][skim]") {
  const int64_t B = 6, T = 10, I = 3, H = 5;
  for (SkipCell kind : {SkipCell::lstm, SkipCell::gru}) {
    for (bool reference_gradient : {false, true}) {
      g_params.manual_seed(5);
      SkipRNN rnn(I, H, {.cell = kind, .return_sequence = true,
                         .candidates_at_skipped_steps = reference_gradient}, kF64);
      varied_gate(rnn, 4);
      const Tensor x = uniform_f64({B, T, I}, 5, -2.0, 2.0);
      const Tensor v = uniform_f64({B, T, H}, 6);
      const auto params = rnn.parameters();

      const SkipRNNOutput batched = rnn(x);
      sum(batched.output * v).backward();
      std::vector<Tensor> batched_grads;
      for (Tensor p : params) {
        batched_grads.push_back(p.grad().clone());
        p.zero_grad();
      }
      std::vector<Tensor> outputs, updates;
      int64_t rows = 0;
      for (int64_t b = 0; b < B; ++b) {
        const SkipRNNOutput one = rnn(narrow(x, 0, b, 1));
        sum(one.output * narrow(v, 0, b, 1)).backward();
        outputs.push_back(one.output);
        updates.push_back(one.updates);
        rows += one.cell_rows;
      }
      CHECK(max_abs_diff(batched.output, cat(outputs, 0)) < 1e-12);
      CHECK(max_abs_diff(batched.updates, cat(updates, 0)) == 0.0);
      CHECK(batched.cell_rows == rows);
      const double fraction = sum(batched.updates).item<double>() / (B * T);
      INFO("fraction of updates " << fraction);
      CHECK(fraction > 0.1);  // the samples really skip, and not all at the same steps
      CHECK(fraction < 0.9);
      CHECK(max_abs_diff(narrow(batched.updates, 0, 0, B - 1), narrow(batched.updates, 0, 1, B - 1)) == 1.0);
      if (!reference_gradient) CHECK(batched.cell_rows == static_cast<int64_t>(fraction * B * T + 0.5));
      else CHECK(batched.cell_rows == B * T);
      for (size_t i = 0; i < params.size(); ++i) {
        INFO("parameter " << i);
        CHECK(max_abs_diff(batched_grads[i], params[i].grad()) < 1e-10);
      }
      for (Tensor p : params) p.zero_grad();
    }
  }
}

TEST_CASE("SkipRNN: the gate learns from the budget loss through the straight-through rounding",
          "[dynamic][skim]") {
  SkipRNN rnn(2, 4, {}, kF64);
  const SkipRNNOutput out = rnn(uniform_f64({3, 8, 2}, 7));
  const Tensor loss = skip_budget_loss(out.updates, 0.01);
  CHECK(loss.item<double>() == Approx(0.01 * sum(out.updates).item<double>() / 3).epsilon(1e-12));
  loss.backward();
  CHECK(amax(abs(rnn.gate->bias.grad())).item<double>() > 0.0);
  CHECK_THROWS_AS(skip_budget_loss(zeros({4}), 0.1), Error);
  CHECK_THROWS_AS(skip_budget_loss(zeros({2, 4}), -1.0), Error);
  CHECK_THROWS_WITH(rnn(zeros({3, 8, 5}, DType::f64)), Catch::Contains("SkipRNN"));
  CHECK_THROWS_AS(rnn(zeros({3, 8, 2})), Error);  // f32 input, f64 parameters
}
