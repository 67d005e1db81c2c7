// CascadeBERT's cascade: a sample answered by the small model never reaches the large one, and
// every answer is the answering model's own prediction.
#include <catch2/catch.hpp>

#include <algorithm>

#include "dynamic/early_exit/cascade.h"
#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using namespace dg::exit_test;

TEST_CASE("cascade: the small model answers confident samples, the large one the rest", "[early_exit][cascade]") {
  Generator init(31);
  auto small = small_transformer(init, 4, false, 2);
  auto large = small_transformer(init, 4, false, 4);
  const TokenBatch batch = token_batch(10, 9, 8);
  const double t_small = 0.5, t_large = 1.5;
  Tensor small_logits, large_logits;
  {
    NoGradGuard no_grad;
    small_logits = small->forward_all(batch.ids, batch.mask).back().logits;
    large_logits = large->forward_all(batch.ids, batch.mask).back().logits;
  }
  std::vector<double> confidence = amax(softmax(small_logits / t_small, 1), {1}).to_vector<double>();
  std::vector<double> sorted = confidence;
  std::sort(sorted.begin(), sorted.end());
  const double theta = (sorted[4] + sorted[5]) / 2;  // five samples above, five below

  const EarlyExitResult r = cascade({{small.get(), t_small}, {large.get(), t_large}}, theta, batch.ids, batch.mask);
  const auto small_pred = argmax(small_logits, 1).to_vector<int64_t>();
  const auto large_pred = argmax(large_logits, 1).to_vector<int64_t>();
  CHECK(r.rows_per_block == std::vector<int64_t>{10, 5});
  // What one sample costs in each model, alone.
  const EarlyExitResult alone_small = cascade({{small.get(), t_small}}, theta, narrow(batch.ids, 0, 0, 1), narrow(batch.mask, 0, 0, 1));
  const EarlyExitResult alone_large = cascade({{large.get(), t_large}}, theta, narrow(batch.ids, 0, 0, 1), narrow(batch.mask, 0, 0, 1));
  for (size_t s = 0; s < 10; ++s) {
    const bool easy = confidence[s] >= theta;
    CHECK(r.exit_index[s] == (easy ? 0 : 1));
    CHECK(r.prediction[s] == (easy ? small_pred[s] : large_pred[s]));
    CHECK(r.flops[s] == alone_small.flops[0] + (easy ? 0 : alone_large.flops[0]));
  }
  CHECK(r.block_flops[1] == 5 * alone_large.flops[0]);

  // theta above 1: everything goes to the largest model, which then equals running it alone.
  const EarlyExitResult all = cascade({{small.get(), t_small}, {large.get(), t_large}}, 1.1, batch.ids, batch.mask);
  CHECK(all.exit_index == std::vector<int64_t>(10, 1));
  CHECK(all.prediction == large_pred);
  CHECK(test::max_abs_diff(from_vector(all.exit_logits, {10, 4}), large_logits) < 1e-12);

  CHECK_THROWS_WITH(cascade({}, 0.5, batch.ids, batch.mask), Catch::Contains("no models"));
  auto other = small_transformer(init, 3, false, 2);
  CHECK_THROWS_WITH(cascade({{small.get(), 1.0}, {other.get(), 1.0}}, 0.5, batch.ids, batch.mask),
                    Catch::Contains("classes"));
}
