// BASE layers (Lewis et al. 2021, "Balanced assignment of sparse experts"): top-1 routing in which,
// during training, every expert receives the same number of tokens (T / E; the first T mod E
// experts one more), the assignment chosen to maximise the summed token-expert affinities
// a_te = x_t . w_e. The paper solves this linear assignment with the auction algorithm; here it is
// approximated as in S-BASE (Clark et al. 2022): a few Sinkhorn iterations balance exp(a) into a
// transport plan with row sums 1 and column sums T / E, then a greedy pass assigns token-expert
// pairs in decreasing plan order while the expert has room (always a complete, exactly balanced
// assignment). At inference each token takes its best expert (greedy top-1). The expert's output
// is scaled by sigmoid(a_te), which is how the router learns. No auxiliary loss.
#pragma once

#include <memory>

#include "dynamic/moe/gate.h"
#include "nn/linear.h"

namespace dg::dynamic {

struct BaseOptions {
  int64_t sinkhorn_iterations = 8;
};

class BaseGate : public Gate {
 public:
  BaseGate(int64_t d_model, int64_t num_experts, const BaseOptions& gate = {},
           const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "BaseGate"; }

  std::shared_ptr<nn::Linear> router;  // the expert embeddings w_e, [E, d]
  const BaseOptions gate_options;
};

// The balanced assignment of BaseGate on affinities [T, E] (row-major): expert per token.
std::vector<int64_t> balanced_assignment(const std::vector<double>& affinities, int64_t tokens,
                                         int64_t experts, int64_t sinkhorn_iterations);

}  // namespace dg::dynamic
