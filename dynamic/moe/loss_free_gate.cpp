// Auxiliary-loss-free balancing (see loss_free_gate.h).
#include "dynamic/moe/loss_free_gate.h"

namespace dg::dynamic {

LossFreeGate::LossFreeGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                           const LossFreeOptions& gate, const nn::ParamOptions& options)
    : Gate(num_experts, top_k), gate_options(gate) {
  check_gate_config("LossFreeGate", num_experts, top_k);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
  expert_bias = register_buffer("expert_bias", zeros({num_experts}, options.dtype));
}

GateDecision LossFreeGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor s = sigmoid(router->forward(x));
  Tensor chosen;
  {
    NoGradGuard no_grad;  // the bias only selects
    chosen = largest_k(s + expert_bias, top_k_).indices;
  }
  const Tensor selected = gather(s, 1, chosen);
  d.experts = chosen;
  d.weights = selected / sum(selected, {1}, /*keepdim=*/true);
  d.probs = s / sum(s, {1}, /*keepdim=*/true);
  return d;
}

void LossFreeGate::observe_load(const std::vector<int64_t>& tokens_per_expert) {
  if (!is_training()) return;
  double mean_load = 0;
  for (int64_t n : tokens_per_expert) mean_load += static_cast<double>(n);
  mean_load /= static_cast<double>(tokens_per_expert.size());
  std::vector<double> step(tokens_per_expert.size());
  for (size_t e = 0; e < step.size(); ++e) {
    const double gap = mean_load - static_cast<double>(tokens_per_expert[e]);
    step[e] = gate_options.bias_update_rate * (gap > 0 ? 1.0 : gap < 0 ? -1.0 : 0.0);
  }
  NoGradGuard no_grad;
  expert_bias.add_(to_dtype(from_vector(step), expert_bias.dtype()));
}

}  // namespace dg::dynamic
