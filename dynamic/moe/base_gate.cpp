// BASE balanced routing (see base_gate.h).
#include "dynamic/moe/base_gate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dg::dynamic {

std::vector<int64_t> balanced_assignment(const std::vector<double>& affinities, int64_t tokens,
                                         int64_t experts, int64_t sinkhorn_iterations) {
  const int64_t T = tokens, E = experts;
  // Sinkhorn: plan = diag(u) exp(a - max) diag(v), rows summing to 1, columns to T / E.
  const double top = *std::max_element(affinities.begin(), affinities.end());
  std::vector<double> plan(T * E);
  for (int64_t i = 0; i < T * E; ++i) plan[i] = std::exp(affinities[i] - top);
  const double column_target = static_cast<double>(T) / static_cast<double>(E);
  for (int64_t it = 0; it < sinkhorn_iterations; ++it) {
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t e = 0; e < E; ++e) s += plan[t * E + e];
      for (int64_t e = 0; e < E; ++e) plan[t * E + e] /= std::max(s, 1e-300);
    }
    for (int64_t e = 0; e < E; ++e) {
      double s = 0;
      for (int64_t t = 0; t < T; ++t) s += plan[t * E + e];
      const double scale = column_target / std::max(s, 1e-300);
      for (int64_t t = 0; t < T; ++t) plan[t * E + e] *= scale;
    }
  }
  // Greedy: pairs by decreasing plan value (ties by position), each expert up to its share.
  std::vector<int64_t> order(T * E);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return plan[a] > plan[b]; });
  std::vector<int64_t> room(E, T / E), assigned(T, -1);
  for (int64_t e = 0; e < T % E; ++e) ++room[e];
  int64_t left = T;
  for (int64_t pair : order) {
    if (left == 0) break;
    const int64_t t = pair / E, e = pair % E;
    if (assigned[t] >= 0 || room[e] == 0) continue;
    assigned[t] = e;
    --room[e];
    --left;
  }
  return assigned;
}

BaseGate::BaseGate(int64_t d_model, int64_t num_experts, const BaseOptions& gate,
                   const nn::ParamOptions& options)
    : Gate(num_experts, 1), gate_options(gate) {
  check_gate_config("BaseGate", num_experts, 1);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

GateDecision BaseGate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const Tensor affinities = router->forward(x);
  const int64_t T = affinities.shape()[0];
  if (is_training() && T > 0) {
    d.experts = from_vector(balanced_assignment(affinities.to_vector<double>(), T, num_experts_,
                                                gate_options.sinkhorn_iterations),
                            {T, 1});
  } else {
    d.experts = unsqueeze(argmax(affinities, 1), 1);
  }
  d.weights = sigmoid(gather(affinities, 1, d.experts));
  d.probs = softmax(affinities, -1);
  return d;
}

}  // namespace dg::dynamic
