// Layer-level cost of dynamic convolution and of PAD-Net (issue: "Speed (benchmark)").
//
// For a few convolution shapes taken from the project's models, one process times, alternating
// the competitors round by round (bench/timing.h):
//   training   forward + backward (loss = sum of the output; the input requires grad, as a layer
//              inside a network does) of a static nn::Conv2d, a DynamicConv2d (DY-Conv, K = 4) and
//              a PartiallyDynamicConv2d around the same DY-Conv with a random mode mask at
//              kappa = 30% (PAD-Net while it trains: all K kernels and the static kernel are kept);
//   inference  eval mode without gradients at batch 1 and at batch 64: the same three, plus the
//              compacted PAD-Net layer (partition/compaction.h) that stores and mixes only the
//              dynamic positions.
// Each row prints the median ms per call, the engine's measured FLOPs per call (FlopScope) and the
// ratio to the row's reference: static for training, DY-Conv for inference. The figures and the
// command are recorded in docs/performance.md ("Dynamic convolution layers").
//
// Usage: bench_dynamic_layers [--only name1,name2] [--budget seconds per table row] [--threads T]
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "dynamic/dyconv.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/cpu/parallel.h"
#include "engine/random.h"
#include "nn/conv.h"
#include "partition/compaction.h"
#include "partition/mode_partition.h"
#include "partition/partially_dynamic_conv.h"

using namespace dg;

namespace {

struct LayerShape {
  std::string name, source;
  int64_t in_channels, out_channels, groups, spatial;  // 3x3 kernels, stride 1, padding 1
};

// The second convolution of the dyconv workload, a ResNet stage-3 convolution and a MobileNetV2
// depthwise convolution, at the sizes they have in the models (28x28 inputs).
const std::vector<LayerShape>& layer_shapes() {
  static const std::vector<LayerShape> all = {
      {"cnn_conv2", "bench dyconv workload, conv 2", 32, 64, 1, 14},
      {"resnet_stage3", "SmallResNet layer3 conv", 64, 64, 1, 7},
      {"mobilenet_dw", "SmallMobileNetV2 depthwise conv", 96, 96, 96, 14},
  };
  return all;
}

constexpr double kDynamicRatio = 0.3;

struct Layers {
  std::shared_ptr<nn::Conv2d> static_conv;
  std::shared_ptr<dynamic::DynamicConv2d> dyconv;
  std::shared_ptr<partition::PartiallyDynamicConv2d> padnet;
  std::shared_ptr<partition::CompactPartiallyDynamicConv2d> compact;
};

Layers make_layers(const LayerShape& s) {
  const Conv2dOptions geometry{.padding = {1, 1}, .groups = s.groups};
  Layers l;
  l.static_conv = std::make_shared<nn::Conv2d>(s.in_channels, s.out_channels, 3, geometry, false);
  l.dyconv = std::make_shared<dynamic::DynamicConv2d>(s.in_channels, s.out_channels, 3, geometry, false);
  l.padnet = std::make_shared<partition::PartiallyDynamicConv2d>(
      std::make_shared<dynamic::DynamicConv2d>(s.in_channels, s.out_channels, 3, geometry, false));
  partition::random_partition(*l.padnet, kDynamicRatio, /*seed=*/0);
  l.compact = std::make_shared<partition::CompactPartiallyDynamicConv2d>(*l.padnet);
  return l;
}

struct Competitor {
  std::string label;
  std::function<void()> call;
};

// Times the competitors against each other and prints one line each; the first is the reference.
void print_rows(const std::string& title, const std::vector<Competitor>& competitors, double budget_s) {
  std::vector<int64_t> flops;
  std::vector<std::function<void()>> calls;
  for (const auto& c : competitors) {
    FlopScope scope;
    c.call();
    flops.push_back(scope.count());
    calls.push_back(c.call);
  }
  const auto t = bench::time_alternating(calls, budget_s);
  fmt::print("  {}\n", title);
  for (size_t i = 0; i < competitors.size(); ++i)
    fmt::print("    {:<22} {:>10.3f} ms {:>10.2f} MFLOP {:>8.2f}x {}\n", competitors[i].label,
               1e3 * t[i].median, flops[i] * 1e-6, t[i].median / t[0].median,
               i == 0 ? "(reference)" : "");
}

std::function<void()> train_call(std::shared_ptr<nn::UnaryModule> layer, const Tensor& x) {
  return [layer, x = Tensor(x)]() mutable {
    layer->zero_grad();
    x.zero_grad();
    sum(layer->forward(x)).backward();
  };
}

std::function<void()> infer_call(std::shared_ptr<nn::UnaryModule> layer, const Tensor& x) {
  return [layer, x] {
    NoGradGuard no_grad;
    layer->forward(x);
  };
}

void bench_layer(const LayerShape& s, double budget_s) {
  manual_seed(0);
  Layers l = make_layers(s);
  fmt::print("{}: {} -> {}, 3x3, groups {}, {}x{} input ({}); PAD-Net kappa = {:.0f}%, dynamic "
             "positions {} of {}\n",
             s.name, s.in_channels, s.out_channels, s.groups, s.spatial, s.spatial, s.source,
             100 * kDynamicRatio, l.compact->dynamic_elements(), l.compact->kernel_elements());

  Tensor x_train = randn({64, s.in_channels, s.spatial, s.spatial});
  x_train.set_requires_grad(true);
  for (auto* m : std::initializer_list<nn::Module*>{l.static_conv.get(), l.dyconv.get(), l.padnet.get()})
    m->train();
  print_rows("training step (forward + backward), batch 64",
             {{"static conv", train_call(l.static_conv, x_train)},
              {"DY-Conv", train_call(l.dyconv, x_train)},
              {"PAD-Net (uncompacted)", train_call(l.padnet, x_train)}},
             budget_s);

  for (auto* m : std::initializer_list<nn::Module*>{l.static_conv.get(), l.dyconv.get(),
                                                     l.padnet.get(), l.compact.get()})
    m->eval();
  for (int64_t batch : {1, 64}) {
    const Tensor x = randn({batch, s.in_channels, s.spatial, s.spatial});
    print_rows(fmt::format("inference, batch {}", batch),
               {{"DY-Conv", infer_call(l.dyconv, x)},
                {"static conv", infer_call(l.static_conv, x)},
                {"PAD-Net (uncompacted)", infer_call(l.padnet, x)},
                {"PAD-Net (compacted)", infer_call(l.compact, x)}},
               budget_s);
  }
}

[[noreturn]] void usage(const char* argv0, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s [--only name1,name2] [--budget seconds per table] [--threads T]\n"
               "layers: cnn_conv2, resnet_stage3, mobilenet_dw\n",
               argv0);
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> only;
  double budget_s = 3.0;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string name; std::getline(list, name, ',');) only.insert(name);
    } else if (arg == "--budget" && i + 1 < argc) {
      budget_s = std::atof(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else {
      usage(argv[0], arg == "--help" || arg == "-h" ? 0 : 2);
    }
  }
  set_num_threads(threads);
  fmt::print("# dyngrad threads: {}; median ms per call over alternating rounds (~{} s per table)\n",
             num_threads(), budget_s);
  for (const auto& s : layer_shapes())
    if (only.empty() || only.count(s.name)) bench_layer(s, budget_s);
  return 0;
}
