// MoEfication (see moefication.h).
#include "dynamic/moe/moefication.h"

#include <algorithm>
#include <numeric>

namespace dg::dynamic {

MoEficationGate::MoEficationGate(int64_t d_model, int64_t num_experts, int64_t top_k,
                                 const nn::ParamOptions& options)
    : Gate(num_experts, top_k) {
  check_gate_config("MoEficationGate", num_experts, top_k);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, true, options));
}

GateDecision MoEficationGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor logits = router->forward(x);
  d.probs = softmax(logits, -1);
  d.experts = largest_k(logits, top_k_).indices;
  d.weights = ones(d.experts.shape(), x.dtype());
  return d;
}

std::vector<std::vector<int64_t>> coactivation_groups(const nn::Linear& fc1, const Tensor& inputs,
                                                      int64_t num_experts) {
  const int64_t d_ff = fc1.out_features;
  check(num_experts >= 1 && d_ff % num_experts == 0,
        "coactivation_groups: d_ff = {} neurons do not split into {} equal experts", d_ff, num_experts);
  NoGradGuard no_grad;
  const Tensor active = to_dtype(gt(linear(inputs, fc1.weight, fc1.bias), 0.0), DType::f64);  // [n, d_ff]
  const std::vector<double> C = matmul(transpose(active, 0, 1), active).to_vector<double>();
  const int64_t size = d_ff / num_experts;
  std::vector<bool> taken(d_ff, false);
  std::vector<std::vector<int64_t>> groups;
  for (int64_t g = 0; g < num_experts; ++g) {
    int64_t seed = -1;
    for (int64_t i = 0; i < d_ff; ++i)  // the most frequently active free neuron (C[i][i])
      if (!taken[i] && (seed < 0 || C[i * d_ff + i] > C[seed * d_ff + seed])) seed = i;
    std::vector<int64_t> free;
    for (int64_t i = 0; i < d_ff; ++i)
      if (!taken[i] && i != seed) free.push_back(i);
    std::stable_sort(free.begin(), free.end(),
                     [&](int64_t a, int64_t b) { return C[seed * d_ff + a] > C[seed * d_ff + b]; });
    std::vector<int64_t> group{seed};
    group.insert(group.end(), free.begin(), free.begin() + (size - 1));
    for (int64_t i : group) taken[i] = true;
    std::sort(group.begin(), group.end());
    groups.push_back(group);
  }
  return groups;
}

Tensor group_activation(const nn::Linear& fc1, const Tensor& inputs,
                        const std::vector<std::vector<int64_t>>& groups) {
  NoGradGuard no_grad;
  const Tensor h = relu(linear(inputs, fc1.weight, fc1.bias));
  std::vector<Tensor> columns;
  for (const auto& g : groups) columns.push_back(sum(index_select(h, 1, from_vector(g)), {1}));
  return stack(columns, 1);
}

std::shared_ptr<MoE> moefy(const nn::Linear& fc1, const nn::Linear& fc2, const Tensor& inputs,
                           const MoEficationOptions& options) {
  const int64_t E = options.num_experts, k = options.top_k, d = fc1.in_features;
  const auto groups = coactivation_groups(fc1, inputs, E);
  const int64_t width = fc1.out_features / E;
  const DType dtype = fc1.weight.dtype();
  auto gate = std::make_shared<MoEficationGate>(d, E, k, nn::ParamOptions{.dtype = dtype});
  auto layer = std::make_shared<MoE>(d, width, gate,
                                     MoEOptions{.activation = ExpertActivation::relu, .name = "moefied"},
                                     nn::ParamOptions{.dtype = dtype});
  {
    NoGradGuard no_grad;
    for (int64_t e = 0; e < E; ++e) {
      const Tensor rows = from_vector(groups[e]);
      select(layer->w1, 0, e).copy_(transpose(index_select(fc1.weight, 0, rows), 0, 1));
      select(layer->b1, 0, e).copy_(fc1.bias.defined() ? index_select(fc1.bias, 0, rows) : zeros({width}, dtype));
      select(layer->w2, 0, e).copy_(transpose(index_select(fc2.weight, 1, rows), 0, 1));
      select(layer->b2, 0, e).copy_(fc2.bias.defined() ? fc2.bias / static_cast<double>(k) : zeros({d}, dtype));
    }
  }
  // The router: fitted to the oracle's top-k groups (softmax cross-entropy with a multi-hot target
  // spread evenly over the k groups), full-batch gradient descent.
  const Tensor oracle = group_activation(fc1, inputs, groups);
  const Tensor best = largest_k(oracle, k).indices;
  const Tensor target = scatter(zeros(oracle.shape(), dtype), 1, best,
                                full(best.shape(), 1.0 / static_cast<double>(k), dtype));
  Tensor& weight = gate->router->weight;
  Tensor& bias = gate->router->bias;
  for (int64_t step = 0; step < options.router_steps; ++step) {
    weight.zero_grad();
    bias.zero_grad();
    const Tensor loss = -mean(sum(target * log_softmax(gate->router->forward(inputs), -1), {1}));
    loss.backward();
    NoGradGuard no_grad;
    weight.add_(weight.grad(), -options.router_learning_rate);
    bias.add_(bias.grad(), -options.router_learning_rate);
  }
  return layer;
}

}  // namespace dg::dynamic
