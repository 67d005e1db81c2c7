// Structural Jump-LSTM (dynamic/structural_jump.h): always "next word" reads every token and
// equals the plain LSTM; each structural move lands exactly after the next separator / sentence
// end (or stops when there is none); a batch equals each sample alone, with the gradients of its
// losses; the token kinds; bad input.
#include <catch2/catch.hpp>

#include "dynamic/structural_jump.h"
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

Generator g_params(29);
const nn::ParamOptions kF64{.generator = &g_params, .dtype = DType::f64};

void force_move(StructuralJumpLSTM& model, StructuralMove m) {
  assign(model.move->weight, zeros_like(model.move->weight));
  Tensor bias = full_like(model.move->bias, -30.0);
  assign(model.move->bias, index_add(bias, 0, tensor_i64({static_cast<int64_t>(m)}), tensor_f64({60.0})));
}

Tensor plain_final_h(StructuralJumpLSTM& model, const Tensor& x, int64_t b, const std::vector<int64_t>& positions) {
  nn::LSTM plain(model.input_size, model.hidden_size, {}, kF64);
  assign(plain.weight_ih[0], model.cell->weight_ih);
  assign(plain.weight_hh[0], model.cell->weight_hh);
  assign(plain.bias_ih[0], model.cell->bias_ih);
  assign(plain.bias_hh[0], model.cell->bias_hh);
  const Tensor tokens = index_select(narrow(x, 0, b, 1), 1, from_vector(positions));
  return select(select(plain(tokens).final.h, 0, 0), 0, 0);
}

// "w w , w w . w : w ! w w" as kinds.
const std::vector<int64_t> kText{0, 0, 1, 0, 0, 2, 0, 1, 0, 2, 0, 0};

}  // namespace

TEST_CASE("structure_kind: separators and sentence ends", "[dynamic][skim]") {
  CHECK(structure_kind(",") == TokenKind::separator);
  CHECK(structure_kind(":") == TokenKind::separator);
  CHECK(structure_kind(".") == TokenKind::sentence_end);
  CHECK(structure_kind("!") == TokenKind::sentence_end);
  CHECK(structure_kind("?") == TokenKind::sentence_end);
  CHECK(structure_kind("word") == TokenKind::word);
  CHECK(structure_kind(";") == TokenKind::word);
}

TEST_CASE("StructuralJumpLSTM: each move reads exactly the tokens it names", "[dynamic][skim]") {
  g_params.manual_seed(1);
  const int64_t T = 12, I = 3, H = 4;
  StructuralJumpLSTM model(I, H, 2, kF64);
  const Tensor x = uniform_f64({1, T, I}, 1);
  const Tensor kinds = from_vector(kText, {1, T});
  const auto read = [&](StructuralMove m, const std::vector<int64_t>& expected) {
    force_move(model, m);
    const LSTMJumpOutput out = model.forward(x, kinds);
    CHECK(out.tokens_read == std::vector<int64_t>{static_cast<int64_t>(expected.size())});
    CHECK(out.cell_rows == static_cast<int64_t>(expected.size()));
    CHECK(max_abs_diff(select(out.h, 0, 0), plain_final_h(model, x, 0, expected)) < 1e-12);
  };
  read(StructuralMove::next_word, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // past the next ',' ':' or sentence end: 0 -> after 2: 3 -> after 5: 6 -> after 7: 8 -> after 9: 10 -> none: stop
  read(StructuralMove::next_separator, {0, 3, 6, 8, 10});
  // past the next sentence end: 0 -> after 5: 6 -> after 9: 10 -> none: stop
  read(StructuralMove::next_sentence, {0, 6, 10});
  read(StructuralMove::stop, {0});
}

TEST_CASE("StructuralJumpLSTM: a batch equals each sample alone, with its gradients", "[dynamic][skim]") {
  g_params.manual_seed(2);
  const int64_t B = 4, T = 12, I = 3, H = 5;
  StructuralJumpLSTM model(I, H, 3, kF64);
  assign(model.move->weight, uniform_f64(model.move->weight.shape(), 3, -3.0, 3.0));
  const Tensor x = uniform_f64({B, T, I}, 4, -2.0, 2.0);
  const Tensor kinds = expand(from_vector(kText, {1, T}), {B, T}).contiguous();
  const Tensor lengths = tensor_i64({12, 8, 5, 12});
  const Tensor labels = tensor_i64({0, 2, 1, 1});
  const auto params = model.parameters();
  const auto total_loss = [&](const LSTMJumpOutput& out, const Tensor& y) {
    const JumpLosses l = lstm_jump_losses(out, jump_reward(out.logits, y));
    const double n = static_cast<double>(out.logits.shape()[0]);
    return cross_entropy(out.logits, y, kSum) + l.policy * n +
           l.baseline * static_cast<double>(out.decision_samples.numel());
  };
  const LSTMJumpOutput batched = model.forward(x, kinds, lengths);
  total_loss(batched, labels).backward();
  std::vector<Tensor> batched_grads;
  for (Tensor p : params) {
    batched_grads.push_back(p.grad().clone());
    p.zero_grad();
  }
  std::vector<int64_t> tokens;
  for (int64_t b = 0; b < B; ++b) {
    const LSTMJumpOutput one = model.forward(narrow(x, 0, b, 1), narrow(kinds, 0, b, 1), narrow(lengths, 0, b, 1));
    total_loss(one, narrow(labels, 0, b, 1)).backward();
    CHECK(max_abs_diff(one.logits, narrow(batched.logits, 0, b, 1)) < 1e-12);
    tokens.push_back(one.tokens_read[0]);
  }
  CHECK(batched.tokens_read == tokens);
  CHECK(batched.cell_rows < 12 + 8 + 5 + 12);  // the policy moved past some tokens
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_abs_diff(batched_grads[i], params[i].grad()) < 1e-10);
  }
  CHECK_THROWS_WITH(model.forward(x, zeros({B, T}, DType::i64) + 3), Catch::Contains("TokenKind"));
  CHECK_THROWS_AS(model.forward(x, zeros({B, T - 1}, DType::i64)), Error);
  CHECK_THROWS_AS(model.forward(x, kinds, {}, JumpMode::sample), Error);
}
