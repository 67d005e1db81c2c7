// A multi-exit model: a backbone cut into blocks, with an internal classifier (an exit head) after
// every block, the last one being the model's own classifier. This is the common frame of every
// early-exit method of the survey's Table 3 (DeeBERT, FastBERT, PABEE, BERxiT, ...) and of
// BranchyNet: a concrete model says how a batch enters the backbone (begin), what one block does
// (run_block) and how a block's output becomes the head's input vector (pool); the heads, the
// optional learning-to-exit module (BERxiT's LTE) and the full pass every training scheme uses
// (forward_all) live here.
//
// What flows between blocks is an ExitState: tensors whose dim 0 is the sample. Batched early exit
// (batched_exit.h) keeps only the still-running samples' rows of it between blocks, so a block
// must treat the rows of its state independently (true of transformer layers and of convolution
// stages in eval mode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/normalization.h"

namespace dg::dynamic::early_exit {

// The per-sample state between two blocks: hidden [B, ...] and, for token sequences, mask bool
// [B, L] (true at real tokens; undefined for images). Every defined tensor has the batch as dim 0.
struct ExitState {
  Tensor hidden;
  Tensor mask;
  int64_t batch() const { return hidden.size(0); }
};

// An internal classifier: [B, in_features] -> logits [B, classes], as
//   linear                  (DeeBERT, PABEE: a linear layer on the pooled state)
//   pooler + linear         (BERT's pooler: Linear + tanh, then the linear layer)
// optionally preceded by a LayerNorm of its input (for a pre-LN backbone, whose residual stream
// is not normalised between layers).
struct ExitHeadOptions {
  int64_t pooler_features = 0;  // 0: no pooler
  bool layer_norm = false;
};

class ExitHead : public nn::UnaryModule {
 public:
  ExitHead(int64_t in_features, int64_t classes, const ExitHeadOptions& options = {},
           const nn::ParamOptions& param = {});
  Tensor forward(const Tensor& pooled) override;
  std::string type_name() const override { return "ExitHead"; }

  const int64_t in_features, classes;
  std::shared_ptr<nn::LayerNorm> norm;    // null without layer_norm
  std::shared_ptr<nn::Linear> pooler;     // null without a pooler
  std::shared_ptr<nn::Linear> classifier;
};

// BERxiT's learning-to-exit module: u = sigmoid(w . h + b), the estimated probability that the
// exit's classifier is right about this sample. One linear layer shared by every exit, as BERxiT's,
// when every exit's input has the same width (a transformer); one per exit otherwise (CNN stages
// of growing width).
class LearnedExitScore : public nn::Module {
 public:
  explicit LearnedExitScore(const std::vector<int64_t>& exit_features, const nn::ParamOptions& param = {});
  // pooled [B, d_exit] -> u [B] in (0, 1).
  Tensor forward(int64_t exit, const Tensor& pooled);
  bool shared() const { return linears.size() == 1; }
  std::string type_name() const override { return "LearnedExitScore"; }
  std::vector<std::shared_ptr<nn::Linear>> linears;  // one, or one per exit
};

// What one exit computes for the samples it sees.
struct ExitOutput {
  Tensor features;  // [B, d]: the head's input (the pooled state)
  Tensor logits;    // [B, classes]
};

class MultiExitModel : public nn::Module {
 public:
  int64_t num_exits() const { return static_cast<int64_t>(heads_.size()); }
  int64_t num_classes() const { return heads_.front()->classes; }

  // The batch entering block 0: input is what the concrete model takes (token ids [B, L] with
  // their mask, images [B, C, H, W] with no mask).
  virtual ExitState begin(const Tensor& input, const Tensor& mask) = 0;
  // Block `index` (0-based) on the rows of `state`.
  virtual ExitState run_block(int64_t index, const ExitState& state) = 0;
  // Block `index`'s output as a vector per sample [B, d_index]: the head's input.
  virtual Tensor pool(int64_t index, const ExitState& state) = 0;

  // Exit `index` on the output of block `index`.
  ExitOutput run_exit(int64_t index, const ExitState& state);
  // Every block and every exit: the full pass that training uses.
  std::vector<ExitOutput> forward_all(const Tensor& input, const Tensor& mask = Tensor());
  // Every block without recording a graph, every head with one: the internal heads (and the final
  // head) train on a frozen backbone, and the backbone's backward is never built. DeeBERT's and
  // FastBERT's second stage.
  std::vector<ExitOutput> forward_all_frozen_backbone(const Tensor& input,
                                                      const Tensor& mask = Tensor());

  ExitHead& head(int64_t index) const;
  // BERxiT's LTE module; null unless the model was built with one.
  const std::shared_ptr<LearnedExitScore>& exit_score() const { return exit_score_; }

  // Parameter groups of the training schemes: the backbone (the blocks and whatever begin uses),
  // the final head, the internal heads (every head but the last), the LTE module.
  virtual std::vector<Tensor> backbone_parameters() const = 0;
  std::vector<Tensor> final_head_parameters() const;
  std::vector<Tensor> internal_head_parameters() const;
  std::vector<Tensor> exit_score_parameters() const;

 protected:
  // Registers heads "exits.0" ... and, with learned_exit_score, "exit_score".
  void add_heads(const std::vector<int64_t>& in_features, int64_t classes,
                 const ExitHeadOptions& options, bool learned_exit_score,
                 const nn::ParamOptions& param);

 private:
  std::vector<std::shared_ptr<ExitHead>> heads_;
  std::shared_ptr<LearnedExitScore> exit_score_;
};

}  // namespace dg::dynamic::early_exit
