// The shared pieces of the gates (see gate.h).
#include "dynamic/moe/gate.h"

namespace dg::dynamic {

Gate::Gate(int64_t num_experts, int64_t top_k) : num_experts_(num_experts), top_k_(top_k) {}

void check_gate_config(std::string_view gate, int64_t num_experts, int64_t top_k) {
  check(num_experts >= 1, "{}: need at least one expert, got {}", gate, num_experts);
  check(top_k >= 1, "{}: k = {} (each token needs at least one expert; k >= 1)", gate, top_k);
  check(top_k <= num_experts, "{}: k = {} exceeds the number of experts E = {}", gate, top_k,
        num_experts);
}

TopK largest_k(const Tensor& scores, int64_t k) {
  auto [values, indices] = topk(scores, k, -1, /*largest=*/true, /*sorted=*/true);
  return {values, indices};
}

Tensor dense_gates(const Tensor& experts, const Tensor& weights, int64_t num_experts) {
  const int64_t T = experts.shape()[0];
  // Slots that go nowhere write a zero weight into column 0 ... of an extra column, dropped after.
  const Tensor safe = where(lt(experts, 0.0), full(experts.shape(), static_cast<double>(num_experts),
                                                   DType::i64), experts);
  const Tensor placed = scatter_add(zeros({T, num_experts + 1}, weights.dtype()), 1, safe, weights);
  return narrow(placed, 1, 0, num_experts);
}

Tensor cv_squared(const Tensor& v) {
  const Tensor m = mean(v);
  return var(v, {}, /*correction=*/0) / (m * m + 1e-10);
}

Tensor load_balancing_loss(const Tensor& probs, const Tensor& first_choice) {
  const int64_t T = probs.shape()[0], E = probs.shape()[1];
  std::vector<double> fraction(E, 0.0);
  for (int64_t e : first_choice.to_vector<int64_t>())
    if (e >= 0) fraction[e] += 1.0 / static_cast<double>(T);
  const Tensor f = to_dtype(from_vector(fraction), probs.dtype());
  const Tensor P = mean(probs, {0});
  return sum(f * P) * static_cast<double>(E);
}

Tensor router_z_loss(const Tensor& logits) {
  const Tensor lse = logsumexp(logits, {1});
  return mean(lse * lse);
}

}  // namespace dg::dynamic
