// bench_early_exit: does batched early exit save wall time in proportion to the FLOPs it saves?
//
// At batch 64, for each exit rule, the threshold is set so that the rule saves about half the
// FLOPs of the full model (bisection for the continuous thresholds, the nearest whole value for
// patience and votes), and the early-exit run is timed against the never-exiting run of the same
// model, alternating (bench/timing.h). Reported: measured FLOP saving, wall-time saving, and their
// ratio (the goal: >= 0.8, i.e. the compacted batch really runs only the remaining rows).
// At batch 1: the time of one block, of one exit head, and of one rule's check on its logits; the
// check's share of a block (goal: < 3%).
//
// The models are the example's (examples/early_exit.cpp): a 6-layer pre-LN transformer (d 64,
// 4 heads, feed-forward 128) on 32-token inputs of varied length, and the 4-stage BranchyNet CNN on
// 28x28 images, with random weights (cost does not depend on what the weights learned).
//   build/bench/bench_early_exit [--budget SECONDS per timing] [--only transformer|cnn]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "dynamic/early_exit/batched_exit.h"
#include "dynamic/early_exit/confidence_exit.h"
#include "dynamic/early_exit/ensemble_exit.h"
#include "dynamic/early_exit/learned_exit.h"
#include "dynamic/early_exit/multi_exit_cnn.h"
#include "dynamic/early_exit/multi_exit_transformer.h"
#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"

using namespace dg;
using namespace dg::dynamic::early_exit;

namespace {

struct Workload {
  std::string name;
  std::shared_ptr<MultiExitModel> model;
  Tensor input, mask;  // batch 64
};

Workload transformer(Generator& gen) {
  auto model = std::make_shared<MultiExitTransformer>(
      MultiExitTransformerOptions{.vocab_size = 2000, .max_length = 32, .d_model = 64, .heads = 4,
                                  .layers = 6, .dim_feedforward = 128, .classes = 25,
                                  .learned_exit_score = true},
      nn::ParamOptions{.generator = &gen});
  model->eval();
  const int64_t b = 64, l = 32;
  std::vector<int64_t> ids(b * l, 0);
  std::vector<bool> mask(b * l, false);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t real = 8 + (i * 7) % 25;  // lengths 8..32
    for (int64_t t = 0; t < real; ++t) {
      ids[i * l + t] = 1 + (i * 131 + t * 17) % 1999;
      mask[i * l + t] = true;
    }
  }
  return {"transformer", model, from_vector(ids, {b, l}), from_vector(mask, {b, l})};
}

Workload cnn(Generator& gen) {
  auto model = std::make_shared<MultiExitCnn>(MultiExitCnnOptions{.learned_exit_score = true},
                                              nn::ParamOptions{.generator = &gen});
  model->eval();
  return {"cnn", model, randn({64, 1, 28, 28}, gen), Tensor()};
}

double flop_saving(Workload& w, ExitRule& rule, int64_t full) {
  const EarlyExitResult r = early_exit(*w.model, rule, w.input, w.mask);
  return 1.0 - static_cast<double>(r.total_flops) / static_cast<double>(full);
}

// Sets the rule's threshold for a FLOP saving near `target`: bisection on [lo, hi] where a larger
// threshold exits more when `rising`, or the best whole value in [lo, hi] when `whole`.
void tune(Workload& w, ExitRule& rule, int64_t full, double lo, double hi, bool rising, bool whole,
          double target = 0.5) {
  if (whole) {
    double best = lo, best_gap = 2;
    for (double t = lo; t <= hi; t += 1) {
      rule.set_threshold(t);
      const double gap = std::abs(flop_saving(w, rule, full) - target);
      if (gap < best_gap) best = t, best_gap = gap;
    }
    rule.set_threshold(best);
    return;
  }
  for (int i = 0; i < 20; ++i) {
    const double mid = 0.5 * (lo + hi);
    rule.set_threshold(mid);
    const bool too_few = flop_saving(w, rule, full) < target;
    if (too_few == rising) lo = mid; else hi = mid;
  }
  rule.set_threshold(0.5 * (lo + hi));
}

void batch64(Workload& w, double budget) {
  MultiExitModel& m = *w.model;
  const double log_c = std::log(static_cast<double>(m.num_classes()));
  const auto n = static_cast<double>(m.num_exits());
  EntropyExit never(0.0);
  const int64_t full = early_exit(m, never, w.input, w.mask).total_flops;
  EntropyExit entropy(0);
  NormalizedEntropyExit normalized(0);
  CalibratedMaxProbExit calibrated(1.0);
  PatienceExit patience(0);
  VotingExit voting(0);
  LearnedExit learned(1.0, m.exit_score());
  tune(w, entropy, full, 0, log_c, true, false);
  tune(w, normalized, full, 0, 1, true, false);
  tune(w, calibrated, full, 0, 1, false, false);
  tune(w, patience, full, 0, n - 1, false, true);
  tune(w, voting, full, 0, n, false, true);
  tune(w, learned, full, 0, 1, false, false);
  std::printf("%s, batch 64, %lld exits, full model %.2f MFLOP per sample\n", w.name.c_str(),
              (long long)m.num_exits(), static_cast<double>(full) / 64e6);
  std::printf("  %-19s %10s %8s %8s %9s %9s %7s\n", "rule", "threshold", "FLOPs-", "time-",
              "full ms", "rule ms", "ratio");
  for (ExitRule* rule : std::initializer_list<ExitRule*>{&entropy, &normalized, &calibrated,
                                                         &patience, &voting, &learned}) {
    const double saved_flops = flop_saving(w, *rule, full);
    const auto t = bench::time_alternating(
        {[&] { early_exit(m, never, w.input, w.mask); }, [&] { early_exit(m, *rule, w.input, w.mask); }},
        budget);
    const double saved_time = 1.0 - t[1].median / t[0].median;
    std::printf("  %-19s %10.4g %7.1f%% %7.1f%% %9.3f %9.3f %7.2f\n", rule->name().c_str(),
                rule->threshold(), 100 * saved_flops, 100 * saved_time, 1e3 * t[0].median,
                1e3 * t[1].median, saved_flops > 0 ? saved_time / saved_flops : 0.0);
  }
}

void batch1(Workload& w, double budget) {
  MultiExitModel& m = *w.model;
  NoGradGuard no_grad;
  const Tensor input = narrow(w.input, 0, 0, 1);
  const Tensor mask = w.mask.defined() ? narrow(w.mask, 0, 0, 1) : Tensor();
  ExitState state = m.begin(input, mask);
  for (int64_t i = 0; i < 2; ++i) state = m.run_block(i, state);  // the input of block 2
  const ExitState after = m.run_block(2, state);
  const ExitOutput out = m.run_exit(2, after);
  const std::vector<double> logits = out.logits.to_vector<double>();
  const std::vector<int64_t> sample{0};
  const ExitSignals signals{.exit_index = 2, .num_exits = m.num_exits(), .samples = sample,
                            .logits = logits, .classes = m.num_classes(), .features = out.features};
  EntropyExit entropy(0.1);
  NormalizedEntropyExit normalized(0.1);
  CalibratedMaxProbExit calibrated(0.9);
  PatienceExit patience(2);
  VotingExit voting(3);
  LearnedExit learned(0.9, m.exit_score());
  patience.begin_batch(1);
  voting.begin_batch(1);
  std::vector<std::function<void()>> jobs{
      [&] { m.run_block(2, state); },
      [&] { m.run_exit(2, after).logits.to_vector<double>(); }};
  std::vector<ExitRule*> rules{&entropy, &normalized, &calibrated, &patience, &voting, &learned};
  for (ExitRule* r : rules) jobs.push_back([&, r] { r->decide(signals); });
  const auto t = bench::time_alternating(jobs, budget);
  std::printf("%s, batch 1: block %.2f us, exit head (pool, head, logits read) %.2f us = %.1f%% of a block\n",
              w.name.c_str(), 1e6 * t[0].median, 1e6 * t[1].median, 100 * t[1].median / t[0].median);
  for (size_t i = 0; i < rules.size(); ++i)
    std::printf("  check %-19s %8.3f us = %5.2f%% of a block\n", rules[i]->name().c_str(),
                1e6 * t[i + 2].median, 100 * t[i + 2].median / t[0].median);
}

}  // namespace

int main(int argc, char** argv) {
  double budget = 2.0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--budget" && i + 1 < argc) budget = std::atof(argv[++i]);
    else if (arg == "--only" && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--budget SECONDS] [--only transformer|cnn]\n", argv[0]);
      return 2;
    }
  }
  Generator gen(0);
  std::vector<Workload> workloads;
  if (only.empty() || only == "transformer") workloads.push_back(transformer(gen));
  if (only.empty() || only == "cnn") workloads.push_back(cnn(gen));
  for (Workload& w : workloads) {
    batch64(w, budget);
    batch1(w, budget);
  }
  return 0;
}
