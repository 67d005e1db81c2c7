// The PAD-Net experiment procedure (see experiment.h).
#include "examples/common/experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "dynamic/dyconv.h"
#include "dynamic/model_builders.h"
#include "dynamic/temperature_schedule.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/evaluate.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "nn/train/loss_trend.h"
#include "nn/train/progress.h"

namespace dg::experiment {

// ---------------------------------------------------------------- data

LabelledImages slice_examples(const LabelledImages& data, int64_t start, int64_t count) {
  check(start >= 0 && count >= 0 && start <= data.size(),
        "slice_examples: start {} and count {} outside {} examples", start, count, data.size());
  const int64_t length = std::min(count, data.size() - start);
  return {narrow(data.images, 0, start, length), narrow(data.labels, 0, start, length)};
}

namespace {

// The examples at `indices` (i64 [B]).
LabelledImages gather_examples(const LabelledImages& data, const Tensor& indices) {
  return {index_select(data.images, 0, indices), index_select(data.labels, 0, indices)};
}

// The b-th batch of `permutation`.
Tensor batch_indices(const Tensor& permutation, int64_t batch, int64_t batch_size) {
  const int64_t n = permutation.shape()[0];
  const int64_t start = batch * batch_size;
  return narrow(permutation, 0, start, std::min(batch_size, n - start));
}

}  // namespace

// ---------------------------------------------------------------- models

std::string to_string(Backbone backbone) {
  return backbone == Backbone::resnet ? "ResNet" : "MobileNetV2";
}

std::string to_string(ConvMethod method) {
  switch (method) {
    case ConvMethod::static_conv:
      return "Static";
    case ConvMethod::condconv:
      return "CondConv";
    case ConvMethod::dyconv:
      return "DY-Conv";
    case ConvMethod::padnet:
      return "PAD-Net";
  }
  return "?";
}

ModelBuilder backbone_builder(const ModelRecipe& recipe, uint64_t seed) {
  // The generator lives in the builder, which compact_model may call after build_model returned.
  auto generator = std::make_shared<Generator>(seed);
  return [recipe, generator](nn::ConvFactory conv) -> std::shared_ptr<nn::UnaryModule> {
    const nn::ParamOptions param{.generator = generator.get()};
    if (recipe.backbone == Backbone::resnet)
      return std::make_shared<dynamic::SmallResNet>(
          dynamic::SmallResNetOptions{.width_multiplier = recipe.width_multiplier,
                                      .blocks_per_stage = recipe.resnet_blocks_per_stage,
                                      .in_channels = recipe.in_channels,
                                      .num_classes = recipe.num_classes},
          std::move(conv), param);
    return std::make_shared<dynamic::SmallMobileNetV2>(
        dynamic::SmallMobileNetV2Options{.width_multiplier = recipe.width_multiplier,
                                         .in_channels = recipe.in_channels,
                                         .num_classes = recipe.num_classes},
        std::move(conv), param);
  };
}

nn::ConvFactory recipe_conv_factory(const ModelRecipe& recipe, Generator* generator) {
  const nn::ParamOptions param{.generator = generator};
  switch (recipe.method) {
    case ConvMethod::static_conv:
      return dynamic::make_conv_factory(dynamic::ConvKind::static_conv, param);
    case ConvMethod::condconv:
      return dynamic::make_conv_factory(dynamic::ConvKind::condconv, param);
    case ConvMethod::dyconv:
      return dynamic::make_conv_factory(dynamic::ConvKind::dyconv, param);
    case ConvMethod::padnet:
      return partition::partially_dynamic_conv2d_factory({}, recipe.partial, param);
  }
  throw Error("recipe_conv_factory: unknown method");
}

std::shared_ptr<nn::UnaryModule> build_model(const ModelRecipe& recipe, uint64_t seed,
                                             const FactoryWrapper& wrap_factory) {
  // The convolutions draw from their own stream, so the backbone's other layers start the same
  // for every method at one seed.
  Generator conv_generator(seed ^ 0x9e3779b97f4a7c15ULL);
  nn::ConvFactory conv = recipe_conv_factory(recipe, &conv_generator);
  if (wrap_factory) conv = wrap_factory(std::move(conv));
  return backbone_builder(recipe, seed)(std::move(conv));
}

// ---------------------------------------------------------------- partition

std::string to_string(PartitionMethod method) {
  switch (method) {
    case PartitionMethod::imp:
      return "IMP";
    case PartitionMethod::one_shot:
      return "MP";
    case PartitionMethod::random:
      return "Random";
    case PartitionMethod::fully_dynamic:
      return "Dynamic";
  }
  return "?";
}

BatchLoss classification_batch_loss(nn::UnaryModule& model, const LabelledImages& data,
                                    int64_t batch_size, uint64_t seed) {
  check(batch_size > 0 && data.size() > 0,
        "classification_batch_loss: batch size {} over {} examples", batch_size, data.size());
  Generator generator(seed);
  const Tensor permutation = randperm(data.size(), generator);
  return [&model, &data, batch_size, permutation](int64_t b) {
    const int64_t batches = (data.size() + batch_size - 1) / batch_size;
    const LabelledImages batch =
        gather_examples(data, batch_indices(permutation, b % batches, batch_size));
    return cross_entropy(model(batch.images), batch.labels);
  };
}

std::vector<PartitionRound> apply_partition(nn::UnaryModule& model, const LabelledImages& data,
                                            const PartitionPlan& plan, uint64_t seed) {
  switch (plan.method) {
    case PartitionMethod::fully_dynamic:
      return {};
    case PartitionMethod::random:
      partition::random_partition(model, plan.dynamic_ratio, seed);
      return {};
    case PartitionMethod::imp:
    case PartitionMethod::one_shot: {
      const bool was_training = model.is_training();
      model.train();
      dynamic::set_dynamic_conv_temperature(model, plan.temperature);
      const BatchLoss loss = classification_batch_loss(model, data, plan.batch_size, seed);
      auto rounds = partition::mode_partition(
          model, loss,
          {.dynamic_ratio = plan.dynamic_ratio,
           .rounds = plan.method == PartitionMethod::imp ? plan.rounds : 1,
           .num_batches = plan.num_batches,
           .fresh_batches_per_round = plan.fresh_batches_per_round});
      if (!was_training) model.eval();
      return rounds;
    }
  }
  return {};
}

// ---------------------------------------------------------------- training

TrainOptions paper_train_options(Backbone backbone) {
  TrainOptions options;
  if (backbone == Backbone::mobilenet_v2) {
    options.learning_rate = 0.05;
    options.weight_decay = 4e-5;
  }
  return options;
}

bool TrainingRecord::loss_went_down() const {
  return train::loss_trend(step_losses).went_down(0.9);
}

TrainingRecord train_classifier(nn::UnaryModule& model, const LabelledImages& train,
                                const TrainOptions& options) {
  check(options.epochs >= 1 && options.batch_size >= 1 && train.size() > 0,
        "train_classifier: epochs {}, batch size {}, {} examples", options.epochs,
        options.batch_size, train.size());
  const int64_t batches = (train.size() + options.batch_size - 1) / options.batch_size;
  const int64_t total_steps = options.epochs * batches;
  // The 0-dim parameters (scale factors) in a group of their own without decay, unless asked.
  const nn::SGDOptions decayed{.lr = options.learning_rate,
                               .momentum = options.momentum,
                               .weight_decay = options.weight_decay};
  nn::SGDOptions undecayed = decayed;
  undecayed.weight_decay = 0.0;
  std::vector<Tensor> tensors, scalars;
  for (const Tensor& p : model.parameters())
    (p.dim() == 0 && !options.decay_scalars ? scalars : tensors).push_back(p);
  std::vector<nn::ParamGroup<nn::SGDOptions>> groups = {{tensors, decayed}};
  if (!scalars.empty()) groups.push_back({scalars, undecayed});
  nn::SGD optimizer(std::move(groups));
  nn::LrScheduler scheduler(
      optimizer,
      nn::warmup_cosine(static_cast<int64_t>(options.warmup_fraction * total_steps), total_steps));
  const dynamic::TemperatureSchedule temperature(
      std::max<int64_t>(
          1, static_cast<int64_t>(std::lround(options.annealing_fraction * total_steps))),
      options.initial_temperature);

  TrainingRecord record;
  model.train();
  Generator order(options.seed);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const Tensor permutation = randperm(train.size(), order);
    train::ProgressBar bar(options.label + " epoch " + std::to_string(epoch + 1) + "/" +
                               std::to_string(options.epochs),
                           batches, options.quiet);
    double loss_sum = 0.0;
    for (int64_t b = 0; b < batches; ++b, ++step) {
      dynamic::set_dynamic_conv_temperature(model, temperature.at(step));
      const LabelledImages batch =
          gather_examples(train, batch_indices(permutation, b, options.batch_size));
      Tensor loss = cross_entropy(model(batch.images), batch.labels);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (options.after_step) options.after_step();
      scheduler.step();
      const double value = loss.item<double>();
      record.step_losses.push_back(value);
      loss_sum += value * static_cast<double>(batch.size());
      bar.step(value);
    }
    bar.finish();
    record.epoch_losses.push_back(loss_sum / static_cast<double>(train.size()));
    record.epoch_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  dynamic::set_dynamic_conv_temperature(model, temperature.at(step));
  return record;
}

double top1_accuracy(nn::UnaryModule& model, const LabelledImages& data, int64_t batch_size) {
  check(data.size() > 0, "top1_accuracy: no examples");
  return classification_accuracy(
      model, std::make_shared<data::TensorDataset>(data.images, data.labels), batch_size);
}

// ---------------------------------------------------------------- one run

RunOutcome run_recipe(const ModelRecipe& recipe, const PartitionPlan& plan,
                      const LabelledImages& train, const LabelledImages& test,
                      const TrainOptions& options, uint64_t seed, int64_t timing_runs) {
  RunOutcome outcome;
  outcome.model = build_model(recipe, seed);
  if (recipe.method == ConvMethod::padnet)
    outcome.rounds = apply_partition(*outcome.model, train, plan, seed);
  outcome.training = train_classifier(*outcome.model, train, options);
  outcome.accuracy = top1_accuracy(*outcome.model, test);

  std::shared_ptr<nn::UnaryModule> deployed = outcome.model;
  if (recipe.method == ConvMethod::padnet)
    deployed = partition::compact_model(*outcome.model, backbone_builder(recipe, seed));
  const std::vector<int64_t> shape = train.images.shape().vec();
  const partition::ReportOptions report{
      .sample_shape = Shape(std::vector<int64_t>(shape.begin() + 1, shape.end())),
      .timing_runs = timing_runs};
  // A freshly built model's first forwards at a new batch size are several times slower (buffers
  // not yet cached), for more forwards than a median of 5 hides: one measurement is made and
  // discarded first.
  if (timing_runs > 0) partition::model_report(*deployed, report);
  outcome.report = partition::model_report(*deployed, report);
  return outcome;
}

}  // namespace dg::experiment
