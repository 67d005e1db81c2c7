// Switch routing (Fedus et al. 2021): top-1. p = softmax(x W^T); each token goes to its argmax
// expert with weight p_i (not renormalised). Auxiliary losses:
//   load_balancing  N * sum_i f_i P_i   (f_i the fraction of tokens routed to i, P_i the mean of
//                   p_i over the tokens; coefficient alpha = 1e-2)
//   z_loss          mean over tokens of logsumexp(logits)^2 (ST-MoE; coefficient 1e-3)
// The expert capacity ceil(tokens / N * capacity_factor) and the dropping of overflow tokens are the
// layer's capacity mode (moe_layer.h).
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct SwitchOptions {
  double load_balancing_coefficient = 1e-2;
  double z_loss_coefficient = 1e-3;
};

class SwitchGate : public Gate {
 public:
  SwitchGate(int64_t d_model, int64_t num_experts, const SwitchOptions& gate = {},
             const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "SwitchGate"; }

  std::shared_ptr<nn::Linear> router;
  const SwitchOptions gate_options;
};

}  // namespace dg::dynamic
