// Focused Hierarchical RNN: see focused_hierarchical_rnn.h.
#include "dynamic/focused_hierarchical_rnn.h"

#include "dynamic/distributions.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

FocusedHierarchicalRNN::FocusedHierarchicalRNN(int64_t input_size, int64_t question_size,
                                               int64_t lower_hidden, int64_t upper_hidden,
                                               int64_t num_classes, const nn::ParamOptions& param)
    : input_size(input_size), question_size(question_size), lower_hidden(lower_hidden),
      upper_hidden(upper_hidden), num_classes(num_classes) {
  lower = register_module("lower", std::make_shared<nn::LSTMCell>(input_size, lower_hidden, true, param));
  upper = register_module("upper", std::make_shared<nn::LSTMCell>(lower_hidden, upper_hidden, true, param));
  gate = register_module("gate", std::make_shared<nn::Linear>(lower_hidden + question_size, 1, true, param));
  classifier = register_module(
      "classifier", std::make_shared<nn::Linear>(upper_hidden + question_size, num_classes, true, param));
  baseline = register_module("baseline", std::make_shared<LearnedBaseline>(lower_hidden + question_size, param));
}

FocusedOutput FocusedHierarchicalRNN::forward(const Tensor& x, const Tensor& question, JumpMode mode,
                                              Generator* generator) {
  constexpr std::string_view who = "FocusedHierarchicalRNN";
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size && x.dtype() == gate->weight.dtype(),
        "{}: expected a batch-first input [B, T, {}] of dtype {}, got {}", who, input_size,
        gate->weight.dtype(), x.defined() ? x.shape() : Shape{});
  const int64_t B = x.shape()[0], T = x.shape()[1];
  check(question.defined() && question.shape() == Shape{B, question_size} && question.dtype() == x.dtype(),
        "{}: expected a question [{}, {}] of dtype {}, got {}", who, B, question_size, x.dtype(),
        question.defined() ? question.shape() : Shape{});
  check(mode == JumpMode::greedy || generator, "{}: sampled gates need a generator", who);

  nn::LSTMState low;
  Tensor h_up = zeros({B, upper_hidden}, x.dtype(), x.device());
  Tensor c_up = zeros({B, upper_hidden}, x.dtype(), x.device());
  FocusedOutput out;
  std::vector<Tensor> log_probs, baselines, gates;
  for (int64_t t = 0; t < T; ++t) {
    low = lower->forward(select(x, 1, t), low);
    const Tensor features = cat({low.h, question}, 1);
    const Bernoulli decision(squeeze(gate->forward(features), 1));
    const Tensor z = mode == JumpMode::greedy ? decision.mode() : decision.sample(*generator);
    log_probs.push_back(decision.log_prob(z));
    baselines.push_back(baseline->forward(features));
    gates.push_back(z);
    std::vector<int64_t> rows;
    const std::vector<double> zv = z.to_vector<double>();
    for (int64_t b = 0; b < B; ++b)
      if (zv[b] != 0.0) rows.push_back(b);
    if (rows.empty()) continue;
    const ActiveRows open(rows, B);
    const nn::LSTMState next =
        upper->forward(compact(low.h, open), {compact(h_up, open), compact(c_up, open)});
    h_up = write_back(h_up, next.h, open);
    c_up = write_back(c_up, next.c, open);
    out.upper_rows += open.count();
  }
  out.h_upper = h_up;
  out.logits = classifier->forward(cat({h_up, question}, 1));
  if (T > 0) {
    out.gate_log_probs = stack(log_probs, 1);
    out.gate_baselines = stack(baselines, 1);
    out.gates = stack(gates, 1);
  }
  return out;
}

JumpLosses focused_losses(const FocusedOutput& out, const Tensor& reward) {
  const int64_t B = out.logits.shape()[0];
  check(reward.defined() && reward.shape() == Shape{B} && reward.dtype() == out.logits.dtype(),
        "focused_losses: reward must be {} [{}]", out.logits.dtype(), B);
  if (!out.gate_baselines.defined()) {
    const Tensor zero = scalar(0.0, out.logits.dtype(), out.logits.device());
    return {zero, zero};
  }
  const Tensor r = expand(unsqueeze(reward.detach(), 1), out.gate_baselines.shape());  // [B, T]
  const Tensor advantage = r - out.gate_baselines.detach();
  return {-sum(advantage * out.gate_log_probs) / static_cast<double>(B),
          mse_loss(out.gate_baselines, r)};
}

}  // namespace dg::dynamic
