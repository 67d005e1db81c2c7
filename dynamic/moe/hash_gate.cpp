// Hash routing (see hash_gate.h).
#include "dynamic/moe/hash_gate.h"

namespace dg::dynamic {

HashGate::HashGate(int64_t num_experts, uint64_t seed) : Gate(num_experts, 1), seed_(seed) {
  check_gate_config("HashGate", num_experts, 1);
}

int64_t HashGate::expert_of(int64_t token_id) const {
  uint64_t z = static_cast<uint64_t>(token_id) + seed_ * 0x9E3779B97F4A7C15ull + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<int64_t>(z % static_cast<uint64_t>(num_experts_));
}

GateDecision HashGate::route(const Tensor& x, const Tensor& token_ids) {
  const int64_t T = x.shape()[0];
  check(token_ids.defined(), "HashGate: routes on token ids, but none were given (pass them to the layer's forward)");
  check(token_ids.dtype() == DType::i64 && token_ids.numel() == T,
        "HashGate: token_ids must be i64 with one id per token ({}), got {} {}", T,
        token_ids.dtype(), token_ids.shape());
  std::vector<int64_t> experts;
  experts.reserve(T);
  for (int64_t id : token_ids.to_vector<int64_t>()) experts.push_back(expert_of(id));
  GateDecision d;
  d.experts = from_vector(experts, {T, 1});
  d.weights = ones({T, 1}, x.dtype());
  return d;
}

}  // namespace dg::dynamic
