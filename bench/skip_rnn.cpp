// What a Skip RNN saves when its skipped steps are not computed (issue: "Speed"): at batch 64, one
// process times, alternating round by round (bench/timing.h),
//   lstm        the plain nn::LSTM over the sequence,
//   skip_all    a SkipRNN whose gate is forced open (every step updates: the machinery's overhead),
//   skip_20     a SkipRNN whose gate updates on about 20% of the steps, each sample at its own steps
//               (the gate's bias sets the rate, small random weights stagger the samples), so a step
//               runs the cell on the compacted rows that update,
// in inference (no graph) and in training (forward + backward of the sum of the final h). Each row
// prints the median ms per call, the measured FLOPs per call, the fraction of updates and the
// ratio to the plain LSTM. The goal: skip_20 at most 0.35x the plain LSTM's time.
//
// Usage: bench_skip_rnn [--budget seconds per row] [--threads T] [--hidden H] [--length T]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "dynamic/skip_rnn.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/cpu/parallel.h"
#include "nn/rnn.h"

using namespace dg;

namespace {

void set_gate(dynamic::SkipRNN& rnn, double weight_scale, double bias, Generator& g) {
  NoGradGuard no_grad;
  rnn.gate->weight.copy_(randn(rnn.gate->weight.shape(), g) * weight_scale);
  rnn.gate->bias.fill_(bias);
}

}  // namespace

int main(int argc, char** argv) {
  double budget = 3.0;
  int64_t hidden = 256, length = 100, input = 32, batch = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--budget") budget = std::atof(argv[i + 1]);
    else if (arg == "--threads") set_num_threads(std::atoi(argv[i + 1]));
    else if (arg == "--hidden") hidden = std::atoll(argv[i + 1]);
    else if (arg == "--length") length = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--budget s] [--threads T] [--hidden H] [--length T]\n", argv[0]);
      return 2;
    }
  }
  Generator g(0);
  const Tensor x = randn({batch, length, input}, g);
  nn::LSTM lstm(input, hidden, {}, {.generator = &g});
  dynamic::SkipRNN all(input, hidden, {}, {.generator = &g});
  dynamic::SkipRNN some(input, hidden, {}, {.generator = &g});
  set_gate(all, 0.0, 50.0, g);
  // du~ near 0.11 updates every 5th step (u~ = 0.11, 0.22, 0.33, 0.44, 0.55); the random weights
  // move each sample's du~ a little, so the samples drift apart in phase.
  set_gate(some, 0.3 / std::sqrt(static_cast<double>(hidden)), std::log(0.11 / 0.89), g);

  std::printf("batch %lld, T %lld, input %lld, hidden %lld, %d threads, %.1f s per row\n",
              (long long)batch, (long long)length, (long long)input, (long long)hidden, num_threads(),
              budget);
  std::printf("%-10s %-6s %10s %12s %9s %8s\n", "mode", "model", "median ms", "MFLOP/call", "updates",
              "ratio");
  for (bool training : {false, true}) {
    double fraction[3] = {1, 1, 1};
    int64_t flops[3] = {0, 0, 0};
    const auto run = [&](int which) {
      FlopScope scope;
      if (training) {
        Tensor h;
        if (which == 0) h = lstm(x).final.h;
        else h = (which == 1 ? all : some)(x).h;
        sum(h).backward();
      } else {
        NoGradGuard no_grad;
        if (which == 0) {
          lstm(x);
        } else {
          const dynamic::SkipRNNOutput out = (which == 1 ? all : some)(x);
          fraction[which] = sum(out.updates).item<double>() / (batch * length);
        }
      }
      flops[which] = scope.count();
    };
    const std::vector<bench::Timing> t = bench::time_alternating(
        {[&] { run(0); }, [&] { run(1); }, [&] { run(2); }}, budget);
    if (training) {  // the fractions of the inference pass hold (the same gates, inputs and weights)
      NoGradGuard no_grad;
      fraction[2] = sum(some(x).updates).item<double>() / (batch * length);
    }
    const char* names[3] = {"lstm", "skip_all", "skip_20"};
    for (int i = 0; i < 3; ++i)
      std::printf("%-10s %-6s %10.3f %12.2f %9.3f %8.3f\n", training ? "training" : "inference",
                  names[i], t[i].median * 1e3, flops[i] / 1e6, fraction[i], t[i].median / t[0].median);
  }
  return 0;
}
