// CompactPartiallyDynamicMoE: the deployed form of a partitioned PartiallyDynamicMoE (PAD-Net's
// post-processing, Figure 2: "the indicator mask prunes the redundant dynamic factors and static
// parameters"; Section 4.2: "M can be directly applied to parallel experts").
//
// Per expert matrix (W1 [d, d_ff], W2 [d_ff, d]) it stores only what the partition left
// meaningful, with the scale factors (constants after training) folded in:
//   w*_dynamic  [E, m_dyn]      each expert's values at the m_dyn dynamic positions, times lambda_d
//   w*_static   [m - m_dyn]     the shared static weight at the static positions, times lambda_s
//   w*_bitmask  i64 [ceil(m/64)] the mode mask as a packed bitmask (bit j % 64 of word j / 64 is
//                               M_j), 1 bit per position: m / 8 bytes, against 4 m_dyn for int32
//                               positions or 8 m_dyn for i64 ones
// plus every expert's own biases b1 [E, d_ff], b2 [E, d] (dynamic, as in the uncompacted layer),
// the gate and any shared experts. The expert weights the routed tokens are multiplied with are
// the same W_hat_e as the uncompacted layer's: the dynamic values placed at their positions of the
// static matrix. Outside a graph (inference) they are placed once and kept until a stored tensor
// changes; when a graph is recorded (fine-tuning the compacted layer) they are composed from ops
// (scatter, index_add), so gradients reach the stored values.
//
// Routing, capacity, statistics and auxiliary losses are a dynamic::MoE's, built with
// MoE::ExternalExperts (it holds the gate and shared experts, no expert weights) and run with
// forward_with.
//
// Inference (no graph, dropless routing, no shared experts) multiplies only by the stored values
// (masked_matmul.h): each routed token meets its experts' dynamic values, and the static values
// once per token, shared by its experts, since
//   sum_e g_e (x W_hat1_e)  needs x (lambda_s (1 - M1) (.) W1_s) once, and
//   sum_e g_e h_e W_hat2_e = sum_e g_e h_e (dynamic part of W2_e) + (sum_e g_e h_e) (static part),
// so a layer at dynamic ratio kappa runs n kappa c + (1 - kappa) c multiply-adds per token with n
// routed experts of cost c (PAD-Net Figure 5), plus the router's. That path does not update
// stats() (the router runs, the MoE's bookkeeping does not). Otherwise (a graph is recorded, i.e.
// the compacted layer is fine-tuned; capacity mode; shared experts) the values are placed into
// dense expert matrices and the MoE's grouped matmuls run: outside a graph they are placed once and
// kept until a stored tensor changes, inside one they are composed from ops (scatter, index_add)
// so gradients reach the stored values. `sparse_inference = false` forces the dense path.
//
// The gate cannot be cloned generically (gates are many classes): pass a freshly constructed gate
// of the same kind and size to get a copy (the source gate's state is loaded into it), or none to
// share the source's gate object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dynamic/moe/moe_layer.h"
#include "partition/masked_matmul.h"
#include "partition/partially_dynamic_moe.h"

namespace dg::partition {

class CompactPartiallyDynamicMoE : public nn::Module {
 public:
  // The compaction of `source` with its current masks, scale factors and weights (copied). `gate`:
  // see the header comment.
  explicit CompactPartiallyDynamicMoE(const PartiallyDynamicMoE& source,
                                      std::shared_ptr<dynamic::Gate> gate = nullptr);

  // x [..., d] -> [..., d], as PartiallyDynamicMoE::forward.
  Tensor forward(const Tensor& x, const Tensor& token_ids = Tensor());
  // Whether forward(x) takes the sparse inference path (see the header comment).
  bool takes_sparse_path(const Tensor& x) const;
  bool sparse_inference = true;
  Tensor operator()(const Tensor& x, const Tensor& token_ids = Tensor()) { return forward(x, token_ids); }

  // The experts' computational weights W_hat_e rebuilt from the stored values.
  dynamic::ExpertWeights expert_weights() const;
  const dynamic::MoEStats& stats() const { return moe->stats(); }
  Tensor aux_loss() const { return moe->aux_loss(); }

  // The decoded masks (f64 0/1, [d, d_ff] and [d_ff, d]).
  Tensor mask_w1() const;
  Tensor mask_w2() const;
  double dynamic_ratio() const;

  std::string type_name() const override { return "CompactPartiallyDynamicMoE"; }
  std::string extra_repr() const override;

  const int64_t d_model, d_ff, num_experts;
  std::shared_ptr<dynamic::MoE> moe;  // routing only (ExternalExperts)
  Tensor w1_dynamic, w1_static, w2_dynamic, w2_static, b1, b2;
  Tensor w1_bitmask, w2_bitmask;

 private:
  // One matrix's W_hat for all experts, [E, rows, cols].
  Tensor place(const Tensor& dynamic_values, const Tensor& static_values, const Tensor& bitmask,
               int64_t rows, int64_t cols) const;
  Tensor sparse_forward(const Tensor& x, const Tensor& token_ids);
  Tensor expert_activation(const Tensor& h) const;
  // The four matrices' positions as compressed rows (dynamic = set bits, static = clear bits).
  struct Patterns {
    CompressedRows w1_dynamic, w1_static, w2_dynamic, w2_static;
  };
  const Patterns& patterns() const;
  mutable std::optional<Patterns> patterns_;
  mutable std::vector<std::pair<const void*, uint64_t>> patterns_key_;
  mutable Tensor cache_w1_, cache_w2_;
  mutable std::vector<std::pair<const void*, uint64_t>> cache_key_;
};

}  // namespace dg::partition
