// GShard top-2 gating (Lepikhin et al. 2021, Algorithm 1): p = softmax(x W^T); the two largest,
// g1 and g2, are renormalised to g1 / (g1 + g2) and g2 / (g1 + g2). Random routing: in training
// the second expert is used only with probability min(1, 2 g2) (after renormalisation), so a token
// whose second choice is weak mostly goes to one expert. Auxiliary loss (coefficient 1e-2):
//   l_aux = E * sum_e (c_e / S) m_e,  c_e the tokens whose first choice is e, S the tokens, m_e the
//   mean probability of e (the same quantity as Switch's loss).
// The expert capacity and the drop of overflowing slots (first choices before second ones) are
// the layer's capacity mode with the by-position policy (moe_layer.h).
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct GShardOptions {
  bool random_routing = true;
  double load_balancing_coefficient = 1e-2;
};

class GShardGate : public Gate {
 public:
  GShardGate(int64_t d_model, int64_t num_experts, const GShardOptions& gate = {},
             const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "GShardGate"; }

  std::shared_ptr<nn::Linear> router;
  const GShardOptions gate_options;

 private:
  Generator* generator_;
};

}  // namespace dg::dynamic
