// The shared procedure of the PAD-Net language programs (examples/padnet_moe*.cpp,
// padnet_mask_image.cpp): fine-tune the top of a pretrained BERT-family encoder on a text task,
// its feed-forward blocks dense ("Static"), an upcycled mixture of experts ("MoE", 8 experts,
// top-2, PAD-Net Section 5.1), a partially dynamic MoE partitioned at the start of the second
// epoch ("PAD-Net", partition/partially_dynamic_moe.h), or the MoE pruned by SNIP to PAD-Net's
// parameter count ("MoE-P", Table 5).
//
// Laptop scale. The encoder's lower layers are frozen and run once per task (FrozenFeatures), so
// a training step runs only the tuned top layers, a pooling and a linear head; this is the choice
// that makes a grid of methods x kappas x tasks x seeds fit on two cores, and every results page
// states how many layers were tuned. The head is mean pooling over the tokens (as the
// sentence-transformers model the default checkpoint is) + dropout + Linear.
//
// Pairing. For one seed every method sees the same data order (a permutation per epoch drawn from
// the seed), the same head initialisation and the same dropout stream. The MoE-based methods share
// their first epoch: the upcycled MoE is trained once, its state is kept, and MoE, each PAD-Net
// kappa and MoE-P continue from that state (the paper partitions "at the start of the second
// epoch"). At that branch point every method, Static included, starts a fresh AdamW (the moments
// restart) and continues the same learning-rate schedule.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datasets/text_task.h"
#include "datasets/wordpiece.h"
#include "dynamic/moe/moe_layer.h"
#include "engine/tensor.h"
#include "nn/bert.h"
#include "nn/module.h"
#include "partition/scale_factors.h"

namespace dg::experiment {

// ---------------------------------------------------------------- data

// One split, tokenized and run through the frozen lower layers.
struct FrozenFeatures {
  Tensor hidden;       // [N, L, d]: the input of the first tuned layer
  Tensor padding;      // bool [N, L]: true at padding
  Tensor lengths;      // i64 [N]: real tokens (specials included)
  Tensor labels;       // i64 [N] (classification) or f32 [N] (regression)
  int64_t size() const { return hidden.defined() ? hidden.shape()[0] : 0; }
};

struct PretrainedEncoder {
  std::shared_ptr<nn::BertModel> model;  // eval mode; the lower layers are never trained
  data::WordPieceTokenizer tokenizer;
  nn::StateDict pretrained_state;        // a private copy of the checkpoint's tensors
};
// The model folder's config.json, model.safetensors and vocab.txt; nullopt (and a message naming
// scripts/fetch-model.sh) when the folder lacks them, or (with needs_wordnet) when WordNet is not
// installed: the programs then exit with 77, "skipped".
std::optional<PretrainedEncoder> load_pretrained_encoder(const std::string& dir,
                                                         bool needs_wordnet = true);

struct TaskScale {
  int64_t max_length = 48;          // tokens per example, specials included (longer is truncated)
  int64_t frozen_layers = 5;        // the lower layers run once; the rest are tuned
  int64_t max_train_examples = 1000;
  int64_t max_test_examples = 500;
};

struct TaskFeatures {
  data::TextTask task;
  FrozenFeatures train, test;
  data::TextDataset test_truth;  // the test examples the features are of, for the metrics
  int64_t truncated = 0;         // examples that lost tokens to max_length (train + test)
  int64_t positions = 0;         // the padded length L of the test features
};
TaskFeatures prepare_task(PretrainedEncoder& encoder, const data::TextTaskData& data,
                          const TaskScale& scale);

// ---------------------------------------------------------------- the tuned model

// The tuned top layers of the encoder, mean pooling, dropout and a linear head (num_labels = 1 for
// regression). Parameter names: layer.N.* (BertLayer, N counting from 0 at the first tuned layer),
// classifier.*.
class TunedTop : public nn::Module {
 public:
  TunedTop(const nn::BertModel& encoder, const nn::StateDict& pretrained, int64_t first_layer,
           int64_t num_labels, uint64_t head_seed);
  // hidden [B, L, d], padding bool [B, L] -> logits [B, num_labels].
  Tensor forward(const Tensor& hidden, const Tensor& padding);
  // The summed auxiliary losses of the MoE layers of the last forward (0 when there are none).
  Tensor aux_loss() const;
  std::string type_name() const override { return "TunedTop"; }

  std::vector<std::shared_ptr<nn::BertLayer>> layers;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> classifier;
  std::vector<std::function<Tensor()>> aux_losses;  // one per MoE feed-forward block
};

// The feed-forward replacements (every tuned layer gets the same kind).
enum class FeedForwardKind { dense, moe, padnet };
struct MoESettings {
  int64_t experts = 8;
  int64_t top_k = 2;
  double load_balancing = 0.01;  // the gate's auxiliary loss coefficient
};
// Replaces every tuned layer's dense FFN by an MoE upcycled from it (moe), or by a PAD-Net MoE
// with every mask one and its static weights the pretrained FFN (padnet). `seed` draws the routers.
void replace_feed_forwards(TunedTop& top, FeedForwardKind kind, const MoESettings& settings,
                           uint64_t seed);

// Wraps every tuned layer's MoE (FeedForwardKind::moe) in a PartiallyDynamicMoE that keeps the
// MoE's current experts and gate, with every mask one and the static weights set to the pretrained
// dense FFN's (PAD-Net initialises "dynamic and static parameters with pretrained parameters").
// ScaleFactors::none makes it compute exactly the MoE (the SNIP baseline's form).
void wrap_moe_in_padnet(TunedTop& top, const nn::StateDict& pretrained, int64_t first_layer,
                        partition::ScaleFactors scale_factors);
// Replaces every PartiallyDynamicMoE of the tuned layers by its compaction
// (partition/compact_moe.h): the deployable layer that stores only the dynamic positions.
void compact_padnet(TunedTop& top);

// ---------------------------------------------------------------- training

struct FinetuneSettings {
  int64_t epochs = 3;
  int64_t batch_size = 16;
  double lr = 1e-4;
  double weight_decay = 0.1;  // AdamW, decoupled; not applied to biases, LayerNorm and scalars
  double warmup_fraction = 0.1;
  double beta2 = 0.98;
};

// Trains `top` for epochs [first_epoch, last_epoch) (a fresh AdamW; the warmup + linear-decay
// schedule of the whole run, resumed at first_epoch's step). after_step runs after every optimiser
// step (SNIP's re-pruning). Returns the mean training loss of each epoch run.
std::vector<double> finetune_epochs(TunedTop& top, const FrozenFeatures& train,
                                    const data::TextTask& task, const FinetuneSettings& settings,
                                    uint64_t seed, int64_t first_epoch, int64_t last_epoch,
                                    const std::function<void()>& after_step = {});

// The loss of `top` (train mode) on batch `batch` of the seed's first-epoch order: the partition's
// and SNIP's scoring batches.
Tensor batch_loss(TunedTop& top, const FrozenFeatures& train, const data::TextTask& task,
                  int64_t batch_size, uint64_t seed, int64_t batch);

// Every metric of the task on `test` (eval mode, no grad), headline first; also the engine's
// measured FLOPs of the whole tuned top per token position processed.
struct Evaluation {
  std::vector<std::pair<std::string, double>> metrics;
  double flops_per_token = 0.0;
  Tensor outputs;  // the logits [N, num_labels], in test order
  double headline() const { return metrics.front().second; }
};
Evaluation evaluate(TunedTop& top, const TaskFeatures& features);

// A deep copy of every parameter and buffer, to branch runs from.
nn::StateDict snapshot(const nn::Module& module);

}  // namespace dg::experiment
