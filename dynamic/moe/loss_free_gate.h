// Auxiliary-loss-free load balancing (DeepSeek-V3, Wang et al. 2024): affinities s = sigmoid(x W^T);
// the top-k experts are selected by s_i + b_i, where b is a per-expert bias used for selection
// only; the weights are the selected s_i, normalised to sum to 1 (b never enters them, so it
// carries no gradient). After each training forward the layer reports the measured load and
//   b_i += gamma * sign(mean load - load_i)      (gamma = 1e-3)
// so overloaded experts become less likely to be picked and underloaded ones more.
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct LossFreeOptions {
  double bias_update_rate = 1e-3;  // gamma
};

class LossFreeGate : public Gate {
 public:
  LossFreeGate(int64_t d_model, int64_t num_experts, int64_t top_k,
               const LossFreeOptions& gate = {}, const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  void observe_load(const std::vector<int64_t>& tokens_per_expert) override;
  std::string type_name() const override { return "LossFreeGate"; }

  std::shared_ptr<nn::Linear> router;
  Tensor expert_bias;  // [E] buffer, starts at zero
  const LossFreeOptions gate_options;
};

}  // namespace dg::dynamic
