// Expert-choice routing (Zhou et al. 2022): the experts choose the tokens. Scores
// S = softmax(x W^T) over the experts, [T, E]; each expert takes the c tokens with the highest
// score in its column, c = ceil(T * capacity_factor / E) (at most T). A token may be chosen by
// several experts or by none (it then passes through the residual); its output is
// sum over the experts that chose it of S[t, e] * expert_e(x_t). Every expert processes exactly c
// tokens, so the load is balanced by construction and there is no auxiliary loss.
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

class ExpertChoiceGate : public Gate {
 public:
  ExpertChoiceGate(int64_t d_model, int64_t num_experts, double capacity_factor = 1.0,
                   const nn::ParamOptions& options = {});
  // The decision has E slots per token: slot e is expert e when e chose the token, -1 otherwise.
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "ExpertChoiceGate"; }

  // Tokens per expert for a batch of T tokens.
  int64_t tokens_per_expert(int64_t tokens) const;

  std::shared_ptr<nn::Linear> router;
  const double capacity_factor;
};

}  // namespace dg::dynamic
