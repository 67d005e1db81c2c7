// MoEfication (Zhang et al. 2021, "MoEfication: transformer feed-forward layers are mixtures of
// experts"): a trained dense FFN  y = W2 relu(W1 x + b1) + b2  is split, without retraining, into
// E experts, each a group of d_ff / E hidden neurons that tend to fire together, and a router is
// trained to predict which groups matter for an input.
//
//   1. co-activation: on calibration inputs, A = relu(W1 x + b1) > 0 per neuron; C = A^T A counts
//      how often two neurons fire together.
//   2. grouping (a greedy balanced partition of the co-activation graph): the most frequently
//      active unassigned neuron seeds a group, which takes the d_ff / E - 1 unassigned neurons
//      that fire with it most often; repeat. (The paper uses balanced graph partitioning or
//      balanced k-means; this is the simplest balanced partition of the same graph.)
//   3. experts: group e's rows of W1, b1 and columns of W2; the bias b2 is split evenly over the
//      k selected experts, so the k experts of a token add it up to b2 once.
//   4. router: the oracle label of an input is its k groups with the largest summed activation;
//      a linear router is fitted to them (softmax cross-entropy on the oracle's multi-hot target,
//      plain gradient descent). The MoEficationGate selects the k highest router scores and
//      weighs every selected expert 1: the layer then computes the dense FFN restricted to the
//      selected neurons (all of it when k = E).
#pragma once

#include <memory>
#include <vector>

#include "dynamic/moe/gate.h"
#include "dynamic/moe/moe_layer.h"
#include "nn/linear.h"

namespace dg::dynamic {

// Top-k by router score, weight 1 per selected expert.
class MoEficationGate : public Gate {
 public:
  MoEficationGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                  const nn::ParamOptions& options = {});
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  std::string type_name() const override { return "MoEficationGate"; }

  std::shared_ptr<nn::Linear> router;
};

// Step 1-2: the neuron groups (E lists of d_ff / E neuron indices) of fc1 on inputs [n, d].
std::vector<std::vector<int64_t>> coactivation_groups(const nn::Linear& fc1, const Tensor& inputs,
                                                      int64_t num_experts);

// Step 4's oracle: the summed activation of each group for each input, [n, E].
Tensor group_activation(const nn::Linear& fc1, const Tensor& inputs,
                        const std::vector<std::vector<int64_t>>& groups);

struct MoEficationOptions {
  int64_t num_experts = 8;
  int64_t top_k = 2;
  int64_t router_steps = 200;
  double router_learning_rate = 0.5;
};

// Steps 1-4: the MoE (relu experts, dropless) equivalent to fc2(relu(fc1(x))) when k = E.
std::shared_ptr<MoE> moefy(const nn::Linear& fc1, const nn::Linear& fc2, const Tensor& inputs,
                           const MoEficationOptions& options = {});

}  // namespace dg::dynamic
