// Command-line parsing of the PAD-Net experiment programs (see experiment_flags.h).
#include "examples/common/experiment_flags.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

namespace dg::experiment {

namespace {

std::optional<long long> parse_count(const char* text) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value < 0) return std::nullopt;
  return value;
}

std::optional<double> parse_positive(const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !(value > 0)) return std::nullopt;
  return value;
}

[[noreturn]] void usage(const char* program, int status) {
  std::fprintf(stderr,
               "usage: %s [--seeds N] [--epochs N] [--train N] [--test N] [--width W] [--out DIR] "
               "[--data DIR] [--quiet] [--smoke]\n",
               program);
  std::exit(status);
}

}  // namespace

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

ExperimentFlags parse_experiment_flags(int argc, char** argv, ExperimentFlags defaults) {
  bool smoke = false;
  for (int i = 1; i < argc; ++i) smoke = smoke || std::string(argv[i]) == "--smoke";
  ExperimentFlags flags = smoke ? smoke_scale(defaults) : defaults;
  for (int i = 1; i < argc; ++i) {
    if (i > 1) flags.command_line += ' ';
    flags.command_line += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    auto count = [&](int64_t& target, long long minimum) {
      const auto parsed = value ? parse_count(value) : std::nullopt;
      if (!parsed || *parsed < minimum) usage(argv[0], 2);
      target = *parsed;
      ++i;
    };
    if (arg == "--smoke") continue;
    if (arg == "--quiet") flags.quiet = true;
    else if (arg == "--seeds") count(flags.seeds, 1);
    else if (arg == "--epochs") count(flags.epochs, 1);
    else if (arg == "--train") count(flags.train_examples, 0);
    else if (arg == "--test") count(flags.test_examples, 0);
    else if (arg == "--width") {
      const auto parsed = value ? parse_positive(value) : std::nullopt;
      if (!parsed) usage(argv[0], 2);
      flags.width_multiplier = *parsed;
      ++i;
    } else if (arg == "--out" && value) flags.out_dir = argv[++i];
    else if (arg == "--data" && value) flags.data_dir = argv[++i];
    else usage(argv[0], arg == "--help" || arg == "-h" ? 0 : 2);
  }
  return flags;
}

ModelRecipe flags_recipe(const ExperimentFlags& flags, Backbone backbone, ConvMethod method,
                         PartiallyDynamicOptions partial) {
  return {.backbone = backbone, .method = method, .width_multiplier = flags.width_multiplier,
          .resnet_blocks_per_stage = flags.resnet_blocks_per_stage, .partial = partial};
}

PartitionPlan flags_plan(const ExperimentFlags& flags, PartitionMethod method, double dynamic_ratio) {
  return {.method = method, .dynamic_ratio = dynamic_ratio, .rounds = flags.partition_rounds,
          .num_batches = flags.partition_batches};
}

TrainOptions flags_train_options(const ExperimentFlags& flags, Backbone backbone, int64_t seed,
                                 std::string label) {
  TrainOptions options = paper_train_options(backbone);
  options.epochs = flags.epochs;
  options.seed = static_cast<uint64_t>(seed);
  options.quiet = flags.quiet;
  options.label = std::move(label);
  return options;
}

}  // namespace dg::experiment
