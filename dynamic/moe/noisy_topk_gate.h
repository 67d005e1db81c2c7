// Noisily gated top-k (Shazeer et al. 2017, "Outrageously large neural networks"):
//
//   H(x)_i = (x W_g)_i + eps * softplus((x W_noise)_i),  eps ~ N(0, 1)   (noise in training only)
//   G(x)   = softmax(KeepTopK(H(x), k))
//
// W_g and W_noise [d, E] start at zero, as in the paper. Two auxiliary losses, weight 1e-2 each:
//   importance  CV^2(sum over the batch of G(x))
//   load        CV^2(load), load_i = sum_x Phi((clean_i - thr_i) / std_i), the smooth estimate of
//               how many tokens pick expert i: thr_i is the k-th largest noisy logit among the
//               other experts (the (k+1)-th largest overall when i is itself in the top k), Phi the
//               standard normal CDF. Without noise (eval, or noise off) the load is the count of
//               tokens with a non-zero gate, which carries no gradient.
// CV^2 = var / (mean^2 + 1e-10) with the population variance (the authors' tensor2tensor code).
#pragma once

#include "dynamic/moe/gate.h"

namespace dg::dynamic {

struct NoisyTopKOptions {
  bool noisy = true;
  double importance_coefficient = 1e-2;
  double load_coefficient = 1e-2;
};

class NoisyTopKGate : public Gate {
 public:
  NoisyTopKGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                const NoisyTopKOptions& gate = {}, const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "NoisyTopKGate"; }

  // The noise of the last training forward ([T, E]); tests recompute the formulas from it.
  const Tensor& last_noise() const { return last_noise_; }

  Tensor w_gate;   // [d, E], zeros at start
  Tensor w_noise;  // [d, E], zeros at start
  const NoisyTopKOptions gate_options;

 private:
  Generator* generator_;
  Tensor last_noise_;
};

}  // namespace dg::dynamic
