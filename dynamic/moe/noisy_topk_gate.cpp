// Noisy top-k gating (see noisy_topk_gate.h).
#include "dynamic/moe/noisy_topk_gate.h"

#include <cmath>

namespace dg::dynamic {

namespace {

Tensor normal_cdf(const Tensor& z) { return (erf(z * (1.0 / std::sqrt(2.0))) + 1.0) * 0.5; }

}  // namespace

NoisyTopKGate::NoisyTopKGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                             const NoisyTopKOptions& gate, const nn::ParamOptions& options)
    : Gate(num_experts, top_k), gate_options(gate), generator_(options.generator) {
  check_gate_config("NoisyTopKGate", num_experts, top_k);
  w_gate = register_parameter("w_gate", zeros({d_model, num_experts}, options.dtype));
  w_noise = register_parameter("w_noise", zeros({d_model, num_experts}, options.dtype));
}

GateDecision NoisyTopKGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor clean = matmul(x, w_gate);
  const bool noisy = gate_options.noisy && is_training();
  Tensor logits = clean, noise_std;
  if (noisy) {
    noise_std = softplus(matmul(x, w_noise));
    Generator& gen = generator_ ? *generator_ : default_generator();
    last_noise_ = randn(clean.shape(), gen, clean.dtype());
    logits = clean + last_noise_ * noise_std;
  }
  // One more than k, for the load estimate's thresholds (when there is one more expert).
  const int64_t m = std::min(top_k_ + 1, num_experts_);
  const TopK best = largest_k(logits, m);
  d.experts = narrow(best.indices, 1, 0, top_k_);
  d.weights = softmax(narrow(best.values, 1, 0, top_k_), -1);
  const Tensor gates = dense_gates(d.experts, d.weights, num_experts_);
  d.probs = softmax(logits, -1);  // for the layer's statistics (router entropy)

  Tensor load;
  if (noisy && m > top_k_) {
    const Tensor threshold_if_in = narrow(best.values, 1, top_k_, 1);     // (k+1)-th largest
    const Tensor threshold_if_out = narrow(best.values, 1, top_k_ - 1, 1);  // k-th largest
    const Tensor is_in = gt(logits, threshold_if_in);
    const Tensor prob_if_in = normal_cdf((clean - threshold_if_in) / noise_std);
    const Tensor prob_if_out = normal_cdf((clean - threshold_if_out) / noise_std);
    load = sum(where(is_in, prob_if_in, prob_if_out), {0});
  } else {
    load = sum(to_dtype(gt(gates.detach(), 0.0), gates.dtype()), {0});
  }
  d.losses.push_back({"importance", cv_squared(sum(gates, {0})), gate_options.importance_coefficient});
  d.losses.push_back({"load", cv_squared(load), gate_options.load_coefficient});
  return d;
}

}  // namespace dg::dynamic
