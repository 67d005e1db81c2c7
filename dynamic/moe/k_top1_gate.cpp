// M6-T k top-1 routing (see k_top1_gate.h).
#include "dynamic/moe/k_top1_gate.h"

namespace dg::dynamic {

KTop1Gate::KTop1Gate(int64_t d_model, int64_t num_experts, int64_t prototypes,
                     double load_balancing_coefficient, const nn::ParamOptions& options)
    : Gate(num_experts, prototypes), load_balancing_coefficient(load_balancing_coefficient) {
  check_gate_config("KTop1Gate", num_experts, prototypes);
  check(num_experts % prototypes == 0,
        "KTop1Gate: E = {} experts do not split into k = {} prototypes of equal size", num_experts,
        prototypes);
  router = register_module("router", std::make_shared<nn::Linear>(d_model, num_experts, false, options));
}

GateDecision KTop1Gate::route(const Tensor& x, const Tensor& /*token_ids*/) {
  GateDecision d;
  const int64_t T = x.shape()[0], k = top_k_, group = num_experts_ / k;
  const Tensor probs = softmax(reshape(router->forward(x), {T, k, group}), -1);  // per prototype
  auto [best, local] = topk(probs, 1, -1);  // [T, k, 1]
  const Tensor offsets = reshape(arange(0, num_experts_, group), {1, k});
  d.experts = reshape(local, {T, k}) + offsets;
  d.weights = reshape(best, {T, k});
  d.probs = reshape(probs, {T, num_experts_}) / static_cast<double>(k);
  Tensor balance = zeros({}, x.dtype());
  for (int64_t p = 0; p < k; ++p)
    balance = balance + load_balancing_loss(select(probs, 1, p), select(reshape(local, {T, k}), 1, p));
  d.losses.push_back({"load_balancing", balance / static_cast<double>(k), load_balancing_coefficient});
  return d;
}

}  // namespace dg::dynamic
