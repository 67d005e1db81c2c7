// Hash routing (Roller et al. 2021, "Hash layers for large sparse models"): no router and no
// balancing loss; each token goes to expert hash(token id) mod E with weight 1, so a token id is
// always served by the same expert. The hash is a fixed mixing function (splitmix64) of the id and
// a seed: a random-looking but deterministic assignment, the paper's "random hash", balanced in
// expectation over a vocabulary.
#pragma once

#include "dynamic/moe/gate.h"

namespace dg::dynamic {

class HashGate : public Gate {
 public:
  explicit HashGate(int64_t num_experts, uint64_t seed = 0);
  // token_ids: i64 [T], required.
  GateDecision route(const Tensor& x, const Tensor& token_ids) override;
  bool needs_token_ids() const override { return true; }
  std::string type_name() const override { return "HashGate"; }

  // The expert of one token id.
  int64_t expert_of(int64_t token_id) const;

 private:
  uint64_t seed_;
};

}  // namespace dg::dynamic
