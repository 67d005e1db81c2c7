// The gate (router) interface of the mixture-of-experts layer (moe_layer.h) and the pieces the
// gates share. A gate looks at the tokens ([T, d] rows) and decides, per token, a few slots: which
// expert each slot goes to (or none) and with what weight the expert's output is added back. It
// also reports its auxiliary losses by name, each with the coefficient the layer applies.
//
// Every gate of the layer is one small class in its own file, written to read like its paper:
//   softmax_topk_gate.h   softmax top-k, renormalised over the k or not
//   noisy_topk_gate.h     Shazeer et al. 2017: trainable noise, importance and load losses
//   switch_gate.h         Fedus et al. 2021: top-1, load-balancing loss N sum f_i P_i, z-loss
//   gshard_gate.h         Lepikhin et al. 2021: top-2, random routing of the second expert
//   hash_gate.h           Roller et al. 2021: a fixed hash of the token id
//   base_gate.h           Lewis et al. 2021: balanced assignment (Sinkhorn, then greedy)
//   expert_choice_gate.h  Zhou et al. 2022: each expert picks its top-c tokens
//   loss_free_gate.h      DeepSeek-V3: a per-expert bias for selection, moved toward balance
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace dg::dynamic {

// One auxiliary loss of a gate: its unweighted value (0-dim) and the coefficient the layer's
// aux_loss() multiplies it by.
struct AuxLoss {
  std::string name;
  Tensor value;
  double coefficient = 0.0;
};

struct GateDecision {
  Tensor experts;   // i64 [T, slots]: the expert of each slot, -1 for none
  Tensor weights;   // [T, slots], the tokens' dtype: the weight of each slot's expert output
  Tensor probs;     // [T, E] the router's probabilities (for statistics); undefined without router
  std::vector<AuxLoss> losses;
};

class Gate : public nn::Module {
 public:
  Gate(int64_t num_experts, int64_t top_k);

  // x [T, d] -> the decision for every token. token_ids (i64 [T]) is needed by gates that route on
  // the token's identity (hash routing) and ignored by the others.
  virtual GateDecision route(const Tensor& x, const Tensor& token_ids) = 0;
  virtual bool needs_token_ids() const { return false; }
  // After a training forward the layer reports how many tokens each expert received (after any
  // capacity drop); gates that balance from the measured load (loss_free_gate.h) use it.
  virtual void observe_load(const std::vector<int64_t>& /*tokens_per_expert*/) {}

  int64_t num_experts() const { return num_experts_; }
  int64_t top_k() const { return top_k_; }

 protected:
  int64_t num_experts_, top_k_;
};

// ---------------------------------------------------------------- shared pieces

// The k largest of each row of scores [T, E]: values [T, k] and i64 indices [T, k], sorted
// descending, ties to the lower expert index.
struct TopK {
  Tensor values, indices;
};
TopK largest_k(const Tensor& scores, int64_t k);

// A [T, slots] weight tensor placed into a dense [T, E] one (zeros elsewhere); differentiable in
// the weights. Slots with expert -1 are left out.
Tensor dense_gates(const Tensor& experts, const Tensor& weights, int64_t num_experts);

// The squared coefficient of variation of a 1-D tensor: var / (mean^2 + 1e-10), with the
// population variance (as the authors' tensor2tensor code computes it).
Tensor cv_squared(const Tensor& v);

// Switch's load-balancing loss: E * sum_i f_i P_i, where f_i is the fraction of tokens whose first
// choice is expert i (first_choice i64 [T]) and P_i the mean router probability of i (probs [T, E]).
// Differentiable through P only, as in the paper.
Tensor load_balancing_loss(const Tensor& probs, const Tensor& first_choice);

// The router z-loss: mean over tokens of logsumexp(logits)^2.
Tensor router_z_loss(const Tensor& logits);

// Checks a gate's constructor arguments: 1 <= k <= E.
void check_gate_config(std::string_view gate, int64_t num_experts, int64_t top_k);

}  // namespace dg::dynamic
