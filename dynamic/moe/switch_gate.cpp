// Switch top-1 routing (see switch_gate.h).
#include "dynamic/moe/switch_gate.h"

namespace dg::dynamic {

SwitchGate::SwitchGate(int64_t d_model, int64_t num_experts, const SwitchOptions& gate,
                       const nn::ParamOptions& options)
    : Gate(num_experts, 1), gate_options(gate) {
  check_gate_config("SwitchGate", num_experts, 1);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

GateDecision SwitchGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor logits = router->forward(x);
  d.probs = softmax(logits, -1);
  const TopK best = largest_k(d.probs, 1);
  d.experts = best.indices;
  d.weights = best.values;
  d.losses.push_back({"load_balancing", load_balancing_loss(d.probs, select(best.indices, 1, 0)),
                      gate_options.load_balancing_coefficient});
  d.losses.push_back({"z_loss", router_z_loss(logits), gate_options.z_loss_coefficient});
  return d;
}

}  // namespace dg::dynamic
