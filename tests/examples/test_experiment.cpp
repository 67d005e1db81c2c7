// The PAD-Net experiment harness (examples/common/experiment.h) on a tiny synthetic task: models
// built per recipe (same seed, same backbone layers across methods), partitions at the requested
// ratio, training that lowers the loss and anneals the DY-Conv temperature to 1, top-1 counting,
// the compacted report of a PAD-Net run, and the statistics; and the experiment programs' command
// line (examples/common/experiment_flags.h), and the statistics over seeds
// (examples/common/statistics.h).
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "dynamic/dyconv.h"
#include "dynamic/model_builders.h"
#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/experiment.h"
#include "examples/common/experiment_flags.h"
#include "examples/common/results_page.h"
#include "examples/common/statistics.h"
#include "partition/dynamic_property.h"
#include "tests/dynamic/dynamic_test_util.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::partition;
using namespace dg::experiment;

namespace {

// Two classes of 8x8 single-channel images: class c has mean 2c - 1 plus unit noise; the labels
// alternate 0, 1, 0, ...
LabelledImages two_blobs(int64_t n, uint64_t seed) {
  Generator generator(seed);
  std::vector<int64_t> labels(n);
  std::vector<float> shift(n * 64);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = i % 2;
    for (int64_t j = 0; j < 64; ++j) shift[i * 64 + j] = 2.0f * float(labels[i]) - 1.0f;
  }
  return {randn({n, 1, 8, 8}, generator) + from_vector(shift, {n, 1, 8, 8}), from_vector(labels)};
}

ModelRecipe tiny(ConvMethod method) {
  return {.backbone = Backbone::resnet,
          .method = method,
          .width_multiplier = 0.25,
          .resnet_blocks_per_stage = 1,
          .in_channels = 1,
          .num_classes = 2,
          .partial = {}};
}

// Constant logits that always pick class 1.
class AlwaysOne : public nn::UnaryModule {
 public:
  Tensor forward(const Tensor& x) override {
    return from_vector(std::vector<float>{0.0f, 1.0f}, {1, 2}) * ones({x.shape()[0], 1});
  }
  std::string type_name() const override { return "AlwaysOne"; }
};

double total_dynamic_ratio(nn::Module& model) {
  int64_t dynamic = 0, all = 0;
  for (const NamedPartialLayer& layer : partially_dynamic_layers(model)) {
    dynamic += sum(to_dtype(layer.layer->mode_mask, DType::f64)).item<int64_t>();
    all += layer.layer->mode_mask.numel();
  }
  return double(dynamic) / double(all);
}

}  // namespace

TEST_CASE("experiment: slice_examples takes a contiguous range, clipped to the data",
          "[examples][padnet]") {
  const LabelledImages data = two_blobs(10, 1);
  const LabelledImages part = slice_examples(data, 7, 5);
  CHECK(part.size() == 3);
  CHECK(test::max_abs_diff(part.images, narrow(data.images, 0, 7, 3)) == 0.0);
  CHECK(test::values(part.labels) == std::vector<double>{1, 0, 1});
  CHECK_THROWS_AS(slice_examples(data, 11, 1), Error);
}

TEST_CASE("experiment: models per recipe, deterministic, backbone layers shared across methods",
          "[examples][padnet]") {
  auto static_net = build_model(tiny(ConvMethod::static_conv), 3);
  auto dyconv = build_model(tiny(ConvMethod::dyconv), 3);
  auto condconv = build_model(tiny(ConvMethod::condconv), 3);
  auto padnet = build_model(tiny(ConvMethod::padnet), 3);
  CHECK(dynamic::count_modules(*static_net, "DynamicConv2d") == 0);
  CHECK(dynamic::count_modules(*dyconv, "DynamicConv2d") ==
        8);  // 6 block convolutions, 2 projections
  CHECK(dynamic::count_modules(*condconv, "CondConv2d") == 8);
  CHECK(dynamic::count_modules(*padnet, "PartiallyDynamicConv2d") == 8);
  // The same seed gives the same model; the stem and classifier do not depend on the method.
  auto again = build_model(tiny(ConvMethod::dyconv), 3);
  const auto a = dyconv->named_parameters(), b = again->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(test::max_abs_diff(a[i].second, b[i].second) == 0.0);
  auto* resnet_static = dynamic_cast<dynamic::SmallResNet*>(static_net.get());
  auto* resnet_padnet = dynamic_cast<dynamic::SmallResNet*>(padnet.get());
  REQUIRE(resnet_static != nullptr);
  REQUIRE(resnet_padnet != nullptr);
  CHECK(test::max_abs_diff(resnet_static->fc->weight, resnet_padnet->fc->weight) == 0.0);
  auto other_seed = build_model(tiny(ConvMethod::static_conv), 4);
  CHECK(test::max_abs_diff(dynamic_cast<dynamic::SmallResNet&>(*other_seed).fc->weight,
                           resnet_static->fc->weight) > 0.0);
}

TEST_CASE("experiment: a wrapped factory gets the same parameters", "[examples][padnet]") {
  auto plain = build_model(tiny(ConvMethod::padnet), 8);
  auto recorded = build_model(tiny(ConvMethod::padnet), 8, recording_factory);
  CHECK(dynamic::count_modules(*recorded, "OutputRecorder") == 8);
  CHECK(dynamic::count_modules(*recorded, "PartiallyDynamicConv2d") == 8);
  plain->eval();
  recorded->eval();
  const Tensor x = two_blobs(4, 9).images;
  CHECK(test::max_abs_diff(plain->forward(x), recorded->forward(x)) == 0.0);
}

TEST_CASE("experiment: every partition plan sets the requested dynamic ratio",
          "[examples][padnet]") {
  const LabelledImages data = two_blobs(64, 2);
  for (PartitionMethod method :
       {PartitionMethod::imp, PartitionMethod::one_shot, PartitionMethod::random}) {
    auto model = build_model(tiny(ConvMethod::padnet), 5);
    const auto rounds = apply_partition(
        *model, data,
        {.method = method, .dynamic_ratio = 0.3, .rounds = 3, .num_batches = 2, .batch_size = 16},
        7);
    CHECK(total_dynamic_ratio(*model) == Approx(0.3).margin(1e-3));
    CHECK(rounds.size() == (method == PartitionMethod::imp        ? 3u
                            : method == PartitionMethod::one_shot ? 1u
                                                                  : 0u));
  }
  auto full = build_model(tiny(ConvMethod::padnet), 5);
  CHECK(apply_partition(*full, data, {.method = PartitionMethod::fully_dynamic}, 7).empty());
  CHECK(total_dynamic_ratio(*full) == 1.0);
}

TEST_CASE(
    "experiment: training lowers the loss, anneals the temperature, calls after_step each step",
    "[examples][padnet]") {
  const LabelledImages train = two_blobs(96, 3), test = two_blobs(64, 4);
  auto model = build_model(tiny(ConvMethod::dyconv), 1);
  int64_t calls = 0;
  TrainOptions options;
  options.epochs = 5;
  options.batch_size = 16;
  options.learning_rate = 0.05;
  options.quiet = true;
  options.after_step = [&calls] { ++calls; };
  const TrainingRecord record = train_classifier(*model, train, options);
  CHECK(record.step_losses.size() == 30);  // 5 epochs of 96 / 16 batches
  CHECK(calls == 30);
  CHECK(record.epoch_losses.size() == 5);
  CHECK(record.epoch_seconds.size() == 5);
  CHECK(record.loss_went_down());
  CHECK(record.epoch_losses.back() < record.epoch_losses.front());
  model->apply([](nn::Module& m) {
    if (auto* conv = dynamic_cast<dynamic::DynamicConv2d*>(&m)) CHECK(conv->temperature() == 1.0);
  });
  CHECK(top1_accuracy(*model, test) >
        0.9);  // the blobs are far apart (eval mode: running statistics)
}

TEST_CASE("experiment: the annealed temperature reaches the DY-Conv inside every PAD-Net layer",
          "[examples][padnet]") {
  const LabelledImages train = two_blobs(64, 8);
  auto model = build_model(tiny(ConvMethod::padnet), 3);
  const auto layers = partially_dynamic_layers(*model);
  REQUIRE(layers.size() == 8);
  // The partition sets the plan's temperature (the schedule's value at step 0) before scoring.
  for (const NamedPartialLayer& layer : layers) layer.layer->dynamic->attention->set_temperature(7.0);
  apply_partition(*model, train,
                  {.method = PartitionMethod::imp, .dynamic_ratio = 0.3, .rounds = 2,
                   .num_batches = 2, .batch_size = 16},
                  1);
  for (const NamedPartialLayer& layer : layers) CHECK(layer.layer->dynamic->attention->temperature() == 30.0);
  // 2 epochs of 64 / 16 = 8 steps, annealing over round(0.5 * 8) = 4 steps: the temperature each
  // step ran at is T(n) = 1 + 29 (4 - n) / 4 for n < 4, then 1, in every layer.
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.annealing_fraction = 0.5;
  options.quiet = true;
  std::vector<double> seen;  // read after each step: the temperature that step ran at
  options.after_step = [&] {
    const double t = layers.front().layer->dynamic->attention->temperature();
    for (const NamedPartialLayer& layer : layers) CHECK(layer.layer->dynamic->attention->temperature() == t);
    seen.push_back(t);
  };
  train_classifier(*model, train, options);
  CHECK(seen == std::vector<double>{30.0, 22.75, 15.5, 8.25, 1.0, 1.0, 1.0, 1.0});
  for (const NamedPartialLayer& layer : layers) CHECK(layer.layer->dynamic->attention->temperature() == 1.0);
}

TEST_CASE("experiment: weight decay leaves the scale-factor scalars alone unless asked",
          "[examples][padnet]") {
  // PAD-Net with a free lambda_d (ScaleFactors::dynamic_only) and every mask static: lambda_d
  // multiplies nothing, so its gradient is 0 and one SGD step moves it only by the decay.
  const LabelledImages train = two_blobs(32, 9);
  for (bool decay_scalars : {false, true}) {
    ModelRecipe recipe = tiny(ConvMethod::padnet);
    recipe.partial.scale_factors = partition::ScaleFactors::dynamic_only;
    auto free = build_model(recipe, 4);
    for (const NamedPartialLayer& layer : partially_dynamic_layers(*free)) {
      layer.layer->set_mode_mask(zeros(layer.layer->mode_mask.shape(), layer.layer->mode_mask.dtype()));
      dynamic_test::assign(layer.layer->scale_dynamic, full({}, 2.0, layer.layer->scale_dynamic.dtype()));
    }
    TrainOptions options;
    options.epochs = 1;
    options.batch_size = 32;  // one step
    options.warmup_fraction = 0.0;
    options.weight_decay = 0.1;
    options.decay_scalars = decay_scalars;
    options.quiet = true;
    train_classifier(*free, train, options);
    for (const NamedPartialLayer& layer : partially_dynamic_layers(*free)) {
      const double lambda_d = layer.layer->scale_dynamic.item<double>();
      // Without decay it stays 2; with decay it moves by lr * 0.1 * 2 = 0.02 at lr 0.1.
      if (decay_scalars) CHECK(lambda_d == Approx(2.0 - 0.1 * 0.1 * 2.0).epsilon(1e-6));
      else CHECK(lambda_d == 2.0);
    }
  }
}

TEST_CASE("experiment: loss_went_down compares the first and last steps", "[examples][padnet]") {
  TrainingRecord record;
  CHECK_FALSE(record.loss_went_down());  // no steps
  record.step_losses = {2, 2, 2, 1, 1, 1};
  CHECK(record.loss_went_down());
  record.step_losses = {2, 2, 2, 2, 2, 1.9};
  CHECK_FALSE(record.loss_went_down());
}

TEST_CASE("experiment: top1_accuracy counts correct argmaxes and restores the mode",
          "[examples][padnet]") {
  const LabelledImages data = two_blobs(7, 5);  // labels 0 1 0 1 0 1 0: three ones
  AlwaysOne model;
  model.train();
  CHECK(top1_accuracy(model, data, 3) == Approx(3.0 / 7.0));
  CHECK(model.is_training());
}

TEST_CASE("experiment: a PAD-Net run reports the compacted model at the partition's ratio",
          "[examples][padnet]") {
  const LabelledImages train = two_blobs(64, 6), test = two_blobs(32, 7);
  const PartitionPlan plan{.method = PartitionMethod::imp,
                           .dynamic_ratio = 0.3,
                           .rounds = 2,
                           .num_batches = 2,
                           .batch_size = 16};
  TrainOptions options;
  options.epochs = 1;
  options.batch_size = 32;
  options.quiet = true;
  const RunOutcome run = run_recipe(tiny(ConvMethod::padnet), plan, train, test, options, 2, 0);
  CHECK(run.rounds.size() == 2);
  CHECK(run.report.total.dynamic_ratio == Approx(0.3).margin(1e-3));
  int64_t compact_layers = 0;
  for (const LayerCost& layer : run.report.layers)
    compact_layers += layer.kind == "CompactPartiallyDynamicConv2d";
  CHECK(compact_layers == 8);
  // The deployed count by hand from the trained model's own tensors: per partially dynamic layer
  // K m_dyn dynamic factors + (m - m_dyn) static values + attention + biases (the scale factors
  // are folded in), plus every parameter outside those layers.
  int64_t expected = run.model->num_parameters();
  for (const NamedPartialLayer& layer : partially_dynamic_layers(*run.model)) {
    const dynamic::KernelMixtureConv2d& dyn = *layer.layer->dynamic;
    const int64_t m = layer.layer->mode_mask.numel();
    const int64_t m_dyn = sum(to_dtype(layer.layer->mode_mask, DType::f64)).item<int64_t>();
    expected -= layer.layer->num_parameters();
    expected += dyn.num_kernels * m_dyn + (m - m_dyn) + dyn.attention->num_parameters() +
                (dyn.bias.defined() ? dyn.bias.numel() : 0);
  }
  CHECK(run.report.total.intrinsic() == expected);
  // Deployed FLOPs: the fully dynamic model of the same recipe mixes K values per kernel element
  // per sample; the compacted one only at the dynamic positions, the rest being equal.
  const RunOutcome dynamic_run =
      run_recipe(tiny(ConvMethod::dyconv), plan, train, test, options, 2, 0);
  int64_t mixing_saved = 0;
  for (const LayerCost& layer : run.report.layers)
    if (layer.kind == "CompactPartiallyDynamicConv2d")
      mixing_saved += 4 * (layer.kernel_elements - layer.dynamic_elements);
  CHECK(run.report.flops_per_sample == dynamic_run.report.flops_per_sample - mixing_saved);
  // Top-1 by hand: the argmax of the trained model's logits against the labels.
  {
    run.model->eval();
    NoGradGuard no_grad;
    const std::vector<float> logits = run.model->forward(test.images).to_vector<float>();
    const std::vector<int64_t> labels = test.labels.to_vector<int64_t>();
    int64_t correct = 0;
    for (size_t i = 0; i < labels.size(); ++i)
      correct += (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) == labels[i];
    CHECK(run.accuracy == Approx(double(correct) / double(labels.size())).margin(1e-12));
  }
  // The static network's deployed model is itself.
  const RunOutcome plain =
      run_recipe(tiny(ConvMethod::static_conv), plan, train, test, options, 2, 0);
  CHECK(plain.rounds.empty());
  CHECK(plain.report.total.intrinsic() == plain.model->num_parameters());
}

TEST_CASE("experiment: mean_std is the mean and the n - 1 standard deviation",
          "[examples][padnet]") {
  const MeanStd three = mean_std({1.0, 2.0, 3.0});
  CHECK(three.mean == Approx(2.0));
  CHECK(three.std == Approx(1.0));
  CHECK(mean_std({0.5}).std == 0.0);
  CHECK_THROWS_AS(mean_std({}), Error);
}

TEST_CASE("statistics: the 95% interval uses Student's t for n - 1 degrees of freedom",
          "[examples][padnet]") {
  CHECK(student_t95(1) == Approx(12.706));
  CHECK(student_t95(4) == Approx(2.776));
  CHECK(student_t95(100) == Approx(1.984).margin(2e-3));  // the exact quantile is 1.9840
  CHECK_THROWS_AS(student_t95(0), Error);
  const MeanInterval ci = mean_ci95({1.0, 2.0, 3.0});  // std 1, n 3: 4.303 / sqrt(3)
  CHECK(ci.mean == Approx(2.0));
  CHECK(ci.half_width == Approx(4.303 / std::sqrt(3.0)));
  CHECK(mean_ci95({0.5}).half_width == 0.0);
}

TEST_CASE("statistics: SeedResults are kept by method name and seed", "[examples][padnet]") {
  SeedResults results;
  results.add("IMP", 1, 0.80);
  results.add("IMP", 0, 0.90);
  results.add("Random", 0, 0.85);
  CHECK(results.methods() == std::vector<std::string>{"IMP", "Random"});  // first-added order
  CHECK(results.values("IMP") == std::vector<double>{0.90, 0.80});        // by seed
  CHECK(results.seeds("IMP") == std::vector<int64_t>{0, 1});
  CHECK(results.mean("IMP") == Approx(0.85));
  // Paired on the seeds both have: seed 0 only.
  CHECK(results.paired_differences("IMP", "Random") == std::vector<double>{0.90 - 0.85});
  CHECK_THROWS_WITH(results.values("MP"), Catch::Contains("no method 'MP' (known: IMP, Random)"));
  CHECK_THROWS_WITH(results.add("IMP", 0, 0.1), Catch::Contains("'IMP' seed 0 added twice"));
  // The table cell: mean +- std, then each seed's value, in points.
  CHECK(results.summary("IMP", 100.0) == "85.00 +- 7.07 (90.00, 80.00)");
  // The paired verdict in points over the common seeds; none in common is an error.
  results.add("Random", 1, 0.70);
  results.add("Other", 5, 0.5);
  // IMP - Random: +5 and +10 points: mean 7.5, std 3.536, t(1) = 12.706: half-width 31.77.
  const PairedVerdict v = results.paired("IMP", "Random", ClaimedSign::positive, 100.0);
  CHECK(v.pairs == 2);
  CHECK(v.difference.mean == Approx(7.5));
  CHECK(v.difference.half_width == Approx(12.706 * std::sqrt(12.5) / std::sqrt(2.0)));
  CHECK(v.outcome == PairedVerdict::Outcome::not_resolved);
  CHECK_THROWS_WITH(results.paired("IMP", "Other", ClaimedSign::positive),
                    Catch::Contains("share no seed"));
}

TEST_CASE("statistics: a paired verdict is worded from the 95% interval of the differences",
          "[examples][padnet]") {
  using Outcome = PairedVerdict::Outcome;
  // {1, 2, 3}: mean 2, std 1, half-width 4.303 / sqrt(3) = 2.484: [-0.48, 4.48] includes zero.
  const PairedVerdict wide = paired_verdict({1.0, 2.0, 3.0}, ClaimedSign::positive);
  CHECK(wide.outcome == Outcome::not_resolved);
  CHECK(wide.pairs == 3);
  CHECK(wide.describe("points") ==
        "+2.00 [-0.48, +4.48] points over 3 seeds (paired t): not resolved, smallest effect this "
        "run could detect: 2.48 points");
  // {0.9, 1.0, 1.0, 1.1}: mean 1, std sqrt(0.02 / 3) = 0.0816, half-width 3.182 * 0.0816 / 2 =
  // 0.130: [0.87, 1.13] excludes zero on the positive side.
  const std::vector<double> tight = {0.9, 1.0, 1.0, 1.1};
  CHECK(paired_verdict(tight, ClaimedSign::positive).outcome == Outcome::reproduced);
  CHECK(paired_verdict(tight, ClaimedSign::negative).outcome == Outcome::contradicted);
  CHECK(paired_verdict(tight, ClaimedSign::positive).describe("points") ==
        "+1.00 [+0.87, +1.13] points over 4 seeds (paired t): reproduced");
  // The same differences negated: a claimed decrease is then reproduced.
  CHECK(paired_verdict({-0.9, -1.0, -1.0, -1.1}, ClaimedSign::negative).outcome ==
        Outcome::reproduced);
  // A single pair has no interval, whatever its size.
  const PairedVerdict one = paired_verdict({5.0}, ClaimedSign::positive);
  CHECK(one.outcome == Outcome::not_resolved);
  CHECK(one.describe("points") == "+5.00 points from a single seed (no interval): not resolved");
  CHECK_THROWS_AS(paired_verdict({}, ClaimedSign::positive), Error);
  CHECK(verdict_line({"PAD-Net above MoE", "reproduced"}) == "- PAD-Net above MoE: reproduced.");
}

TEST_CASE("experiment flags: values, --smoke scale, explicit flags over the smoke scale",
          "[examples][padnet]") {
  const ExperimentFlags defaults;
  std::vector<std::string> args = {"prog",    "--epochs", "7",     "--smoke", "--seeds", "2",
                                   "--width", "0.75",     "--out", "/tmp/x",  "--quiet"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  const ExperimentFlags flags = parse_experiment_flags(int(argv.size()), argv.data(), defaults);
  CHECK(flags.smoke);
  CHECK(flags.epochs == 7);  // given explicitly, before --smoke
  CHECK(flags.seeds == 2);
  CHECK(flags.width_multiplier == 0.75);
  CHECK(flags.train_examples == smoke_scale(defaults).train_examples);
  CHECK(flags.out_dir == "/tmp/x");
  CHECK(flags.quiet);
  CHECK(flags.command_line == "--epochs 7 --smoke --seeds 2 --width 0.75 --out /tmp/x --quiet");
  std::vector<std::string> plain_args = {"prog"};
  std::vector<char*> plain_argv = {plain_args[0].data()};
  const ExperimentFlags plain = parse_experiment_flags(1, plain_argv.data(), defaults);
  CHECK_FALSE(plain.smoke);
  CHECK(plain.train_examples == defaults.train_examples);
}
