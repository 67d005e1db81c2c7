// PAD-Net's Figure 6 (extended version, Figure 5) on Fashion-MNIST: the "dynamic property" of
// static convolution, DY-Conv (K = 4) and PAD-Net (kappa = 30%, IMP), layer by layer, over the
// same batch of test images: the parameter variance (how much the per-sample kernel varies over
// the samples) and the output variance (how much each convolution's output varies over them), as
// defined in partition/dynamic_property.h. The paper's reading: DY-Conv has the highest parameter
// variance and the lowest output variance, static convolution the opposite, PAD-Net's outputs the
// most varied among the dynamic ones.
//
// Scaled down from the paper (ResNet-50 on ImageNet) to SmallResNet (ResNet-14 layout) at width
// 0.5, trained on the first 6000 training images for 3 epochs with the recipe of
// examples/common/experiment.h; measured on the first 256 test images; per-layer values are mean +- std
// over the seeds (3 by default).
//
//   padnet_property [--seeds N] [--epochs N] [--train N] [--test N] [--width W] [--out DIR]
//                   [--data DIR] [--quiet] [--smoke]
//
// Writes DIR/padnet_property.md, DIR/padnet_property.csv (one row per model, layer and seed),
// DIR/padnet_property_parameters.png and DIR/padnet_property_outputs.png. Exits 1 if a run's
// loss did not go down, 77 without the data set.
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
#include "partition/dynamic_property.h"

using namespace dg;
using namespace dg::experiment;

// --------------------------------------------------------------------------- settings

constexpr double kDynamicRatio = 0.3;
constexpr int64_t kMeasuredImages = 256;
const std::vector<ConvMethod> kMethods = {ConvMethod::static_conv, ConvMethod::dyconv,
                                          ConvMethod::padnet};

// What one method collects, per seed: each layer's variances (layer -> seed -> value), their mean
// over the layers, and top-1.
struct MethodResults {
  std::vector<SeedResults> parameter_variance, output_variance;  // one per layer, method "all"
  SeedResults accuracy;
};

// The mean over the layers of one seed's per-layer values.
double layer_mean(const std::vector<partition::LayerVariance>& layers, bool parameters) {
  double sum = 0.0;
  for (const partition::LayerVariance& layer : layers)
    sum += parameters ? layer.parameter_variance : layer.output_variance;
  return sum / static_cast<double>(layers.size());
}

// "3.2e-06 +- 1.1e-06 (2.1e-06, 3.3e-06, 4.2e-06)": mean +- std over the seeds, then each seed,
// in 3 significant digits (the variances span orders of magnitude).
std::string general_summary(const std::vector<double>& values) {
  const MeanStd s = mean_std(values);
  std::vector<std::string> each;
  for (double v : values) each.push_back(fmt::format("{:.3g}", v));
  return fmt::format("{:.3g} +- {:.2g} ({})", s.mean, s.std, fmt::join(each, ", "));
}

// --------------------------------------------------------------------------- the figures
//
// From the CSV (one row per method, seed and layer): per layer, the mean over the seeds, one line
// per method.

std::vector<std::string> draw_figures(const train::CsvTable& csv, const std::string& out_dir) {
  const std::vector<std::string> methods = csv.texts("method");
  const std::vector<double> layers = csv.numbers("layer");
  std::vector<std::string> written;
  for (const auto& [column, title] :
       {std::pair<std::string, std::string>{"parameter_variance", "parameter variance"},
        {"output_variance", "output variance"}}) {
    const std::vector<double> values = csv.numbers(column);
    std::map<std::string, std::map<double, std::vector<double>>>
        by_method;  // method -> layer -> seeds
    std::vector<std::string> order;
    for (size_t r = 0; r < values.size(); ++r) {
      if (!by_method.count(methods[r])) order.push_back(methods[r]);
      by_method[methods[r]][layers[r]].push_back(values[r]);
    }
    plot::LineChart chart{.title = "Figure 6: " + title + " per layer (mean over seeds)",
                          .x_label = "convolution (factory order)",
                          .y_label = title,
                          .series = {}};
    for (const std::string& method : order) {
      plot::Series series{.name = method, .x = {}, .y = {}};
      for (const auto& [layer, seeds] : by_method.at(method)) {
        series.x.push_back(layer);
        series.y.push_back(mean_std(seeds).mean);
      }
      chart.series.push_back(series);
    }
    written.push_back(out_dir + "/padnet_property_" +
                      (column == "parameter_variance" ? "parameters" : "outputs") + ".png");
    plot::write_line_chart(written.back(), chart);
  }
  return written;
}

// --------------------------------------------------------------------------- the experiment

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const ExperimentFlags flags =
      parse_experiment_flags(argc, argv, ExperimentFlags{},
                             "PAD-Net Figure 6 on Fashion-MNIST: per-layer parameter and output "
                             "variance of static, DY-Conv and PAD-Net.");
  const std::string csv_path = flags.out_dir + "/padnet_property.csv";
  if (flags.replot) {  // the figures again from an earlier run's CSV, no training
    print_written(draw_figures(train::read_csv(csv_path), flags.out_dir));
    return 0;
  }
  const auto data =
      load_fashion_mnist_tensors(flags.data_dir, flags.train_examples, flags.test_examples);
  if (!data) return 77;  // not installed: skipped
  const LabelledImages& train = data->train;
  const LabelledImages& test = data->test;
  const Tensor measured =
      slice_examples(test, 0, kMeasuredImages).images;  // the same batch for all
  std::printf(
      "Figure 6 on Fashion-MNIST: ResNet width %g, %lld training images, %lld epochs, %lld "
      "seeds, variances over %lld test images\n",
      flags.width_multiplier, (long long)train.size(), (long long)flags.epochs,
      (long long)flags.seeds, (long long)measured.shape()[0]);

  train::RunLog log(csv_path, {"method", "seed", "layer", "parameter_variance", "output_variance"});
  train::SweepProgress sweep("padnet_property", flags.seeds * int64_t(kMethods.size()),
                             flags.quiet);
  std::map<std::string, MethodResults> results;
  std::vector<std::string> layer_names;
  SeedResults parameter_mean, output_mean;  // the layer mean, per method and seed
  bool all_went_down = true;
  for (ConvMethod method : kMethods) {
    const std::string name = to_string(method);
    MethodResults& r = results[name];
    for (int64_t seed = 0; seed < flags.seeds; ++seed) {
      // Every convolution from the factory sits in an OutputRecorder, so its output can be read.
      auto model = build_model(flags_recipe(flags, Backbone::resnet, method),
                               static_cast<uint64_t>(seed), partition::recording_factory);
      if (method == ConvMethod::padnet)
        apply_partition(*model, train, flags_plan(flags, PartitionMethod::imp, kDynamicRatio),
                        static_cast<uint64_t>(seed));
      const TrainingRecord training =
          train_classifier(*model, train,
                           flags_train_options(flags, Backbone::resnet, seed,
                                               name + " seed " + std::to_string(seed)));
      all_went_down = all_went_down && training.loss_went_down();
      const double top1 = top1_accuracy(*model, test);
      r.accuracy.add(name, seed, top1);

      // ------------------------------------------------------------------- the measurement

      const std::vector<partition::LayerVariance> layers =
          partition::dynamic_property(*model, measured);
      r.parameter_variance.resize(layers.size());
      r.output_variance.resize(layers.size());
      if (layer_names.empty())
        for (const partition::LayerVariance& layer : layers) layer_names.push_back(layer.name);
      for (size_t i = 0; i < layers.size(); ++i) {
        r.parameter_variance[i].add("all", seed, layers[i].parameter_variance);
        r.output_variance[i].add("all", seed, layers[i].output_variance);
        log.add({name, seed, int64_t(i), layers[i].parameter_variance, layers[i].output_variance});
      }
      parameter_mean.add(name, seed, layer_mean(layers, true));
      output_mean.add(name, seed, layer_mean(layers, false));
      std::printf("%-8s seed %lld  loss %.3f -> %.3f  top-1 %5.2f%%  %zu layers measured\n",
                  name.c_str(), (long long)seed, training.step_losses.front(),
                  training.epoch_losses.back(), 100 * top1, layers.size());
      sweep.run_done(name + " seed " + std::to_string(seed));
    }
  }

  // --------------------------------------------------------------------------- the figures

  const std::vector<std::string> figures = draw_figures(train::read_csv(csv_path), flags.out_dir);

  // --------------------------------------------------------------------------- the results file

  // Per layer: mean +- std over the seeds and each seed's value; then the layer means per seed.
  MarkdownTable table{.header = {"#", "Layer"}, .right_aligned = {true, false}, .rows = {}};
  for (const char* kind : {"param var", "out var"})
    for (ConvMethod method : kMethods) {
      table.header.push_back(std::string(kind) + " " + to_string(method) +
                             " (mean +- std; each seed)");
      table.right_aligned.push_back(true);
    }
  for (size_t i = 0; i < layer_names.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i), layer_names[i]};
    for (ConvMethod method : kMethods)
      row.push_back(
          general_summary(results.at(to_string(method)).parameter_variance[i].values("all")));
    for (ConvMethod method : kMethods)
      row.push_back(
          general_summary(results.at(to_string(method)).output_variance[i].values("all")));
    table.add(row);
  }
  MarkdownTable means{.header = {"Model", "layer-mean param var (mean +- std; each seed)",
                                 "layer-mean out var (mean +- std; each seed)",
                                 "Top-1 % (mean +- std; each seed)"},
                      .right_aligned = {false, true, true, true},
                      .rows = {}};
  for (ConvMethod method : kMethods) {
    const std::string name = to_string(method);
    means.add({name, general_summary(parameter_mean.values(name)),
               general_summary(output_mean.values(name)),
               results.at(name).accuracy.summary(name, 100.0)});
  }
  std::printf("\n%s\n%s", table.str().c_str(), means.str().c_str());

  // The paper's reading, on the layer means, paired by seed: parameter variance in units of 1e-6,
  // output variance as measured.
  const std::vector<Verdict> verdicts = {
      {"DY-Conv's parameter variance above PAD-Net's (paired difference DY-Conv - PAD-Net of the "
       "layer mean)",
       parameter_mean.paired("DY-Conv", "PAD-Net", ClaimedSign::positive, 1e6)
           .describe("x 1e-6", 3)},
      {"Static's output variance above DY-Conv's (paired difference Static - DY-Conv of the layer "
       "mean)",
       output_mean.paired("Static", "DY-Conv", ClaimedSign::positive).describe("(variance)", 3)},
      {"PAD-Net's output variance above DY-Conv's (paired difference PAD-Net - DY-Conv of the "
       "layer mean)",
       output_mean.paired("PAD-Net", "DY-Conv", ClaimedSign::positive).describe("(variance)", 3)}};
  for (const Verdict& v : verdicts) std::printf("%s\n", verdict_line(v).c_str());
  const std::string md_path = flags.out_dir + "/padnet_property.md";
  write_results_page(
      md_path,
      {.title = "PAD-Net Figure 6 on Fashion-MNIST",
       .program = "padnet_property",
       .command_line = flags.command_line,
       .scale = fmt::format("Scale: ResNet (SmallResNet, {} blocks per stage, width {}), {} "
                            "training images, {} epochs, seeds 0..{} "
                            "(mean +- std over the seeds and each seed's value); variances over the first {} test "
                            "images. Parameter variance: the "
                            "variance over the samples of the per-sample kernel, averaged over its "
                            "elements (0 for static); output "
                            "variance: the variance over the samples of the convolution's output, "
                            "averaged over its elements "
                            "(partition/dynamic_property.h). Top-1 on {} test images.",
                            flags.resnet_blocks_per_stage, flags.width_multiplier, train.size(),
                            flags.epochs, flags.seeds - 1, measured.shape()[0], test.size()),
       .table = table.str() + "\n" + means.str(),
       .figures = figures_in(figures),
       .claims_heading = "Where this has the paper's shape and where not (layer means)",
       .verdicts = verdicts,
       .claims = {},
       .notes = {recipe_choices(flags),
                 "Each comparison is the mean over seeds of the per-seed difference of the layer "
                 "means (same seed, same data order for the models) with its 95% Student t "
                 "interval."}});
  std::vector<std::string> written = {md_path, csv_path};
  written.insert(written.end(), figures.begin(), figures.end());
  print_written(written);

  if (!all_went_down) {
    std::printf("FAILED: the training loss of a run did not go down\n");
    return 1;
  }
  return 0;
}
