// GShard top-2 gating (see gshard_gate.h).
#include "dynamic/moe/gshard_gate.h"

namespace dg::dynamic {

GShardGate::GShardGate(int64_t d_model, int64_t num_experts, const GShardOptions& gate,
                       const nn::ParamOptions& options)
    : Gate(num_experts, 2), gate_options(gate), generator_(options.generator) {
  check_gate_config("GShardGate", num_experts, 2);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

GateDecision GShardGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor logits = router->forward(x);
  d.probs = softmax(logits, -1);
  const TopK best = largest_k(d.probs, 2);
  d.weights = best.values / sum(best.values, {1}, /*keepdim=*/true);
  d.experts = best.indices;
  if (gate_options.random_routing && is_training()) {
    // Keep the second expert with probability min(1, 2 g2): a uniform draw below 2 g2.
    Generator& gen = generator_ ? *generator_ : default_generator();
    const Tensor g2 = select(d.weights, 1, 1).detach();
    const Tensor keep = lt(rand(g2.shape(), gen, g2.dtype()), g2 * 2.0);
    const Tensor second = where(keep, select(d.experts, 1, 1), full(g2.shape(), -1.0, DType::i64));
    d.experts = stack({select(d.experts, 1, 0), second}, 1);
  }
  d.losses.push_back({"load_balancing", load_balancing_loss(d.probs, select(best.indices, 1, 0)),
                      gate_options.load_balancing_coefficient});
  return d;
}

}  // namespace dg::dynamic
