// ReasoNet: see reasonet.h.
#include "dynamic/reasonet.h"

#include <cmath>

#include "dynamic/distributions.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::dynamic {

ReasoNet::ReasoNet(int64_t memory_size, int64_t hidden_size, int64_t num_classes, int64_t max_steps,
                   const nn::ParamOptions& param)
    : memory_size(memory_size), hidden_size(hidden_size), num_classes(num_classes), max_steps(max_steps) {
  check(max_steps >= 1, "ReasoNet: max_steps must be >= 1, got {}", max_steps);
  attention_weight =
      register_parameter("attention_weight", Tensor::empty({hidden_size, memory_size}, param.dtype));
  nn::init::uniform_(attention_weight, -1.0 / std::sqrt(static_cast<double>(memory_size)),
                     1.0 / std::sqrt(static_cast<double>(memory_size)), param.generator);
  cell = register_module("cell", std::make_shared<nn::GRUCell>(memory_size, hidden_size, true, param));
  terminate = register_module("terminate", std::make_shared<nn::Linear>(hidden_size, 1, true, param));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(hidden_size, num_classes, true, param));
}

ReasoNetOutput ReasoNet::forward(const Tensor& initial_state, const Tensor& memory, JumpMode mode,
                                 Generator* generator) {
  constexpr std::string_view who = "ReasoNet";
  check(initial_state.defined() && initial_state.dim() == 2 && initial_state.shape()[1] == hidden_size &&
            initial_state.dtype() == attention_weight.dtype(),
        "{}: expected an initial state [B, {}] of dtype {}, got {}", who, hidden_size,
        attention_weight.dtype(), initial_state.defined() ? initial_state.shape() : Shape{});
  const int64_t B = initial_state.shape()[0];
  check(memory.defined() && memory.dim() == 3 && memory.shape()[0] == B &&
            memory.shape()[2] == memory_size && memory.dtype() == initial_state.dtype(),
        "{}: expected a memory [{}, L, {}], got {}", who, B, memory_size,
        memory.defined() ? memory.shape() : Shape{});
  check(mode == JumpMode::greedy || generator, "{}: sampled decisions need a generator", who);

  Tensor s = initial_state;
  Tensor answer_state = zeros_like(initial_state);
  std::vector<bool> running(B, true);
  ReasoNetOutput out;
  out.steps.assign(B, 0);
  Tensor log_prob_sum = zeros({B}, s.dtype(), s.device());
  for (int64_t t = 0; t < max_steps; ++t) {
    std::vector<int64_t> rows;
    for (int64_t b = 0; b < B; ++b)
      if (running[b]) rows.push_back(b);
    if (rows.empty()) break;
    const ActiveRows active(rows, B);
    const Tensor s_a = compact(s, active);
    std::vector<double> stop(rows.size(), 1.0);
    if (t + 1 < max_steps) {  // the last step always stops
      const Bernoulli gate(squeeze(terminate->forward(s_a), 1));
      const Tensor decision = mode == JumpMode::greedy ? gate.mode() : gate.sample(*generator);
      log_prob_sum = log_prob_sum + write_back(zeros({B}, s.dtype(), s.device()), gate.log_prob(decision), active);
      stop = decision.to_vector<double>();
    }
    std::vector<int64_t> stopping, continuing;
    for (size_t i = 0; i < rows.size(); ++i) (stop[i] != 0.0 ? stopping : continuing).push_back(rows[i]);
    if (!stopping.empty()) {
      const ActiveRows done(stopping, B);
      answer_state = write_back(answer_state, compact(s, done), done);
      for (int64_t b : stopping) running[b] = false;
    }
    if (continuing.empty()) continue;
    const ActiveRows go(continuing, B);
    const Tensor s_go = compact(s, go), m_go = compact(memory, go);     // [n, H], [n, L, d_m]
    const Tensor keys = matmul(unsqueeze(matmul(s_go, attention_weight), 1), transpose(m_go, 1, 2));
    const Tensor weights = softmax(keys, -1);                           // [n, 1, L]
    const Tensor x = squeeze(matmul(weights, m_go), 1);                 // [n, d_m]
    s = write_back(s, cell->forward(x, s_go), go);
    for (int64_t b : continuing) ++out.steps[b];
    out.step_rows += go.count();
  }
  out.state = answer_state;
  out.logits = classifier->forward(answer_state);
  out.stop_log_probs = log_prob_sum;
  return out;
}

}  // namespace dg::dynamic
