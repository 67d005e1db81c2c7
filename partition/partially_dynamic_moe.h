// PartiallyDynamicMoE: PAD-Net's partially dynamic mixture of experts (He et al. 2023, Eq. 3-4
// applied to MoE, Section 5.1 and Figure 5). A dynamic::MoE (child "moe") supplies the E experts'
// weights W1_e [d, d_ff] and W2_e [d_ff, d], the gate, the capacity rule, the statistics and the
// auxiliary losses; per FFN matrix there is one static weight W_s and one mode mask M (1 =
// dynamic), both of one expert matrix's shape and shared by the E experts (the paper's form:
// "M can be directly applied to parallel experts"). Every expert computes with
//
//   W_hat_e = lambda_d * M (.) W_e + lambda_s * (1 - M) (.) W_s          (for W1 and for W2)
//
// and the layer is the MoE run with these weights (MoE::forward_with: the routing primitive
// computes only the experts that receive tokens). The biases b1_e, b2_e stay each expert's own,
// fully dynamic: the paper partitions the weight matrices and says nothing of the biases. One pair
// of scale factors (scale_factors.h, both_constrained by default) serves both matrices of the layer,
// as one pair serves a whole convolution layer. Shared experts, when the MoE has them, are static
// FFNs already and are left as they are.
//
// The static weights' initialisation. PAD-Net initialises "the dynamic and static parameters with
// the pretrained parameters" (Appendix A): upcycle() builds the MoE from a dense FFN and sets W_s to
// that FFN's weights (exactly, whatever noise the expert copies get). The constructor from an
// existing MoE sets W_s to the mean of the experts' weights, which is the dense FFN again for an
// MoE upcycled without noise.
//
// When to partition. While every expert still equals W_s (upcycled without noise, lambdas 1),
// dL/dM = sum_e dL/dW_hat_e (.) (lambda_d W_e - lambda_s W_s) is exactly zero and the mode partition
// has nothing to rank (ties then go to the lower index). PAD-Net therefore partitions an upcycled
// MoE at the start of the second epoch, "when experts differentiate from each other".
//
// The masks are buffers ("mask_w1" [d, d_ff], "mask_w2" [d_ff, d]), all ones at construction (the
// layer then computes exactly the MoE, up to the scale factors). Making one require grad
// (mask_w1.set_requires_grad(true)) leaves dL/dM in its .grad after a backward pass, on the
// engine's graph; the mode partition (mode_partition.h) does this through the PartitionedLayer
// interface, which exposes the two masks as two sites: mask_w1 over (moe.w1, static_w1), mask_w2
// over (moe.w2, static_w2).
//
// Parameter names: moe.* (the wrapped layer: w1, b1, w2, b2, gate.*, shared_fc*), static_w1,
// static_w2, scale_logit / scale_static / scale_dynamic (by option); buffers mask_w1, mask_w2.
#pragma once

#include <memory>
#include <string>

#include "dynamic/moe/moe_layer.h"
#include "partition/partitioned_layer.h"
#include "partition/scale_factors.h"

namespace dg::partition {

class PartiallyDynamicMoE : public nn::Module, public PartitionedLayer {
 public:
  // Wraps `moe` (which must hold its expert weights); W_s = the mean of its experts' weights.
  explicit PartiallyDynamicMoE(std::shared_ptr<dynamic::MoE> moe, const PartiallyDynamicOptions& partial = {});

  // The PAD-Net MoE of a pretrained dense FFN fc2(act(fc1(x))): the experts are upcycled copies
  // (dynamic::MoE::upcycle, with its noise) and W_s is the FFN's own weights (fc1^T, fc2^T).
  static std::shared_ptr<PartiallyDynamicMoE> upcycle(const nn::Linear& fc1, const nn::Linear& fc2,
                                                      std::shared_ptr<dynamic::Gate> gate,
                                                      const dynamic::MoEOptions& moe = {},
                                                      const PartiallyDynamicOptions& partial = {},
                                                      double noise_std = 0.0,
                                                      const nn::ParamOptions& options = {});

  // x [..., d] -> [..., d]; token_ids for gates that route on them.
  Tensor forward(const Tensor& x, const Tensor& token_ids = Tensor());
  Tensor operator()(const Tensor& x, const Tensor& token_ids = Tensor()) { return forward(x, token_ids); }

  // The experts' computational weights: W_hat for W1 and W2, and the experts' own biases.
  dynamic::ExpertWeights computational_weights() const;
  Tensor lambda_dynamic() const;
  Tensor lambda_static() const;

  // The wrapped MoE's statistics and weighted auxiliary loss of the last forward.
  const dynamic::MoEStats& stats() const { return moe->stats(); }
  Tensor aux_loss() const { return moe->aux_loss(); }

  // Copies a 0/1 mask into mask_w1 ([d, d_ff]) or mask_w2 ([d_ff, d]); a wrong shape is a dg::Error.
  void set_mask_w1(const Tensor& mask);
  void set_mask_w2(const Tensor& mask);
  // The fraction of both masks' entries equal to 1 (kappa).
  double dynamic_ratio() const { return dynamic_ratio_all(); }

  // PartitionedLayer: site 0 = mask_w1 over (moe.w1, static_w1), site 1 = mask_w2 over
  // (moe.w2, static_w2).
  std::vector<ModeMaskSite> mode_mask_sites() const override;
  void set_mode_mask(size_t site, const Tensor& mask) override;

  std::string type_name() const override { return "PartiallyDynamicMoE"; }
  std::string extra_repr() const override;

  const ScaleFactors scale_factors;
  std::shared_ptr<dynamic::MoE> moe;
  Tensor static_w1;    // [d, d_ff]
  Tensor static_w2;    // [d_ff, d]
  Tensor mask_w1;      // [d, d_ff], 1 = dynamic
  Tensor mask_w2;      // [d_ff, d]
  Tensor scale_logit;  // phi, both_constrained only
  Tensor scale_static;
  Tensor scale_dynamic;
};

}  // namespace dg::partition
