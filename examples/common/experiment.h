// The shared procedure of the PAD-Net experiment programs (examples/padnet_*.cpp), so that each
// program reads as its experiment and not as a training loop: build a SmallResNet or
// SmallMobileNetV2 (dynamic/model_builders.h) with static, CondConv, DY-Conv or partially dynamic
// (PAD-Net) convolutions; partition the partially dynamic ones before training (IMP, one-shot MP,
// random, or none = fully dynamic; PAD-Net Section 5.1: "before training ... using ten batches");
// train with the paper's recipe at a smaller scale (SGD with momentum 0.9, linear warmup then one
// cosine cycle to zero, weight decay, DY-Conv's softmax temperature annealed from 30 to 1 over the
// first 15% of the steps as the paper's 15 of 100 epochs); evaluate top-1; and measure the deployed
// model (compacted for PAD-Net, partition/compaction.h) with model_report (partition/report.h).
// The data are plain tensors (images [N, C, H, W], labels i64 [N]); each epoch draws its batches
// from a seeded permutation. This is an experiment harness beside the examples, not part of the
// partition library: it uses partition/ and dynamic/ the way a user's program would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "nn/conv.h"
#include "nn/module.h"
#include "partition/compaction.h"
#include "partition/mode_partition.h"
#include "partition/partially_dynamic_conv.h"
#include "partition/report.h"

namespace dg::experiment {

// The partition library's names this harness speaks in.
using partition::BatchLoss;
using partition::ModelBuilder;
using partition::ModelReport;
using partition::PartiallyDynamicOptions;
using partition::PartitionRound;

// ---------------------------------------------------------------- data

struct LabelledImages {
  Tensor images;  // [N, C, H, W]
  Tensor labels;  // i64 [N]
  int64_t size() const { return images.defined() ? images.shape()[0] : 0; }
};

// Examples [start, start + count) (clipped to the data).
LabelledImages slice_examples(const LabelledImages& data, int64_t start, int64_t count);

// ---------------------------------------------------------------- models

enum class Backbone { resnet, mobilenet_v2 };
enum class ConvMethod { static_conv, condconv, dyconv, padnet };
std::string to_string(Backbone backbone);
std::string to_string(ConvMethod method);

struct ModelRecipe {
  Backbone backbone = Backbone::resnet;
  ConvMethod method = ConvMethod::static_conv;
  double width_multiplier = 1.0;
  int64_t resnet_blocks_per_stage = 2;
  int64_t in_channels = 1, num_classes = 10;
  PartiallyDynamicOptions partial;  // ConvMethod::padnet only (scale factors)
};

// The recipe's backbone around a given convolution factory; the builder owns a generator seeded
// with `seed` for the layers it makes itself (stem, batch norm, classifier), so it can be called
// again later (compact_model).
ModelBuilder backbone_builder(const ModelRecipe& recipe, uint64_t seed);
// The recipe's convolution factory (DY-Conv with K = 4, CondConv with K = 8, PAD-Net around
// DY-Conv with K = 4), its parameters drawn from `generator`, which must outlive the calls.
nn::ConvFactory recipe_conv_factory(const ModelRecipe& recipe, Generator* generator);
// The model, every parameter drawn from generators seeded with `seed`. `wrap_factory`, if given,
// is applied to the recipe's convolution factory first (e.g. dynamic_property.h's
// recording_factory); the parameters are drawn the same either way.
using FactoryWrapper = std::function<nn::ConvFactory(nn::ConvFactory)>;
std::shared_ptr<nn::UnaryModule> build_model(const ModelRecipe& recipe, uint64_t seed,
                                             const FactoryWrapper& wrap_factory = {});

// ---------------------------------------------------------------- partition

enum class PartitionMethod { imp, one_shot, random, fully_dynamic };
std::string to_string(PartitionMethod method);

struct PartitionPlan {
  PartitionMethod method = PartitionMethod::imp;
  double dynamic_ratio = 0.3;  // kappa
  int64_t rounds = 5;          // E, for IMP
  int64_t num_batches = 10;    // D_b
  int64_t batch_size = 64;
  bool fresh_batches_per_round = true;  // IMP round e scores batches e * D_b .. (mode_partition.h)
  // DY-Conv's temperature while scoring. The partition happens before the first step, where the
  // annealing schedule (TrainOptions) gives its initial temperature, 30: the masks are scored on
  // the network as training will start from it (train mode, batch statistics, T = 30).
  double temperature = 30.0;
};

// Cross-entropy of `model` on mini-batch b: the examples perm[b * batch_size ...] of a permutation
// of `data` drawn from `seed`. `model` and `data` must outlive the returned function.
BatchLoss classification_batch_loss(nn::UnaryModule& model, const LabelledImages& data,
                                    int64_t batch_size, uint64_t seed);

// Sets the mode masks of every PartiallyDynamicConv2d in `model` by the plan (scoring batches from
// `data` in training mode at the plan's temperature, which stays set afterwards); returns the IMP/MP rounds (empty for random and fully dynamic).
std::vector<PartitionRound> apply_partition(nn::UnaryModule& model, const LabelledImages& data,
                                            const PartitionPlan& plan, uint64_t seed);

// ---------------------------------------------------------------- training

struct TrainOptions {
  int64_t epochs = 3;
  int64_t batch_size = 64;
  double learning_rate = 0.1;  // the maximum, reached after the warmup
  double momentum = 0.9;
  double weight_decay = 1e-4;
  // Weight decay on the 0-dim parameters too (PAD-Net's phi, lambda_s, lambda_d). Off by default:
  // decay pulls a free lambda toward 0 and phi toward lambda_s = lambda_d = 1, a prior the paper
  // does not state; biases and batch norm keep the decay, as in the plain SGD recipe of DY-Conv
  // (Chen et al. 2020) that the paper follows.
  bool decay_scalars = false;
  double warmup_fraction = 0.1;      // of all steps (the paper: 10 of 100 epochs)
  double annealing_fraction = 0.15;  // DY-Conv temperature 30 -> 1 (the paper: 15 of 100 epochs)
  double initial_temperature = 30.0;
  uint64_t seed = 0;  // batch order
  bool quiet = false;
  std::string label;  // shown on the progress bar
  std::function<void()>
      after_step;  // if set, called after every optimiser step (SnipPruning::apply)
};

// The paper's per-backbone settings: ResNet lr 0.1, weight decay 1e-4; MobileNetV2 lr 0.05, 4e-5.
TrainOptions paper_train_options(Backbone backbone);

struct TrainingRecord {
  std::vector<double> step_losses;
  std::vector<double> epoch_losses;   // mean training loss per epoch
  std::vector<double> epoch_seconds;  // wall time of each epoch
  // train::loss_trend(step_losses).went_down(0.9): the last few steps' mean loss is below 0.9
  // times the first few steps'.
  bool loss_went_down() const;
};

TrainingRecord train_classifier(nn::UnaryModule& model, const LabelledImages& train,
                                const TrainOptions& options);

// The fraction of `data` classified correctly (eval mode, no graph; the mode is restored).
double top1_accuracy(nn::UnaryModule& model, const LabelledImages& data, int64_t batch_size = 500);

// ---------------------------------------------------------------- one run

struct RunOutcome {
  double accuracy = 0.0;
  ModelReport report;  // of the deployed model: the compacted copy for PAD-Net
  TrainingRecord training;
  std::vector<PartitionRound> rounds;
  std::shared_ptr<nn::UnaryModule> model;  // trained (not compacted)
};

// Build from `seed`, partition (PAD-Net only), train, evaluate, compact (PAD-Net) and report
// (timing_runs forwards per batch size; 0 skips the timing).
RunOutcome run_recipe(const ModelRecipe& recipe, const PartitionPlan& plan,
                      const LabelledImages& train, const LabelledImages& test,
                      const TrainOptions& options, uint64_t seed, int64_t timing_runs = 5);

}  // namespace dg::experiment
