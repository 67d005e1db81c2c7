// Softmax top-k gating: logits = x W^T (W [E, d]); each token keeps its k largest logits; the
// weights are the softmax over those k (renormalised, the default: softmax(topk(logits))), or the
// full softmax's probabilities of the k (not renormalised: topk(softmax(logits)), as Switch and
// some MoE language models use). An optional Switch-style load-balancing loss (coefficient 0 by
// default) is reported when its coefficient is set.
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct SoftmaxTopKOptions {
  bool renormalize = true;
  double load_balancing_coefficient = 0.0;
};

class SoftmaxTopKGate : public Gate {
 public:
  SoftmaxTopKGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                  const SoftmaxTopKOptions& gate = {}, const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "SoftmaxTopKGate"; }

  std::shared_ptr<nn::Linear> router;  // weight [E, d], no bias
  const SoftmaxTopKOptions gate_options;
};

}  // namespace dg::dynamic
