// The command line shared by the PAD-Net experiment programs (examples/padnet_*.cpp):
//
//   --seeds N    runs per setting (seeds 0 .. N-1); the tables report mean +- std over them
//   --epochs N   training epochs per run
//   --train N    training examples (the first N of the training split; 0 = all)
//   --test N     test examples (the first N of the test split; 0 = all)
//   --width W    the backbones' width multiplier
//   --out DIR    where results (markdown, CSV, PNG) go
//   --data DIR   where the data set is
//   --quiet      no progress bars
//   --replot     no training: draw the figures again from the CSV a run left in DIR
//   --batch N    training batch size (default 64; the paper's is 256)
//   --reuse-partition-batches   IMP scores the same D_b batches in every round (default: fresh
//                batches per round, mode_partition.h)
//   --decay-scalars  weight decay on the 0-dim scale-factor parameters too (default: not)
//   --smoke      a seconds-long run: tiny subsets, a narrow one-block model, one seed, two
//                partition batches; explicit flags after or before it still apply
//
// Parsed by CLI11 (examples/common/command_line.h): --help lists them with their defaults; an
// unknown flag or a bad value (a negative count, a width of 0, text for a number) is an error
// naming it, and the process exits with status 2. Each program passes its own defaults (the scale
// that fits its time budget) and a one-line description for --help.
#pragma once

#include <cstdint>
#include <string>

#include "examples/common/experiment.h"

namespace dg::experiment {

struct ExperimentFlags {
  int64_t seeds = 3;
  int64_t epochs = 3;
  int64_t train_examples = 6000;
  int64_t test_examples = 2000;
  double width_multiplier = 0.5;
  int64_t resnet_blocks_per_stage = 2;
  int64_t partition_batches = 10;  // D_b
  int64_t partition_rounds = 5;    // E
  bool reuse_partition_batches = false;  // IMP: the same D_b batches in every round
  bool decay_scalars = false;            // weight decay on phi, lambda_s, lambda_d too
  int64_t batch_size = 64;               // training batch (the paper: 256)
  std::string out_dir = "docs/results";
  std::string data_dir;
  bool quiet = false;
  bool smoke = false;
  bool replot = false;       // draw the figures again from DIR/<program>.csv, without training
  std::string command_line;  // the program's arguments as given, for the results file
};

// Parses argv over `defaults`; on bad input prints what was wrong and exits with status 2.
ExperimentFlags parse_experiment_flags(int argc, char** argv, ExperimentFlags defaults,
                                       const std::string& description = "A PAD-Net experiment.");

// The smoke scale applied to `flags` (what --smoke sets where no explicit flag overrides it).
ExperimentFlags smoke_scale(ExperimentFlags flags);

// ---------------------------------------------------------------- the flags applied

// The recipe at the flags' width and blocks per stage.
ModelRecipe flags_recipe(const ExperimentFlags& flags, Backbone backbone, ConvMethod method,
                         PartiallyDynamicOptions partial = {});
// The flags' partition rounds and batches at `dynamic_ratio`.
PartitionPlan flags_plan(const ExperimentFlags& flags, PartitionMethod method,
                         double dynamic_ratio);
// One paragraph for every results file: the training batch against the paper's 256, the IMP
// batches per round, the partition's mode and temperature, and which parameters are decayed.
std::string recipe_choices(const ExperimentFlags& flags);

// The paper's training options for `backbone` at the flags' epochs and quietness, batch order from
// `seed`, `label` on the progress bar.
TrainOptions flags_train_options(const ExperimentFlags& flags, Backbone backbone, int64_t seed,
                                 std::string label);

}  // namespace dg::experiment
