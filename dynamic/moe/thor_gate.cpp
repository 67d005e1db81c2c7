// THOR's stochastic experts (see thor_gate.h).
#include "dynamic/moe/thor_gate.h"

namespace dg::dynamic {

ThorGate::ThorGate(int64_t num_experts, Generator* generator)
    : Gate(num_experts, 1), generator_(generator) {
  check_gate_config("ThorGate", num_experts, 1);
}

GateDecision ThorGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  const int64_t T = x.shape()[0];
  Generator& gen = generator_ ? *generator_ : default_generator();
  GateDecision d;
  d.experts = randint(0, num_experts_, {T, 1}, gen);
  d.weights = ones({T, 1}, x.dtype());
  return d;
}

Tensor thor_consistency_loss(const Tensor& logits_a, const Tensor& logits_b) {
  check(logits_a.shape() == logits_b.shape() && logits_a.dim() == 2,
        "thor_consistency_loss: logits {} and {} must both be [N, C]", logits_a.shape(), logits_b.shape());
  const Tensor log_a = log_softmax(logits_a, -1), log_b = log_softmax(logits_b, -1);
  const Tensor kl_ab = sum(exp(log_a) * (log_a - log_b), {1});
  const Tensor kl_ba = sum(exp(log_b) * (log_b - log_a), {1});
  return mean(kl_ab + kl_ba) * 0.5;
}

}  // namespace dg::dynamic
