// PolicyReader: see policy_reader.h.
#include "dynamic/policy_reader.h"

#include "dynamic/distributions.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

PolicyReader::PolicyReader(int64_t input_size, int64_t hidden_size, int64_t num_classes,
                           const PolicyReaderOptions& options, const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), num_classes(num_classes), options(options) {
  check(options.max_skip >= 0 && options.max_reads >= 0,
        "PolicyReader: max_skip and max_reads must be >= 0, got {} and {}", options.max_skip,
        options.max_reads);
  cell = register_module("cell", std::make_shared<nn::LSTMCell>(input_size, hidden_size, true, param));
  policy = register_module("policy", std::make_shared<nn::Linear>(hidden_size, num_moves(), true, param));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(hidden_size, num_classes, true, param));
  baseline = register_module("baseline", std::make_shared<LearnedBaseline>(hidden_size, param));
}

LSTMJumpOutput PolicyReader::forward(const Tensor& x, const Tensor& lengths, JumpMode mode,
                                     Generator* generator) {
  constexpr std::string_view who = "PolicyReader";
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size && x.dtype() == cell->weight_ih.dtype(),
        "{}: expected a batch-first input [B, T, {}] of dtype {}, got {} {}", who, input_size,
        cell->weight_ih.dtype(), x.defined() ? x.shape() : Shape{}, x.defined() ? x.dtype() : DType::f32);
  check(mode == JumpMode::greedy || generator, "{}: sampled moves need a generator", who);
  const int64_t B = x.shape()[0], T = x.shape()[1], H = hidden_size;
  std::vector<int64_t> length(B, T);
  if (lengths.defined()) {
    check(lengths.dtype() == DType::i64 && lengths.shape() == Shape{B},
          "{}: lengths must be i64 [B] = [{}], got {} {}", who, B, lengths.dtype(), lengths.shape());
    length = lengths.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      check(length[b] >= 0 && length[b] <= T, "{}: lengths[{}] = {} is outside [0, {}]", who, b,
            length[b], T);
  }
  const int64_t max_reads = options.max_reads > 0 ? options.max_reads : 2 * T;

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

    // A sample decides after every token it reads, unless reading has ended anyway.
    std::vector<int64_t> deciding;
    for (int64_t b : rows) {
      ++out.tokens_read[b];
      const bool more = position[b] + 1 < length[b] || options.reread;
      if (out.tokens_read[b] >= max_reads || !more) reading[b] = false;
      else deciding.push_back(b);
    }
    if (deciding.empty()) continue;
    const ActiveRows at_decision(deciding, B);
    const Tensor state = compact(h, at_decision);
    const Categorical moves(policy->forward(state));
    const Tensor choice = mode == JumpMode::greedy ? moves.mode() : moves.sample(*generator);
    log_probs.push_back(moves.log_prob(choice));
    baselines.push_back(baseline->forward(state));
    const std::vector<int64_t> m = choice.to_vector<int64_t>();
    for (size_t i = 0; i < deciding.size(); ++i) {
      const int64_t b = deciding[i];
      decision_samples.push_back(b);
      decision_moves.push_back(m[i]);
      if (m[i] == kStop) reading[b] = false;
      else if (m[i] == kNext) position[b] += 1;
      else if (m[i] <= 1 + options.max_skip) position[b] += m[i];  // skip k = m - 1 tokens
      // reread: the position stays
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
