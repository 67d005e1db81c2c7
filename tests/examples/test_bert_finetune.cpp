// The language experiments' procedure (examples/common/bert_finetune.h) on a tiny random BERT (no
// checkpoint needed): the tuned top starts as the encoder's own top layers; the upcycled MoE, and
// the PAD-Net MoE wrapped around it with masks of ones, compute what the dense FFN computes (every
// expert a copy, gate weights summing to 1; lambdas 1); a partitioned PAD-Net top, compacted, keeps
// its outputs (and its inference then takes the compacted layer's sparse path); snapshot copies.
#include <catch2/catch.hpp>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/bert_finetune.h"
#include "partition/compact_moe.h"
#include "partition/mode_partition.h"

using namespace dg;
using namespace dg::experiment;

namespace {

nn::BertConfig tiny_config() {
  nn::BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 32;
  c.max_position_embeddings = 24;
  c.initializer_range = 0.3;
  return c;
}

double max_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b)).item<double>(); }

}  // namespace

TEST_CASE("bert_finetune: dense, upcycled MoE and PAD-Net tops agree before training; compaction "
          "keeps a partitioned top's outputs",
          "[examples][bert_finetune]") {
  Generator gen(3);
  nn::BertModel encoder(tiny_config(), {.generator = &gen});
  encoder.eval();  // no dropout in the comparison with the encoder's own layer
  const nn::StateDict pretrained = snapshot(encoder);
  const Tensor hidden = randn({3, 5, 16}, gen);
  const Tensor padding = from_vector(std::vector<bool>{false, false, false, false, false,  //
                                                       false, false, false, true, true,    //
                                                       false, false, true, true, true},
                                     {3, 5});
  NoGradGuard no_grad;

  // The dense top is the encoder's layer 1 (then the head): its layer output equals the encoder's.
  TunedTop dense(encoder, pretrained, 1, 3, 7);
  dense.eval();
  CHECK(max_diff(dense.layers[0]->forward(hidden, padding),
                 encoder.encoder->layers[1]->forward(hidden, padding)) < 1e-6);
  const Tensor reference = dense.forward(hidden, padding);

  TunedTop moe(encoder, pretrained, 1, 3, 7);
  replace_feed_forwards(moe, FeedForwardKind::moe, MoESettings{.experts = 4, .top_k = 2}, 11);
  moe.eval();
  CHECK(max_diff(moe.forward(hidden, padding), reference) < 1e-5);
  CHECK(moe.aux_loss().defined());

  // Wrapped with masks of ones, no scale factors: still the MoE, hence still the dense FFN.
  wrap_moe_in_padnet(moe, pretrained, 1, partition::ScaleFactors::none);
  moe.eval();
  CHECK(max_diff(moe.forward(hidden, padding), reference) < 1e-5);

  // Experts that have moved away from the pretrained FFN (as after the first epoch), a partition,
  // then compaction: the partition changes the outputs (static positions go back to W_s), and the
  // compacted top predicts what the partitioned one does.
  auto padnet = std::dynamic_pointer_cast<partition::PartiallyDynamicMoE>(moe.layers[0]->feed_forward_module());
  REQUIRE(padnet != nullptr);
  padnet->moe->w1.copy_(padnet->moe->w1 + 0.2 * randn(padnet->moe->w1.shape(), gen));
  padnet->moe->w2.copy_(padnet->moe->w2 + 0.2 * randn(padnet->moe->w2.shape(), gen));
  const Tensor moved = moe.forward(hidden, padding);
  partition::random_partition(moe, 0.4, 5);
  const Tensor partitioned = moe.forward(hidden, padding);
  CHECK(max_diff(partitioned, moved) > 1e-4);
  compact_padnet(moe);
  moe.eval();
  auto compacted = std::dynamic_pointer_cast<partition::CompactPartiallyDynamicMoE>(
      moe.layers[0]->feed_forward_module());
  REQUIRE(compacted != nullptr);
  CHECK(max_diff(moe.forward(hidden, padding), partitioned) < 1e-5);

  // snapshot copies: changing the model leaves the snapshot as it was.
  const nn::StateDict before = snapshot(dense);
  dense.classifier->weight.copy_(zeros_like(dense.classifier->weight));
  CHECK(sum(abs(before.at("classifier.weight"))).item<float>() > 0.0f);
}
