// Expert-choice routing (see expert_choice_gate.h).
#include "dynamic/moe/expert_choice_gate.h"

#include <algorithm>
#include <cmath>

namespace dg::dynamic {

ExpertChoiceGate::ExpertChoiceGate(int64_t d_model, int64_t num_experts, double capacity_factor,
                                   const nn::ParamOptions& options)
    : Gate(num_experts, 1), capacity_factor(capacity_factor) {
  check_gate_config("ExpertChoiceGate", num_experts, 1);
  check(capacity_factor > 0.0, "ExpertChoiceGate: capacity factor must be positive, got {}",
        capacity_factor);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

int64_t ExpertChoiceGate::tokens_per_expert(int64_t tokens) const {
  const double c = std::ceil(static_cast<double>(tokens) * capacity_factor /
                             static_cast<double>(num_experts_) - 1e-9);
  return std::clamp<int64_t>(static_cast<int64_t>(c), tokens > 0 ? 1 : 0, tokens);
}

GateDecision ExpertChoiceGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor scores = softmax(router->forward(x), -1);  // [T, E]
  const int64_t T = scores.shape()[0], E = num_experts_;
  const int64_t c = tokens_per_expert(T);
  std::vector<int64_t> experts(T * E, -1);
  if (c > 0) {
    const Tensor chosen = std::get<1>(topk(transpose(scores, 0, 1), c, 1));  // [E, c] token ids
    const std::vector<int64_t> tokens = chosen.to_vector<int64_t>();
    for (int64_t e = 0; e < E; ++e)
      for (int64_t j = 0; j < c; ++j) experts[tokens[e * c + j] * E + e] = e;
  }
  d.experts = from_vector(experts, {T, E});
  d.weights = scores;
  d.probs = scores;
  return d;
}

}  // namespace dg::dynamic
