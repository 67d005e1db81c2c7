// PolicyReader (dynamic/policy_reader.h): each move reads exactly the tokens it names (against the
// plain LSTM on those tokens): always next reads everything, stop reads one token, skip k reads
// every (k+1)-th, reread reads the same token until max_reads; the presets' move sets; a batch
// equals each sample alone, with the gradients of its losses.
#include <catch2/catch.hpp>

#include <algorithm>

#include "dynamic/policy_reader.h"
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

Generator g_params(37);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

void force_move(PolicyReader& model, int64_t move) {
  assign(model.policy->weight, zeros_like(model.policy->weight));
  Tensor bias = full_like(model.policy->bias, -30.0);
  assign(model.policy->bias, index_add(bias, 0, tensor_i64({move}), tensor_f64({60.0})));
}

Tensor plain_final_h(PolicyReader& model, const Tensor& x, const std::vector<int64_t>& positions) {
  nn::LSTM plain(model.input_size, model.hidden_size, {}, kF64);
  assign(plain.weight_ih[0], model.cell->weight_ih);
  assign(plain.weight_hh[0], model.cell->weight_hh);
  assign(plain.bias_ih[0], model.cell->bias_ih);
  assign(plain.bias_hh[0], model.cell->bias_hh);
  return select(select(plain(index_select(x, 1, from_vector(positions))).final.h, 0, 0), 0, 0);
}

}  // namespace

TEST_CASE("PolicyReader: each move reads exactly the tokens it names", "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t T = 9, I = 3, H = 4;
  const Tensor x = uniform_f64({1, T, I}, 1);
  const auto check_reads = [&](PolicyReader& model, int64_t move, const std::vector<int64_t>& expected) {
    force_move(model, move);
    const LSTMJumpOutput out = model.forward(x);
    CHECK(out.tokens_read == std::vector<int64_t>{static_cast<int64_t>(expected.size())});
    CHECK(out.cell_rows == static_cast<int64_t>(expected.size()));
    CHECK(max_abs_diff(select(out.h, 0, 0), plain_final_h(model, x, expected)) < 1e-12);
  };
  PolicyReader jumper(I, H, 2, PolicyReaderOptions::jumper(), kF64);
  CHECK(jumper.num_moves() == 2);
  check_reads(jumper, PolicyReader::kNext, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  check_reads(jumper, PolicyReader::kStop, {0});
  PolicyReader rim(I, H, 2, PolicyReaderOptions::rim(), kF64);
  CHECK(rim.num_moves() == 3);
  check_reads(rim, rim.skip_move(1), {0, 2, 4, 6, 8});
  PolicyReader yu(I, H, 2, PolicyReaderOptions::skim_reread_stop(3), kF64);
  CHECK(yu.num_moves() == 6);
  check_reads(yu, yu.skip_move(3), {0, 4, 8});
  check_reads(yu, yu.reread_move(), std::vector<int64_t>(2 * T, 0));  // until max_reads = 2T
  CHECK_THROWS_AS(PolicyReader(I, H, 2, {.max_skip = -1}), Error);
}

TEST_CASE("PolicyReader: a batch equals each sample alone, with its gradients", "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 5, T = 10, I = 3, H = 5;
  PolicyReader model(I, H, 3, PolicyReaderOptions::skim_reread_stop(2), kF64);
  assign(model.policy->weight, uniform_f64(model.policy->weight.shape(), 3, -3.0, 3.0));
  const Tensor x = uniform_f64({B, T, I}, 4, -2.0, 2.0);
  const Tensor lengths = tensor_i64({10, 6, 3, 10, 8});
  const Tensor labels = tensor_i64({0, 2, 1, 1, 0});
  const auto params = model.parameters();
  const auto total_loss = [&](const LSTMJumpOutput& out, const Tensor& y) {
    const JumpLosses l = lstm_jump_losses(out, jump_reward(out.logits, y));
    return cross_entropy(out.logits, y, kSum) +
           l.policy * static_cast<double>(out.logits.shape()[0]) +
           l.baseline * static_cast<double>(out.decision_samples.numel());
  };
  const LSTMJumpOutput batched = model.forward(x, lengths);
  total_loss(batched, labels).backward();
  std::vector<Tensor> grads;
  for (Tensor p : params) {
    grads.push_back(p.grad().clone());
    p.zero_grad();
  }
  std::vector<int64_t> tokens;
  for (int64_t b = 0; b < B; ++b) {
    const LSTMJumpOutput one = model.forward(narrow(x, 0, b, 1), narrow(lengths, 0, b, 1));
    total_loss(one, narrow(labels, 0, b, 1)).backward();
    CHECK(max_abs_diff(one.logits, narrow(batched.logits, 0, b, 1)) < 1e-12);
    tokens.push_back(one.tokens_read[0]);
  }
  CHECK(batched.tokens_read == tokens);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(grads[i], params[i].grad()) < 1e-10);
  }
  // The random policy used more than one kind of move.
  const auto m = batched.decision_jumps.to_vector<int64_t>();
  CHECK(std::count(m.begin(), m.end(), m.front()) < static_cast<long>(m.size()));
}
