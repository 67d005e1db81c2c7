// M6-T's "k top-1" routing (Yang et al. 2021, "M6-T: exploring sparse expert models and beyond"):
// the E experts are split into k prototypes, groups of E / k consecutive experts, each with its
// own softmax over its experts' logits; every token takes the top-1 expert inside each prototype,
// weighted by that prototype's probability, and the layer sums the k gated outputs. The
// per-prototype Switch load-balancing loss, averaged over the prototypes, is reported
// (coefficient 1e-2; the paper finds it balances the load without improving quality).
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

class KTop1Gate : public Gate {
 public:
  // num_experts must be a multiple of prototypes (k).
  KTop1Gate(int64_t d_model, int64_t num_experts, int64_t prototypes,
            double load_balancing_coefficient = 1e-2, const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "KTop1Gate"; }

  std::shared_ptr<nn::Linear> router;
  const double load_balancing_coefficient;
};

}  // namespace dg::dynamic
