// Batched early exit with compaction: a threshold that never exits is the full model, one that
// always exits is the first head; at batch sizes 1, 7 and 64, with samples stopping at different
// exits, every rule gives the per-sample loop's predictions, exits, logits and FLOPs; and the FLOP
// counter shows that a stopped sample's later blocks cost exactly nothing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <memory>
#include <set>

#include "dynamic/early_exit/batched_exit.h"
#include "dynamic/early_exit/confidence_exit.h"
#include "dynamic/early_exit/ensemble_exit.h"
#include "dynamic/early_exit/learned_exit.h"
#include "engine/autograd.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using namespace dg::exit_test;

namespace {

struct Inputs {
  Tensor input, mask;
};

// Entropies at exit 0 of the batch, sorted: thresholds between them split the batch.
std::vector<double> first_exit_entropies(MultiExitModel& model, const Inputs& in) {
  NoGradGuard no_grad;
  ExitState s = model.run_block(0, model.begin(in.input, in.mask));
  const auto logits = model.run_exit(0, s).logits.to_vector<double>();
  const int64_t c = model.num_classes();
  std::vector<double> h;
  for (size_t r = 0; r * c < logits.size(); ++r)
    h.push_back(softmax_entropy(std::span<const double>(logits.data() + r * c, c)));
  std::sort(h.begin(), h.end());
  return h;
}

// Batched against the per-sample loop: the same predictions, exits, logits and per-sample FLOPs.
// With exact_flops false (a model with a per-call cost, like batch norm's per-channel scale in eval
// mode, which a batched step pays once for all its rows), a sample's batched FLOPs may be lower
// than alone, by less than 1%.
void check_matches_per_sample(MultiExitModel& model, ExitRule& rule, const Inputs& in,
                              bool exact_flops = true) {
  const EarlyExitResult batched = early_exit(model, rule, in.input, in.mask);
  const EarlyExitResult loop = early_exit_per_sample(model, rule, in.input, in.mask);
  INFO(rule.name() << " at batch " << in.input.size(0));
  CHECK(batched.prediction == loop.prediction);
  CHECK(batched.exit_index == loop.exit_index);
  CHECK(batched.rows_per_block == loop.rows_per_block);
  if (exact_flops) {
    CHECK(batched.flops == loop.flops);
    CHECK(batched.block_flops == loop.block_flops);
  } else {
    for (size_t s = 0; s < batched.flops.size(); ++s) {
      CHECK(batched.flops[s] <= loop.flops[s]);
      CHECK(batched.flops[s] > 0.99 * static_cast<double>(loop.flops[s]));
    }
  }
  double worst = 0;
  for (size_t k = 0; k < batched.exit_logits.size(); ++k)
    worst = std::max(worst, std::abs(batched.exit_logits[k] - loop.exit_logits[k]));
  CHECK(worst < 1e-10);
  for (const int64_t e : batched.exit_index) CHECK((e >= 0 && e < model.num_exits()));
}

}  // namespace

TEST_CASE("a threshold that never exits is the full model; one that always exits is the first head",
          "[early_exit][batched]") {
  Generator init(21);
  auto model = small_transformer(init, 5);
  const TokenBatch batch = token_batch(9, 10, 3);
  std::vector<ExitOutput> full;
  {
    NoGradGuard no_grad;
    full = model->forward_all(batch.ids, batch.mask);
  }
  EntropyExit never(0.0);  // no entropy is below 0
  const EarlyExitResult all = early_exit(*model, never, batch.ids, batch.mask);
  CHECK(all.exit_index == std::vector<int64_t>(9, 3));
  CHECK(all.prediction == argmax(full[3].logits, 1).to_vector<int64_t>());
  CHECK(test::max_abs_diff(from_vector(all.exit_logits, {9, 5}), full[3].logits) < 1e-12);
  CHECK(all.rows_per_block == std::vector<int64_t>{9, 9, 9, 9});

  EntropyExit always(std::numeric_limits<double>::infinity());
  const EarlyExitResult first = early_exit(*model, always, batch.ids, batch.mask);
  CHECK(first.exit_index == std::vector<int64_t>(9, 0));
  CHECK(first.prediction == argmax(full[0].logits, 1).to_vector<int64_t>());
  CHECK(test::max_abs_diff(from_vector(first.exit_logits, {9, 5}), full[0].logits) < 1e-12);
  CHECK(first.rows_per_block == std::vector<int64_t>{9, 0, 0, 0});
  CHECK(first.block_flops[1] == 0);
  CHECK(first.total_flops == first.block_flops[0]);
  CHECK(first.total_flops * 3 < all.total_flops);  // one block of four, plus the entry
}

TEST_CASE("batched early exit equals the per-sample loop at batch 1, 7 and 64 for every rule",
          "[early_exit][batched]") {
  Generator init(22);
  auto model = small_transformer(init, 4, /*lte=*/true);
  for (const int64_t b : {1, 7, 64}) {
    const TokenBatch batch = token_batch(b, 9, 100 + static_cast<uint64_t>(b));
    const Inputs in{batch.ids, batch.mask};
    const std::vector<double> h = first_exit_entropies(*model, in);
    const double median = b == 1 ? h[0] + 1e-6 : (h[h.size() / 2 - 1] + h[h.size() / 2]) / 2;

    EntropyExit entropy(median);
    NormalizedEntropyExit normalized(median / std::log(4.0));
    CalibratedMaxProbExit calibrated(0.3, {0.5, 0.7, 1.0, 1.3});
    PatienceExit patience(1);
    VotingExit voting(1);
    LearnedExit learned(0.5, model->exit_score());
    ScriptedExit scripted({0, 2, 1, 3, 0, 1, 3});
    for (ExitRule* rule : std::initializer_list<ExitRule*>{&entropy, &normalized, &calibrated, &patience,
                                                           &voting, &learned, &scripted})
      check_matches_per_sample(*model, *rule, in);

    // The scripted rule and the median entropy threshold really do mix exits in a batch.
    if (b >= 7) {
      const EarlyExitResult r = early_exit(*model, scripted, in.input, in.mask);
      CHECK(std::set<int64_t>(r.exit_index.begin(), r.exit_index.end()).size() == 4);
      const EarlyExitResult e = early_exit(*model, entropy, in.input, in.mask);
      const auto stopped_first = std::count(e.exit_index.begin(), e.exit_index.end(), 0);
      CHECK(stopped_first == b / 2);
    }
  }
}

TEST_CASE("BranchyNet CNN: batched early exit equals the per-sample loop", "[early_exit][batched]") {
  Generator init(23);
  MultiExitCnn model({.in_channels = 1, .classes = 3, .stages = {{4, true}, {6, false}, {8, true}}},
                     nn::ParamOptions{.generator = &init, .dtype = DType::f64});
  model.eval();
  for (const int64_t b : {1, 7, 64}) {
    const Inputs in{test::uniform_f64({b, 1, 8, 8}, 40 + static_cast<uint64_t>(b)), Tensor()};
    const std::vector<double> h = first_exit_entropies(model, in);
    EntropyExit entropy(h[h.size() / 2]);
    PatienceExit patience(1);
    ScriptedExit scripted({2, 0, 1});
    for (ExitRule* rule : std::initializer_list<ExitRule*>{&entropy, &patience, &scripted})
      check_matches_per_sample(model, *rule, in, /*exact_flops=*/false);
  }
}

TEST_CASE("the FLOP counter: a stopped sample's later blocks cost exactly nothing", "[early_exit][batched]") {
  Generator init(24);
  auto model = small_transformer(init, 3);
  const TokenBatch batch = token_batch(12, 8, 7);
  // What each step costs one sample, measured alone with a rule that never stops early.
  EntropyExit never(0.0);
  const EarlyExitResult one = early_exit(*model, never, narrow(batch.ids, 0, 0, 1), narrow(batch.mask, 0, 0, 1));
  const std::vector<int64_t>& step_cost = one.block_flops;  // for one row
  for (const int64_t c : step_cost) CHECK(c > 0);

  // Samples stop at exits 0, 1, 2, 3, 0, 1, ...: three samples per exit.
  ScriptedExit scripted({0, 1, 2, 3});
  const EarlyExitResult r = early_exit(*model, scripted, batch.ids, batch.mask);
  CHECK(r.rows_per_block == std::vector<int64_t>{12, 9, 6, 3});
  for (size_t i = 0; i < 4; ++i) CHECK(r.block_flops[i] == r.rows_per_block[i] * step_cost[i]);
  int64_t sum_of_blocks = 0;
  for (const int64_t f : r.block_flops) sum_of_blocks += f;
  CHECK(r.total_flops == sum_of_blocks);  // compaction itself executes no arithmetic
  for (int64_t s = 0; s < 12; ++s) {
    int64_t expected = 0;
    for (int64_t i = 0; i <= s % 4; ++i) expected += step_cost[static_cast<size_t>(i)];
    CHECK(r.exit_index[static_cast<size_t>(s)] == s % 4);
    CHECK(r.flops[static_cast<size_t>(s)] == expected);
  }
  // Against running everything: the saving is exactly the skipped steps.
  const EarlyExitResult full = early_exit(*model, never, batch.ids, batch.mask);
  CHECK(full.total_flops - r.total_flops ==
        3 * step_cost[1] + 6 * step_cost[2] + 9 * step_cost[3]);
}

TEST_CASE("early exit refuses bad input", "[early_exit][batched]") {
  Generator init(25);
  auto model = small_transformer(init, 3);
  EntropyExit rule(0.5);
  CHECK_THROWS_WITH(early_exit(*model, rule, zeros({0, 4}, DType::i64)), Catch::Contains("non-empty"));
  CHECK_THROWS_WITH(early_exit(*model, rule, zeros({2, 4}, DType::i64), ones({3, 4}, DType::b8)),
                    Catch::Contains("mask"));
  model->train();
  CHECK_THROWS_WITH(early_exit(*model, rule, zeros({2, 4}, DType::i64)), Catch::Contains("eval()"));
}
