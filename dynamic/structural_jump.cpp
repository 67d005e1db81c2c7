// Structural Jump-LSTM: see structural_jump.h.
#include "dynamic/structural_jump.h"

#include "dynamic/distributions.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

TokenKind structure_kind(std::string_view token) {
  if (token == "," || token == ":") return TokenKind::separator;
  if (token == "." || token == "!" || token == "?") return TokenKind::sentence_end;
  return TokenKind::word;
}

StructuralJumpLSTM::StructuralJumpLSTM(int64_t input_size, int64_t hidden_size, int64_t num_classes,
                                       const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), num_classes(num_classes) {
  cell = register_module("cell", std::make_shared<nn::LSTMCell>(input_size, hidden_size, true, param));
  move = register_module("move", std::make_shared<nn::Linear>(hidden_size, 4, true, param));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(hidden_size, num_classes, true, param));
  baseline = register_module("baseline", std::make_shared<LearnedBaseline>(hidden_size, param));
}

LSTMJumpOutput StructuralJumpLSTM::forward(const Tensor& x, const Tensor& kinds, const Tensor& lengths,
                                           JumpMode mode, Generator* generator) {
  constexpr std::string_view who = "StructuralJumpLSTM";
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size,
        "{}: expected a batch-first input [B, T, {}], got {}", who, input_size,
        x.defined() ? x.shape() : Shape{});
  check(x.dtype() == cell->weight_ih.dtype(), "{}: input {} has dtype {} but the parameters are {}",
        who, x.shape(), x.dtype(), cell->weight_ih.dtype());
  const int64_t B = x.shape()[0], T = x.shape()[1], H = hidden_size;
  check(kinds.defined() && kinds.dtype() == DType::i64 && kinds.shape() == Shape{B, T},
        "{}: kinds must be i64 [B, T] = [{}, {}], got {}", who, B, T,
        kinds.defined() ? kinds.shape() : Shape{});
  check(mode == JumpMode::greedy || generator, "{}: sampled moves need a generator", who);
  const std::vector<int64_t> kind = kinds.to_vector<int64_t>();
  for (size_t i = 0; i < kind.size(); ++i)
    check(kind[i] >= 0 && kind[i] <= 2, "{}: kinds[{}] = {} is not a TokenKind (0, 1 or 2)", who, i,
          kind[i]);
  std::vector<int64_t> length(B, T);
  if (lengths.defined()) {
    check(lengths.dtype() == DType::i64 && lengths.shape() == Shape{B},
          "{}: lengths must be i64 [B] = [{}], got {} {}", who, B, lengths.dtype(), lengths.shape());
    length = lengths.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      check(length[b] >= 0 && length[b] <= T, "{}: lengths[{}] = {} is outside [0, {}]", who, b,
            length[b], T);
  }
  // The position after the next token at or after `from` whose kind is at least `min_kind`, or
  // the length when there is none.
  const auto past_next = [&](int64_t b, int64_t from, int64_t min_kind) {
    for (int64_t t = from; t < length[b]; ++t)
      if (kind[b * T + t] >= min_kind) return t + 1;
    return length[b];
  };

  const Tensor tokens = reshape(x, {B * T, input_size});
  std::vector<int64_t> position(B, 0);
  std::vector<bool> reading(B);
  for (int64_t b = 0; b < B; ++b) reading[b] = length[b] > 0;
  Tensor h = zeros({B, H}, x.dtype(), x.device()), c = zeros({B, H}, x.dtype(), x.device());
  LSTMJumpOutput out;
  out.tokens_read.assign(B, 0);
  std::vector<Tensor> log_probs, baselines;
  std::vector<int64_t> decision_samples, decision_moves;
  while (true) {
    const std::vector<int64_t> rows =
        read_next_tokens(*cell, tokens, T, position, reading, h, c, out.cell_rows);
    if (rows.empty()) break;

    // Every sample that has tokens left decides its move.
    std::vector<int64_t> deciding;
    for (int64_t b : rows) {
      ++out.tokens_read[b];
      ++position[b];
      if (position[b] >= length[b]) reading[b] = false;
      else deciding.push_back(b);
    }
    if (deciding.empty()) continue;
    const ActiveRows at_decision(deciding, B);
    const Tensor state = compact(h, at_decision);
    const Categorical policy(move->forward(state));
    const Tensor choice = mode == JumpMode::greedy ? policy.mode() : policy.sample(*generator);
    log_probs.push_back(policy.log_prob(choice));
    baselines.push_back(baseline->forward(state));
    const std::vector<int64_t> m = choice.to_vector<int64_t>();
    for (size_t i = 0; i < deciding.size(); ++i) {
      const int64_t b = deciding[i];
      decision_samples.push_back(b);
      decision_moves.push_back(m[i]);
      switch (static_cast<StructuralMove>(m[i])) {
        case StructuralMove::next_word: break;
        case StructuralMove::next_separator: position[b] = past_next(b, position[b], 1); break;
        case StructuralMove::next_sentence: position[b] = past_next(b, position[b], 2); break;
        case StructuralMove::stop: position[b] = length[b]; break;
      }
      if (position[b] >= length[b]) reading[b] = false;
    }
  }
  out.h = h;
  out.logits = classifier->forward(h);
  const int64_t D = static_cast<int64_t>(decision_samples.size());
  out.decision_log_probs = D ? cat(log_probs, 0) : zeros({0}, x.dtype(), x.device());
  out.decision_baselines = D ? cat(baselines, 0) : zeros({0}, x.dtype(), x.device());
  out.decision_samples = from_vector(decision_samples, {D});
  out.decision_jumps = from_vector(decision_moves, {D});
  return out;
}

}  // namespace dg::dynamic
