// Helpers shared by the PAD-Net MoE tests: a small float64 partially dynamic MoE whose experts,
// static weights and scale factor are all distinct (so every term of W_hat is exercised), a model
// that mixes a partially dynamic convolution with one (its pixels are the MoE's tokens), and a
// batch loss over fixed, seeded mini-batches.
#pragma once

#include <memory>

#include "dynamic/moe/softmax_topk_gate.h"
#include "partition/mode_partition.h"
#include "partition/partially_dynamic_moe.h"
#include "tests/partition/partition_test_util.h"

namespace dg::partition_test {

inline std::shared_ptr<partition::PartiallyDynamicMoE> padnet_moe(
    int64_t d, int64_t d_ff, int64_t experts, int64_t k, uint64_t seed, const dynamic::MoEOptions& moe = {},
    partition::ScaleFactors scale = partition::ScaleFactors::both_constrained) {
  Generator generator(seed);
  const nn::ParamOptions param{.generator = &generator, .dtype = DType::f64};
  auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(d, experts, k, dynamic::SoftmaxTopKOptions{}, param);
  auto layer = std::make_shared<partition::PartiallyDynamicMoE>(
      std::make_shared<dynamic::MoE>(d, d_ff, gate, moe, param), partition::PartiallyDynamicOptions{scale});
  dynamic_test::assign(layer->static_w1, test::uniform_f64({d, d_ff}, seed + 1, -0.6, 0.6));
  dynamic_test::assign(layer->static_w2, test::uniform_f64({d_ff, d}, seed + 2, -0.6, 0.6));
  if (layer->scale_logit.defined()) dynamic_test::assign(layer->scale_logit, full({}, 0.3, DType::f64));
  return layer;
}

// conv 2 -> 3 (partially dynamic, 3x3, "same"), tanh, every pixel a token of a PAD-Net MoE
// (d = 3, d_ff = 4, 3 experts, top 2), back to [N, 3, H, W].
class ConvMoEModel : public nn::UnaryModule {
 public:
  ConvMoEModel()
      : conv(register_module("conv", partial_layer(2, 3, 21))), moe(register_module("moe", padnet_moe(3, 4, 3, 2, 22))) {}
  Tensor forward(const Tensor& x) override {
    const Tensor h = tanh(conv->forward(x));  // [N, 3, H, W]
    const Shape s = h.shape();
    const Tensor tokens = reshape(permute(h, {0, 2, 3, 1}), {-1, 3});
    return permute(reshape(moe->forward(tokens), {s[0], s[2], s[3], 3}), {0, 3, 1, 2});
  }
  std::string type_name() const override { return "ConvMoEModel"; }
  std::shared_ptr<partition::PartiallyDynamicConv2d> conv;
  std::shared_ptr<partition::PartiallyDynamicMoE> moe;
};

// Mean squared error to a fixed target on seeded mini-batches of 2 samples of 2 x 4 x 4.
inline partition::BatchLoss conv_moe_loss(nn::UnaryModule& model) {
  return [&model](int64_t b) {
    const Tensor x = dynamic_test::varied_input({2, 2, 4, 4}, 300 + static_cast<uint64_t>(b));
    const Tensor target = test::uniform_f64({2, 3, 4, 4}, 400 + static_cast<uint64_t>(b));
    return mean(pow(model.forward(x) - target, 2.0));
  };
}

}  // namespace dg::partition_test
