// Softmax top-k gating (see softmax_topk_gate.h).
#include "dynamic/moe/softmax_topk_gate.h"

namespace dg::dynamic {

SoftmaxTopKGate::SoftmaxTopKGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                                 const SoftmaxTopKOptions& gate, const nn::ParamOptions& options)
    : Gate(num_experts, top_k), gate_options(gate) {
  check_gate_config("SoftmaxTopKGate", num_experts, top_k);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

GateDecision SoftmaxTopKGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor logits = router->forward(x);
  d.probs = softmax(logits, -1);
  const TopK best = largest_k(logits, top_k_);
  d.experts = best.indices;
  d.weights = gate_options.renormalize ? softmax(best.values, -1) : gather(d.probs, 1, best.indices);
  if (gate_options.load_balancing_coefficient > 0.0)
    d.losses.push_back({"load_balancing", load_balancing_loss(d.probs, select(best.indices, 1, 0)),
                        gate_options.load_balancing_coefficient});
  return d;
}

}  // namespace dg::dynamic
