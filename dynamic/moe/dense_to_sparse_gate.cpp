// The Dense-to-Sparse gate (see dense_to_sparse_gate.h).
#include "dynamic/moe/dense_to_sparse_gate.h"

namespace dg::dynamic {

DenseToSparseGate::DenseToSparseGate(int64_t d_model, int64_t num_experts,
                                     const DenseToSparseOptions& gate, const nn::ParamOptions& options)
    : Gate(num_experts, num_experts), threshold(gate.threshold), generator_(options.generator) {
  check_gate_config("DenseToSparseGate", num_experts, num_experts);
  check(gate.threshold >= 0.0 && gate.threshold < 1.0, "DenseToSparseGate: threshold {} outside [0, 1)",
        gate.threshold);
  set_temperature(gate.initial_temperature);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

void DenseToSparseGate::set_temperature(double tau) {
  check(tau > 0.0, "DenseToSparseGate: temperature must be positive, got {}", tau);
  temperature_ = tau;
}

GateDecision DenseToSparseGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  Tensor logits = router->forward(x);
  if (is_training()) {
    Generator& gen = generator_ ? *generator_ : default_generator();
    // Gumbel(0, 1) = -log(-log(U)), U uniform in (0, 1).
    const Tensor u = clamp(rand(logits.shape(), gen, logits.dtype()), 1e-12, 1.0 - 1e-12);
    logits = logits - log(-log(u));
  }
  d.weights = softmax(logits / temperature_, -1);
  d.probs = d.weights;
  const int64_t T = logits.shape()[0], E = num_experts_;
  const Tensor expert_ids = expand(reshape(arange(E), {1, E}), {T, E});
  d.experts = where(ge(d.weights.detach(), threshold), contiguous(expert_ids), full({T, E}, -1.0, DType::i64));
  return d;
}

}  // namespace dg::dynamic
