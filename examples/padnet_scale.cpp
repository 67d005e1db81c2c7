// PAD-Net's Table 4, vision half, on Fashion-MNIST: the scale factors of Eq. 4 ablated. Five
// options for PAD-Net (DY-Conv K = 4, kappa = 30%, IMP before training) in the ResNet-style
// network: none ("-", Eq. 3), only lambda_s, only lambda_d, both free ("lambda_s, lambda_d"), and
// both with lambda_s + lambda_d = 2 (the paper's default).
//
// Scaled down from the paper (ResNet-50 on CIFAR-10 and ImageNet) to SmallResNet (ResNet-14
// layout) at width 0.5 on the first 6000 training and 2000 test images of Fashion-MNIST, 3 epochs,
// 3 seeds, with the recipe of examples/common/experiment.h (the paper's, scaled).
//
//   padnet_scale [--seeds N] [--epochs N] [--train N] [--test N] [--width W] [--out DIR]
//                [--data DIR] [--quiet] [--smoke]
//
// Writes DIR/padnet_scale.md, DIR/padnet_scale.csv and DIR/padnet_scale.png (bars with error
// bars), and prints each option's trained lambda_s and lambda_d (averaged over the layers). Exits 1
// if a run's loss did not go down, 77 without the data set.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "examples/common/experiment.h"
#include "examples/common/experiment_flags.h"
#include "examples/common/fashion_mnist.h"
#include "examples/common/plot.h"
#include "examples/common/result_figures.h"
#include "examples/common/results_page.h"
#include "examples/common/statistics.h"
#include "nn/train/progress.h"
#include "nn/train/run_log.h"

using namespace dg;
using namespace dg::experiment;
using partition::ScaleFactors;

// --------------------------------------------------------------------------- settings

constexpr double kDynamicRatio = 0.3;
struct Option {
  std::string name;   // the paper's notation
  std::string label;  // short, for the figure's axis
  ScaleFactors factors;
};
const std::vector<Option> kOptions = {
    {"-", "none", ScaleFactors::none},
    {"lambda_s", "l_s", ScaleFactors::static_only},
    {"lambda_d", "l_d", ScaleFactors::dynamic_only},
    {"lambda_s, lambda_d", "l_s, l_d", ScaleFactors::both_free},
    {"lambda_s + lambda_d = 2", "l_s + l_d = 2", ScaleFactors::both_constrained}};

// The mean over the model's partially dynamic layers of lambda_s and lambda_d.
std::pair<double, double> mean_scale_factors(nn::Module& model) {
  double s = 0.0, d = 0.0;
  const auto layers = partition::partially_dynamic_layers(model);
  for (const partition::NamedPartialLayer& layer : layers) {
    s += layer.layer->lambda_static().item<double>();
    d += layer.layer->lambda_dynamic().item<double>();
  }
  const double n = static_cast<double>(layers.size());
  return {s / n, d / n};
}

// --------------------------------------------------------------------------- the figures
//
// From the CSV: every seed's top-1 per option, and each option minus the paper's default (the
// constrained pair) at the same seed.

std::vector<std::string> draw_figures(const train::CsvTable& csv, const std::string& out_dir) {
  return draw_seed_figures(seed_results_from_csv(csv, {"option"}, "top1", 100.0), out_dir,
                           "padnet_scale", "Table 4 (vision)", "top-1 %",
                           "lambda_s + lambda_d = 2");
}

// --------------------------------------------------------------------------- the experiment

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const ExperimentFlags flags = parse_experiment_flags(
      argc, argv, ExperimentFlags{},
      "PAD-Net Table 4 (vision) on Fashion-MNIST: the five scale-factor options.");
  const std::string csv_path = flags.out_dir + "/padnet_scale.csv";
  if (flags.replot) {  // the figures again from an earlier run's CSV, no training
    print_written(draw_figures(train::read_csv(csv_path), flags.out_dir));
    return 0;
  }
  const auto data =
      load_fashion_mnist_tensors(flags.data_dir, flags.train_examples, flags.test_examples);
  if (!data) return 77;  // not installed: skipped
  const LabelledImages& train = data->train;
  const LabelledImages& test = data->test;
  std::printf(
      "Table 4 (vision) on Fashion-MNIST: ResNet width %g, %lld training / %lld test images, "
      "%lld epochs, %lld seeds, kappa %.0f%%\n",
      flags.width_multiplier, (long long)train.size(), (long long)test.size(),
      (long long)flags.epochs, (long long)flags.seeds, 100 * kDynamicRatio);

  train::RunLog log(csv_path, {"option", "seed", "top1", "lambda_s", "lambda_d", "epoch_seconds"});
  train::SweepProgress sweep("padnet_scale", flags.seeds * int64_t(kOptions.size()), flags.quiet);
  SeedResults accuracy;
  SeedResults lambda_static, lambda_dynamic;  // the layers' mean, per option and seed
  bool all_went_down = true;
  for (const Option& option : kOptions) {
    for (int64_t seed = 0; seed < flags.seeds; ++seed) {
      const RunOutcome run =
          run_recipe(flags_recipe(flags, Backbone::resnet, ConvMethod::padnet,
                                  {.scale_factors = option.factors}),
                     flags_plan(flags, PartitionMethod::imp, kDynamicRatio), train, test,
                     flags_train_options(flags, Backbone::resnet, seed,
                                         option.name + " seed " + std::to_string(seed)),
                     static_cast<uint64_t>(seed), 0);
      all_went_down = all_went_down && run.training.loss_went_down();
      const auto [lambda_s, lambda_d] = mean_scale_factors(*run.model);
      lambda_static.add(option.name, seed, lambda_s);
      lambda_dynamic.add(option.name, seed, lambda_d);
      accuracy.add(option.name, seed, run.accuracy);
      const double epoch_seconds = mean_std(run.training.epoch_seconds).mean;
      log.add({option.name, seed, run.accuracy, lambda_s, lambda_d, epoch_seconds});
      sweep.run_done(option.name + " seed " + std::to_string(seed));
      std::printf(
          "%-24s seed %lld  loss %.3f -> %.3f  top-1 %5.2f%%  lambda_s %.3f  lambda_d %.3f  %.1f "
          "s/epoch\n",
          option.name.c_str(), (long long)seed, run.training.step_losses.front(),
          run.training.epoch_losses.back(), 100 * run.accuracy, lambda_s, lambda_d, epoch_seconds);
    }
  }

  // --------------------------------------------------------------------------- table and figure

  // lambda_s and lambda_d: the mean over the layers, then mean +- std over the seeds.
  MarkdownTable table{.header = {"Option", "Top-1 % (mean +- std; each seed)",
                                 "layer-mean lambda_s (over seeds; each seed)",
                                 "layer-mean lambda_d (over seeds; each seed)"},
                      .right_aligned = {false, true, true, true},
                      .rows = {}};
  for (const Option& option : kOptions)
    table.add({option.name, accuracy.summary(option.name, 100.0),
               lambda_static.summary(option.name, 1.0, 3),
               lambda_dynamic.summary(option.name, 1.0, 3)});
  std::printf("\n%s", table.str().c_str());
  const std::vector<std::string> figures = draw_figures(train::read_csv(csv_path), flags.out_dir);

  // --------------------------------------------------------------------------- the results file
  //
  // The paper's order (ResNet-50, both data sets): "-" lowest, a single factor better, the
  // constrained pair best, the free pair below the constrained one.

  const std::string constrained = "lambda_s + lambda_d = 2";
  auto verdict = [&](const std::string& text, const std::string& method,
                     const std::string& reference) {
    return Verdict{fmt::format("{} (paired difference [{}] - [{}])", text, method, reference),
                   accuracy.paired(method, reference, ClaimedSign::positive, 100.0)
                       .describe("points")};
  };
  std::vector<Verdict> verdicts = {
      verdict("lambda_s alone above no factors", "lambda_s", "-"),
      verdict("lambda_d alone above no factors", "lambda_d", "-")};
  for (const Option& option : kOptions)
    if (option.factors != ScaleFactors::both_constrained)
      verdicts.push_back(verdict("the constrained pair above " +
                                     (option.factors == ScaleFactors::none ? std::string("no factors")
                                                                           : option.name),
                                 constrained, option.name));
  for (const Verdict& v : verdicts) std::printf("%s\n", verdict_line(v).c_str());
  const std::string md_path = flags.out_dir + "/padnet_scale.md";
  write_results_page(
      md_path,
      {.title = "PAD-Net Table 4 (vision half) on Fashion-MNIST",
       .program = "padnet_scale",
       .command_line = flags.command_line,
       .scale = fmt::format(
           "Scale: ResNet (SmallResNet, {} blocks per stage, width {}), {} training / {} test "
           "images, {} epochs, seeds 0..{}; PAD-Net kappa 30% by IMP (E = {}, {} batches) before "
           "training.",
           flags.resnet_blocks_per_stage, flags.width_multiplier, train.size(), test.size(),
           flags.epochs, flags.seeds - 1, flags.partition_rounds, flags.partition_batches),
       .table = table.str(),
       .figures = figures_in(figures),
       .verdicts = verdicts,
       .claims = {},
       .notes = {recipe_choices(flags),
                 "The paper's order: no factors lowest, a single factor better, the constrained "
                 "pair the best (it is checked against each other option). Every comparison is the "
                 "mean of the per-seed differences (same seed, same data order) with its 95% "
                 "Student t interval."}});
  std::vector<std::string> written = {md_path, csv_path};
  written.insert(written.end(), figures.begin(), figures.end());
  print_written(written);

  if (!all_went_down) {
    std::printf("FAILED: the training loss of a run did not go down\n");
    return 1;
  }
  return 0;
}
