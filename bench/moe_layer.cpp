// Layer-level cost of the mixture-of-experts layer (dynamic/moe/moe_layer.h) against its GEMM lower
// bound (issue 14, "Speed").
//
// For E in {8, 32, 64} and k in {1, 2, 4} at d 256, d_ff 1024 and 4096 tokens, one training step
// of the layer (forward, loss = sum of the output plus the auxiliary loss, backward) with a
// softmax top-k gate in dropless mode, and with capacity factors 1.0 and 1.25 at E = 8, k = 2.
// The lower bound is the routed tokens' multiply-adds of the step's six expert products (forward
// two, backward four: 6 * k * T * d * d_ff) at the machine's sgemm rate, measured in the same
// process on one dense [T, d] x [d, d_ff] product (the engine's matmul, which calls OpenBLAS on
// the engine's threads). Each row prints the median ms per step, the bound, their
// ratio and the measured FLOPs per token. Rows alternate with their bound's GEMM (bench/timing.h).
//
// Usage: bench_moe_layer [--budget seconds per row] [--threads T] [--tokens T] [--quick]
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "dynamic/moe/moe_layer.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/parallel.h"
#include "engine/random.h"

using namespace dg;
using namespace dg::dynamic;

namespace {

struct Row {
  int64_t experts, k;
  MoEMode mode;
  double capacity_factor;
};

std::string mode_name(const Row& r) {
  return r.mode == MoEMode::dropless ? "dropless" : fmt::format("capacity {:.2f}", r.capacity_factor);
}

}  // namespace

int main(int argc, char** argv) {
  double budget = 3.0;
  int64_t tokens = 4096;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--budget" && i + 1 < argc) budget = std::atof(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) set_num_threads(std::atoi(argv[++i]));
    else if (a == "--tokens" && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (a == "--quick") quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--budget s] [--threads T] [--tokens T] [--quick]\n", argv[0]);
      return 2;
    }
  }
  const int64_t d = 256, d_ff = 1024;
  std::vector<Row> rows;
  for (int64_t E : {8, 32, 64})
    for (int64_t k : {1, 2, 4}) rows.push_back({E, k, MoEMode::dropless, 0.0});
  rows.push_back({8, 2, MoEMode::capacity, 1.0});
  rows.push_back({8, 2, MoEMode::capacity, 1.25});
  if (quick) rows = {{8, 2, MoEMode::dropless, 0.0}, {8, 2, MoEMode::capacity, 1.0}};

  std::printf("# MoE layer training step, T %lld, d %lld, d_ff %lld, threads %d\n",
              static_cast<long long>(tokens), static_cast<long long>(d), static_cast<long long>(d_ff),
              num_threads());
  std::printf("%-6s %-3s %-14s %10s %10s %7s %14s %9s\n", "E", "k", "mode", "step_ms", "bound_ms",
              "ratio", "MFLOP/token", "dropped");
  for (const Row& r : rows) {
    Generator gen(1);
    auto gate = std::make_shared<SoftmaxTopKGate>(d, r.experts, r.k,
                                                  SoftmaxTopKOptions{.load_balancing_coefficient = 1e-2},
                                                  nn::ParamOptions{.generator = &gen});
    MoE layer(d, d_ff, gate, {.mode = r.mode, .capacity_factor = r.mode == MoEMode::capacity ? r.capacity_factor : 1.25,
                              .activation = ExpertActivation::relu},
              {.generator = &gen});
    const Tensor x = randn({tokens, d}, gen).set_requires_grad(true);
    auto step = [&] {
      layer.zero_grad();
      const Tensor out = layer(x);  // before aux_loss(), which reads this forward's losses
      Tensor loss = sum(out) + layer.aux_loss();
      loss.backward();
    };
    // The bound: one dense [T, d] x [d, d_ff] product, timed, scaled to the step's 6 k T d d_ff
    // multiply-adds.
    const int64_t rows_per_expert = tokens;
    const Tensor a = randn({rows_per_expert, d}, gen), b = randn({d, d_ff}, gen);
    auto gemm = [&] { NoGradGuard no_grad; (void)matmul(a, b); };
    FlopScope flops;
    step();
    const double flops_per_token = static_cast<double>(flops.count()) / static_cast<double>(tokens);
    const auto t = bench::time_alternating({step, gemm}, budget);
    const double gemm_rate = static_cast<double>(rows_per_expert * d * d_ff) / t[1].median;  // MAC/s
    const double bound = 6.0 * static_cast<double>(r.k * tokens * d * d_ff) / gemm_rate;
    std::printf("%-6lld %-3lld %-14s %10.2f %10.2f %7.2f %14.2f %9lld\n", static_cast<long long>(r.experts),
                static_cast<long long>(r.k), mode_name(r).c_str(), t[0].median * 1e3, bound * 1e3,
                t[0].median / bound, flops_per_token / 1e6,
                static_cast<long long>(layer.stats().dropped_slots));
    std::fflush(stdout);
  }
  return 0;
}
