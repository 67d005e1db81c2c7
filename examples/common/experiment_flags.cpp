// Command-line parsing of the PAD-Net experiment programs (see experiment_flags.h).
#include "examples/common/experiment_flags.h"

#include <fmt/format.h>

#include "examples/common/command_line.h"

namespace dg::experiment {

ExperimentFlags smoke_scale(ExperimentFlags flags) {
  flags.smoke = true;
  flags.seeds = 1;
  flags.epochs = 3;
  flags.train_examples = 768;
  flags.test_examples = 256;
  flags.width_multiplier = 0.25;
  flags.resnet_blocks_per_stage = 1;
  flags.partition_batches = 2;
  flags.partition_rounds = 2;
  return flags;
}

ExperimentFlags parse_experiment_flags(int argc, char** argv, ExperimentFlags defaults,
                                       const std::string& description) {
  ExperimentFlags parsed = defaults;
  CLI::App app{description};
  app.add_option("--seeds", parsed.seeds, "runs per setting (seeds 0 .. N-1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--epochs", parsed.epochs, "training epochs per run")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--train", parsed.train_examples,
                 "training examples (the first N of the split; 0 = all)")
      ->check(non_negative())
      ->capture_default_str();
  app.add_option("--test", parsed.test_examples,
                 "test examples (the first N of the split; 0 = all)")
      ->check(non_negative())
      ->capture_default_str();
  app.add_option("--width", parsed.width_multiplier, "the backbones' width multiplier")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--out", parsed.out_dir, "where the results (markdown, CSV, PNG) go")
      ->capture_default_str();
  app.add_option("--data", parsed.data_dir,
                 "where Fashion-MNIST is (default: the Debian package's folder)");
  app.add_flag("--quiet", parsed.quiet, "no progress bars");
  app.add_flag(
      "--smoke", parsed.smoke,
      "a seconds-long run (tiny subsets, a narrow one-block model, one seed, two partition "
      "batches); flags given explicitly still apply");
  app.add_flag("--replot", parsed.replot,
               "no training: draw the figures again from the CSV a run left in --out");
  app.add_option("--batch", parsed.batch_size, "training batch size (the paper: 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_flag("--reuse-partition-batches", parsed.reuse_partition_batches,
               "IMP scores the same batches in every round (default: fresh batches per round)");
  app.add_flag("--decay-scalars", parsed.decay_scalars,
               "weight decay on the scale-factor scalars (phi, lambda_s, lambda_d) too");
  parse_command_line(app, argc, argv);

  // The smoke scale where --smoke is given, then whatever was given explicitly on top.
  ExperimentFlags flags = parsed.smoke ? smoke_scale(defaults) : defaults;
  if (given(app, "--seeds")) flags.seeds = parsed.seeds;
  if (given(app, "--epochs")) flags.epochs = parsed.epochs;
  if (given(app, "--train")) flags.train_examples = parsed.train_examples;
  if (given(app, "--test")) flags.test_examples = parsed.test_examples;
  if (given(app, "--width")) flags.width_multiplier = parsed.width_multiplier;
  if (given(app, "--batch")) flags.batch_size = parsed.batch_size;
  flags.reuse_partition_batches = parsed.reuse_partition_batches;
  flags.decay_scalars = parsed.decay_scalars;
  flags.out_dir = parsed.out_dir;
  flags.data_dir = parsed.data_dir;
  flags.quiet = parsed.quiet;
  flags.replot = parsed.replot;
  flags.command_line = joined_arguments(argc, argv);
  return flags;
}

ModelRecipe flags_recipe(const ExperimentFlags& flags, Backbone backbone, ConvMethod method,
                         PartiallyDynamicOptions partial) {
  return {.backbone = backbone,
          .method = method,
          .width_multiplier = flags.width_multiplier,
          .resnet_blocks_per_stage = flags.resnet_blocks_per_stage,
          .partial = partial};
}

PartitionPlan flags_plan(const ExperimentFlags& flags, PartitionMethod method,
                         double dynamic_ratio) {
  return {.method = method,
          .dynamic_ratio = dynamic_ratio,
          .rounds = flags.partition_rounds,
          .num_batches = flags.partition_batches,
          .batch_size = 64,
          .fresh_batches_per_round = !flags.reuse_partition_batches};
}

TrainOptions flags_train_options(const ExperimentFlags& flags, Backbone backbone, int64_t seed,
                                 std::string label) {
  TrainOptions options = paper_train_options(backbone);
  options.epochs = flags.epochs;
  options.batch_size = flags.batch_size;
  options.decay_scalars = flags.decay_scalars;
  options.seed = static_cast<uint64_t>(seed);
  options.quiet = flags.quiet;
  options.label = std::move(label);
  return options;
}

std::string recipe_choices(const ExperimentFlags& flags) {
  return fmt::format(
      "Choices (docs/padnet_choices.md): training batch {} (the paper: 256; --batch); the "
      "partition before the first step, in train mode at DY-Conv temperature 30, the value the "
      "annealing schedule gives at that step; IMP scores {} (--reuse-partition-batches); weight "
      "decay on every weight, bias and batch-norm parameter but {} the 0-dim scale-factor "
      "parameters phi, lambda_s, lambda_d (--decay-scalars).",
      flags.batch_size,
      flags.reuse_partition_batches ? "the same batches in every round"
                                    : "fresh batches in each round",
      flags.decay_scalars ? "also on" : "not on");
}

}  // namespace dg::experiment
