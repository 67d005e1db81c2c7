// Ensemble exits on scripted sequences of head predictions: PABEE's patience counter and the
// accumulated votes of Sun et al.
#include <catch2/catch.hpp>

#include "dynamic/early_exit/ensemble_exit.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using dg::exit_test::signals;

namespace {
// Logits of `classes` classes whose argmax is `label`.
std::vector<double> voting_for(int64_t label, int64_t classes) {
  std::vector<double> z(static_cast<size_t>(classes), 0.0);
  z[static_cast<size_t>(label)] = 1.0;
  return z;
}

// Feeds one sample's scripted predictions exit by exit until the rule stops it; returns the exit
// it stopped at and its prediction.
std::pair<int64_t, int64_t> run_script(ExitRule& rule, const std::vector<int64_t>& predictions) {
  rule.begin_batch(1);
  const std::vector<int64_t> sample{0};
  const auto exits = static_cast<int64_t>(predictions.size());
  for (int64_t i = 0; i < exits; ++i) {
    const std::vector<double> z = voting_for(predictions[static_cast<size_t>(i)], 3);
    const ExitDecision d = rule.decide(signals(i, exits, sample, z, 3));
    if (d.stop[0]) return {i, d.prediction[0]};
  }
  FAIL("the rule did not stop at the last exit");
  return {-1, -1};
}
}  // namespace

TEST_CASE("PABEE patience: t agreements in a row (t + 1 equal heads) stop a sample", "[early_exit][patience]") {
  PatienceExit two(2);
  // 0 1 1 1 ...: exit 1 starts the run (counter 0), exit 2 agrees (1), exit 3 agrees (2) -> stop at 3.
  CHECK(run_script(two, {0, 1, 1, 1, 2, 2}) == std::pair<int64_t, int64_t>{3, 1});
  // A change resets the counter: 0 0 1 1 1 -> counter 0 1 0 1 2 -> stop at exit 4.
  CHECK(run_script(two, {0, 0, 1, 1, 1, 2}) == std::pair<int64_t, int64_t>{4, 1});
  // Never two agreements in a row: the last exit decides, with the last head's prediction.
  CHECK(run_script(two, {0, 1, 0, 1, 0, 2}) == std::pair<int64_t, int64_t>{5, 2});
  // Patience 0 stops at the first exit; patience 1 at the first agreement.
  PatienceExit zero(0), one(1);
  CHECK(run_script(zero, {2, 1, 1}) == std::pair<int64_t, int64_t>{0, 2});
  CHECK(run_script(one, {2, 1, 1}) == std::pair<int64_t, int64_t>{2, 1});
  CHECK_THROWS_AS(PatienceExit(-1), Error);
  CHECK_THROWS_AS(two.set_threshold(1.5), Error);
}

TEST_CASE("PABEE patience keeps one counter per sample of the batch across compacted rows", "[early_exit][patience]") {
  PatienceExit rule(1);
  rule.begin_batch(3);
  // Exit 0: samples 0, 1, 2 predict 0, 1, 2.
  const std::vector<int64_t> all{0, 1, 2};
  std::vector<double> z0;
  for (const int64_t c : {0, 1, 2}) for (double v : voting_for(c, 3)) z0.push_back(v);
  CHECK(rule.decide(signals(0, 4, all, z0, 3)).stop == std::vector<bool>{false, false, false});
  // Exit 1 sees only samples 2 and 0 (in that row order): 2 agrees with itself, 0 changes to 1.
  const std::vector<int64_t> rows{2, 0};
  std::vector<double> z1;
  for (const int64_t c : {2, 1}) for (double v : voting_for(c, 3)) z1.push_back(v);
  const ExitDecision d = rule.decide(signals(1, 4, rows, z1, 3));
  CHECK(d.stop == std::vector<bool>{true, false});
  CHECK(d.prediction == std::vector<int64_t>{2, 1});
  CHECK(rule.counter(2) == 1);
  CHECK(rule.counter(0) == 0);
  CHECK(rule.counter(1) == 0);  // untouched: sample 1 was not among the rows
}

TEST_CASE("voting stops when a class has more than theta votes and predicts the most-voted class",
          "[early_exit][voting]") {
  VotingExit rule(2);  // more than 2 votes: 3 needed
  // Votes 0, 1, 0, 1, 0: class 0 reaches 3 at exit 4.
  CHECK(run_script(rule, {0, 1, 0, 1, 0, 1}) == std::pair<int64_t, int64_t>{4, 0});
  // 1 1 1: stop at exit 2 with class 1.
  CHECK(run_script(rule, {1, 1, 1, 0}) == std::pair<int64_t, int64_t>{2, 1});
  // Never 3 votes in 4 exits: the last exit decides by the vote, not by the last head: votes
  // 2, 0, 2, 0 -> class 2 (two votes) vs class 0 (two votes): tie, the most recent vote wins (0).
  CHECK(run_script(rule, {2, 0, 2, 0}) == std::pair<int64_t, int64_t>{3, 0});
  // 2 2 1 0 -> class 2 leads with two votes; the last head says 0 but the vote says 2.
  CHECK(run_script(rule, {2, 2, 1, 0}) == std::pair<int64_t, int64_t>{3, 2});
  VotingExit first(0);  // one vote is more than 0
  CHECK(run_script(first, {1, 2}) == std::pair<int64_t, int64_t>{0, 1});
}
