// THOR (Zuo et al. 2022, "Taming sparsely activated transformer with stochastic experts"): no
// router. Each call sends every token to one expert drawn uniformly at random, with weight 1. In
// training the model is run twice on the same batch (two independent draws, so each input meets a
// random pair of experts), and the loss is both task losses plus a consistency term between the
// two predictions, thor_consistency_loss; at inference one random draw is used (the paper's
// "random" mode). No balancing loss: the draws are uniform.
#pragma once

#include "dynamic/moe/gate.h"

namespace dg::dynamic {

class ThorGate : public Gate {
 public:
  explicit ThorGate(int64_t num_experts, Generator* generator = nullptr);
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "ThorGate"; }

 private:
  Generator* generator_;
};

// The symmetric KL between the two passes' predictions, from their logits [N, C]:
//   0.5 * mean_n (KL(p_a || p_b) + KL(p_b || p_a)),  p = softmax(logits).
Tensor thor_consistency_loss(const Tensor& logits_a, const Tensor& logits_b);

}  // namespace dg::dynamic
