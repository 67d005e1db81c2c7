// LSTM-Jump: see lstm_jump.h.
#include "dynamic/lstm_jump.h"

#include <fmt/format.h>

#include <algorithm>

#include "dynamic/distributions.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

std::vector<int64_t> read_next_tokens(nn::LSTMCell& cell, const Tensor& tokens, int64_t T,
                                      const std::vector<int64_t>& position,
                                      const std::vector<bool>& reading, Tensor& h, Tensor& c,
                                      int64_t& cell_rows) {
  const int64_t B = static_cast<int64_t>(reading.size());
  std::vector<int64_t> rows, flat;
  for (int64_t b = 0; b < B; ++b)
    if (reading[b]) {
      rows.push_back(b);
      flat.push_back(b * T + position[b]);
    }
  if (rows.empty()) return rows;
  const ActiveRows active(rows, B);
  const nn::LSTMState next =
      cell.forward(index_select(tokens, 0, from_vector(flat)), {compact(h, active), compact(c, active)});
  h = write_back(h, next.h, active);
  c = write_back(c, next.c, active);
  cell_rows += active.count();
  return rows;
}

LSTMJump::LSTMJump(int64_t input_size, int64_t hidden_size, int64_t num_classes,
                   const LSTMJumpOptions& options, const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), num_classes(num_classes), options(options) {
  check(options.read >= 1 && options.max_jump >= 1 && options.max_jumps >= 0 &&
            options.max_back_jump >= 0,
        "LSTMJump: need read >= 1, max_jump >= 1, max_jumps >= 0 and max_back_jump >= 0, got R={}, "
        "K={}, N={}, K'={}",
        options.read, options.max_jump, options.max_jumps, options.max_back_jump);
  cell = register_module("cell", std::make_shared<nn::LSTMCell>(input_size, hidden_size, true, param));
  jump = register_module("jump", std::make_shared<nn::Linear>(
                                  hidden_size, options.max_jump + 1 + options.max_back_jump, true, param));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(hidden_size, num_classes, true, param));
  baseline = register_module("baseline", std::make_shared<LearnedBaseline>(hidden_size, param));
}

std::string LSTMJump::extra_repr() const {
  return fmt::format("{}, {}, classes={}, R={}, K={}, N={}", input_size, hidden_size, num_classes,
                     options.read, options.max_jump, options.max_jumps);
}

LSTMJumpOutput LSTMJump::forward(const Tensor& x, const Tensor& lengths, JumpMode mode,
                                 Generator* generator) {
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size,
        "LSTMJump: expected a batch-first input [B, T, {}], got {}", input_size,
        x.defined() ? x.shape() : Shape{});
  check(x.dtype() == cell->weight_ih.dtype(), "LSTMJump: input {} has dtype {} but the parameters are {}",
        x.shape(), x.dtype(), cell->weight_ih.dtype());
  check(mode == JumpMode::greedy || generator, "LSTMJump: sampled jumps need a generator");
  const int64_t B = x.shape()[0], T = x.shape()[1], H = hidden_size;
  std::vector<int64_t> length(B, T);
  if (lengths.defined()) {
    check(lengths.dtype() == DType::i64 && lengths.shape() == Shape{B},
          "LSTMJump: lengths must be i64 [B] = [{}], got {} {}", B, lengths.dtype(), lengths.shape());
    length = lengths.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      check(length[b] >= 0 && length[b] <= T, "LSTMJump: lengths[{}] = {} is outside [0, {}]", b,
            length[b], T);
  }

  // Every sample's own reading position; a token is row b * T + position of the flat input.
  const Tensor tokens = reshape(x, {B * T, input_size});
  std::vector<int64_t> position(B, 0), read_in_block(B, 0), jumps(B, 0);
  std::vector<bool> reading(B);
  for (int64_t b = 0; b < B; ++b) reading[b] = length[b] > 0;
  Tensor h = zeros({B, H}, x.dtype(), x.device()), c = zeros({B, H}, x.dtype(), x.device());
  LSTMJumpOutput out;
  out.tokens_read.assign(B, 0);
  std::vector<Tensor> log_probs, baselines;
  std::vector<int64_t> decision_samples, decision_jumps;

  while (true) {
    const std::vector<int64_t> rows =
        read_next_tokens(*cell, tokens, T, position, reading, h, c, out.cell_rows);
    if (rows.empty()) break;

    std::vector<int64_t> deciding;
    for (int64_t b : rows) {
      ++out.tokens_read[b];
      ++position[b];
      if (position[b] >= length[b]) {
        reading[b] = false;
      } else if (++read_in_block[b] == options.read) {
        if (jumps[b] == options.max_jumps) reading[b] = false;
        else deciding.push_back(b);
      }
    }
    if (deciding.empty()) continue;

    const ActiveRows at_decision(deciding, B);
    const Tensor state = compact(h, at_decision);
    const Categorical policy(jump->forward(state));
    const Tensor choice = mode == JumpMode::greedy ? policy.mode() : policy.sample(*generator);
    log_probs.push_back(policy.log_prob(choice));
    baselines.push_back(baseline->forward(state));
    const std::vector<int64_t> k = choice.to_vector<int64_t>();
    for (size_t i = 0; i < deciding.size(); ++i) {
      const int64_t b = deciding[i];
      decision_samples.push_back(b);
      decision_jumps.push_back(k[i]);
      ++jumps[b];
      read_in_block[b] = 0;
      // The next token read is the k-th after the last one read (k < 0: before it).
      const int64_t k_signed = k[i] <= options.max_jump ? k[i] : options.max_jump - k[i];
      position[b] = std::max<int64_t>(0, position[b] + k_signed - 1);
      if (k[i] == 0 || position[b] >= length[b]) reading[b] = false;
    }
  }

  out.h = h;
  out.logits = classifier->forward(h);
  const int64_t D = static_cast<int64_t>(decision_samples.size());
  out.decision_log_probs = D ? cat(log_probs, 0) : zeros({0}, x.dtype(), x.device());
  out.decision_baselines = D ? cat(baselines, 0) : zeros({0}, x.dtype(), x.device());
  out.decision_samples = from_vector(decision_samples, {D});
  out.decision_jumps = from_vector(decision_jumps, {D});
  return out;
}

Tensor jump_reward(const Tensor& logits, const Tensor& labels) {
  check(logits.defined() && logits.dim() == 2 && labels.defined() && labels.dtype() == DType::i64 &&
            labels.shape() == Shape{logits.shape()[0]},
        "jump_reward: expected logits [B, C] and i64 labels [B], got {} and {}",
        logits.defined() ? logits.shape() : Shape{}, labels.defined() ? labels.shape() : Shape{});
  NoGradGuard no_grad;
  const Tensor correct = to_dtype(eq(argmax(logits, 1), labels), logits.dtype());
  return correct * 2.0 - 1.0;
}

JumpLosses lstm_jump_losses(const LSTMJumpOutput& out, const Tensor& reward) {
  const int64_t B = out.logits.shape()[0];
  check(reward.defined() && reward.shape() == Shape{B} && reward.dtype() == out.logits.dtype(),
        "lstm_jump_losses: reward must be {} [{}], got {}", out.logits.dtype(), B,
        reward.defined() ? reward.shape() : Shape{});
  if (out.decision_samples.numel() == 0) {
    const Tensor zero = scalar(0.0, out.logits.dtype(), out.logits.device());
    return {zero, zero};
  }
  const Tensor r = index_select(reward.detach(), 0, out.decision_samples);
  const Tensor advantage = r - out.decision_baselines.detach();
  return {-sum(advantage * out.decision_log_probs) / static_cast<double>(B),
          mse_loss(out.decision_baselines, r)};
}

}  // namespace dg::dynamic
