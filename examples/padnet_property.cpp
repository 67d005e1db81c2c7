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
// partition/experiment.h; measured on the first 256 test images; per-layer values are means over
// the seeds (3 by default).
//
//   padnet_property [--seeds N] [--epochs N] [--train N] [--test N] [--width W] [--out DIR]
//                   [--data DIR] [--quiet] [--smoke]
//
// Writes DIR/padnet_property.md, DIR/padnet_property.csv (one row per model, layer and seed),
// DIR/padnet_property_parameters.png and DIR/padnet_property_outputs.png. Exits 1 if a run's
// loss did not go down, 77 without the data set.
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "nn/plot.h"
#include "nn/run_log.h"
#include "partition/dynamic_property.h"
#include "partition/experiment.h"
#include "partition/experiment_data.h"
#include "partition/experiment_flags.h"

using namespace dg;
using namespace dg::partition;

// --------------------------------------------------------------------------- settings

constexpr double kDynamicRatio = 0.3;
constexpr int64_t kMeasuredImages = 256;
const std::vector<ConvMethod> kMethods = {ConvMethod::static_conv, ConvMethod::dyconv, ConvMethod::padnet};

// --------------------------------------------------------------------------- the experiment

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ExperimentFlags defaults;
  const ExperimentFlags flags = parse_experiment_flags(argc, argv, defaults);
  const std::optional<ExperimentData> data = load_fashion_mnist(flags);
  if (!data) return 77;  // not installed: skipped
  const LabelledImages& train = data->train;
  const LabelledImages& test = data->test;
  const Tensor measured = slice_examples(test, 0, kMeasuredImages).images;  // the same batch for all
  std::printf("Figure 6 on Fashion-MNIST: ResNet width %g, %lld training images, %lld epochs, %lld "
              "seeds, variances over %lld test images\n",
              flags.width_multiplier, (long long)train.size(), (long long)flags.epochs,
              (long long)flags.seeds, (long long)measured.shape()[0]);

  nn::RunLog log(flags.out_dir + "/padnet_property.csv",
                 {"method", "seed", "layer", "parameter_variance", "output_variance"});
  // [method][layer]: the sums over the seeds.
  std::vector<std::vector<double>> parameter_variance(kMethods.size()), output_variance(kMethods.size());
  std::vector<std::string> layer_names;
  std::vector<double> accuracy(kMethods.size(), 0.0);
  bool all_went_down = true;
  for (size_t m = 0; m < kMethods.size(); ++m) {
    for (int64_t seed = 0; seed < flags.seeds; ++seed) {
      // Every convolution from the factory sits in an OutputRecorder, so its output can be read.
      const ModelRecipe recipe{.backbone = Backbone::resnet, .method = kMethods[m],
                               .width_multiplier = flags.width_multiplier,
                               .resnet_blocks_per_stage = flags.resnet_blocks_per_stage, .partial = {}};
      auto model = build_model(recipe, static_cast<uint64_t>(seed), recording_factory);
      const PartitionPlan plan{.method = PartitionMethod::imp, .dynamic_ratio = kDynamicRatio,
                               .rounds = flags.partition_rounds, .num_batches = flags.partition_batches};
      if (kMethods[m] == ConvMethod::padnet) apply_partition(*model, train, plan, static_cast<uint64_t>(seed));
      TrainOptions options = paper_train_options(Backbone::resnet);
      options.epochs = flags.epochs;
      options.seed = static_cast<uint64_t>(seed);
      options.quiet = flags.quiet;
      options.label = to_string(kMethods[m]) + " seed " + std::to_string(seed);
      const TrainingRecord training = train_classifier(*model, train, options);
      all_went_down = all_went_down && training.loss_went_down();
      const double top1 = top1_accuracy(*model, test);
      accuracy[m] += top1 / static_cast<double>(flags.seeds);

      // ------------------------------------------------------------------- the measurement

      const std::vector<LayerVariance> layers = dynamic_property(*model, measured);
      parameter_variance[m].resize(layers.size(), 0.0);
      output_variance[m].resize(layers.size(), 0.0);
      if (layer_names.empty())
        for (const LayerVariance& layer : layers) layer_names.push_back(layer.name);
      for (size_t i = 0; i < layers.size(); ++i) {
        parameter_variance[m][i] += layers[i].parameter_variance / static_cast<double>(flags.seeds);
        output_variance[m][i] += layers[i].output_variance / static_cast<double>(flags.seeds);
        log.add({double(int(kMethods[m])), double(seed), double(i), layers[i].parameter_variance,
                 layers[i].output_variance});
      }
      std::printf("%-8s seed %lld  loss %.3f -> %.3f  top-1 %5.2f%%  %zu layers measured\n",
                  to_string(kMethods[m]).c_str(), (long long)seed, training.step_losses.front(),
                  training.epoch_losses.back(), 100 * top1, layers.size());
    }
  }

  // --------------------------------------------------------------------------- the figures

  nn::LinePlot parameters{.title = "Figure 6: parameter variance per layer",
                          .x_label = "convolution (factory order)", .y_label = "parameter variance",
                          .series = {}};
  nn::LinePlot outputs{.title = "Figure 6: output variance per layer",
                       .x_label = "convolution (factory order)", .y_label = "output variance", .series = {}};
  std::vector<double> index;
  for (size_t i = 0; i < layer_names.size(); ++i) index.push_back(double(i));
  for (size_t m = 0; m < kMethods.size(); ++m) {
    parameters.series.push_back({to_string(kMethods[m]), index, parameter_variance[m]});
    outputs.series.push_back({to_string(kMethods[m]), index, output_variance[m]});
  }
  nn::write_line_plot(flags.out_dir + "/padnet_property_parameters.png", parameters);
  nn::write_line_plot(flags.out_dir + "/padnet_property_outputs.png", outputs);

  // --------------------------------------------------------------------------- the results file

  std::string table = "| # | Layer | param var Static | param var DY-Conv | param var PAD-Net | out var Static | "
                      "out var DY-Conv | out var PAD-Net |\n|---:|---|---:|---:|---:|---:|---:|---:|\n";
  double mean_out[3] = {0, 0, 0}, mean_param[3] = {0, 0, 0};
  for (size_t i = 0; i < layer_names.size(); ++i) {
    char row[512];
    std::snprintf(row, sizeof row, "| %zu | %s | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g |\n", i,
                  layer_names[i].c_str(), parameter_variance[0][i], parameter_variance[1][i],
                  parameter_variance[2][i], output_variance[0][i], output_variance[1][i], output_variance[2][i]);
    table += row;
    for (size_t m = 0; m < 3; ++m) {
      mean_out[m] += output_variance[m][i] / static_cast<double>(layer_names.size());
      mean_param[m] += parameter_variance[m][i] / static_cast<double>(layer_names.size());
    }
  }
  std::printf("\n%s", table.c_str());
  auto verdict = [](bool holds) { return holds ? "matches" : "does NOT match"; };
  std::ofstream md(flags.out_dir + "/padnet_property.md");
  md << "# PAD-Net Figure 6 on Fashion-MNIST (examples/padnet_property.cpp)\n\n"
     << "Command: `build/examples/padnet_property " << flags.command_line << "`\n\n"
     << "Scale: ResNet (SmallResNet, " << flags.resnet_blocks_per_stage << " blocks per stage, width "
     << flags.width_multiplier << "), " << train.size() << " training images, " << flags.epochs
     << " epochs, seeds 0.." << flags.seeds - 1 << " (values are means over the seeds); variances over the first "
     << measured.shape()[0] << " test images. Parameter variance: the variance over the samples of the "
     << "per-sample kernel, averaged over its elements (0 for static); output variance: the variance over the "
     << "samples of the convolution's output, averaged over its elements (partition/dynamic_property.h). "
     << "Top-1 on " << test.size() << " test images: Static " << 100 * accuracy[0] << "%, DY-Conv "
     << 100 * accuracy[1] << "%, PAD-Net " << 100 * accuracy[2] << "%.\n\n"
     << table << "\n![parameter variance](padnet_property_parameters.png) ![output variance](padnet_property_outputs.png)\n\n"
     << "## Where this has the paper's shape and where not (layer means)\n\n"
     << "- DY-Conv's parameter variance above PAD-Net's (" << mean_param[1] << " vs " << mean_param[2]
     << "): " << verdict(mean_param[1] > mean_param[2]) << " the paper.\n"
     << "- Static's output variance above DY-Conv's (" << mean_out[0] << " vs " << mean_out[1]
     << "): " << verdict(mean_out[0] > mean_out[1]) << " the paper.\n"
     << "- PAD-Net's output variance above DY-Conv's (" << mean_out[2] << " vs " << mean_out[1]
     << "): " << verdict(mean_out[2] > mean_out[1]) << " the paper.\n";
  md.close();
  std::printf("results in %s/padnet_property.md, .csv and the two PNGs\n", flags.out_dir.c_str());

  if (!all_went_down) {
    std::printf("FAILED: the training loss of a run did not go down\n");
    return 1;
  }
  return 0;
}
