// Helpers of the early-exit tests: ExitSignals from literal logits, small f64 multi-exit models
// with fixed inputs, and a scripted rule that stops each sample at an exit named in advance.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <numeric>
#include <vector>

#include "dynamic/early_exit/exit_rule.h"
#include "dynamic/early_exit/multi_exit_cnn.h"
#include "dynamic/early_exit/multi_exit_transformer.h"
#include "tests/engine/test_util.h"

namespace dg::exit_test {

using namespace dg::dynamic::early_exit;

// Signals for rows `samples` with logits row-major [rows, classes] (kept alive by the caller).
inline ExitSignals signals(int64_t exit_index, int64_t num_exits, const std::vector<int64_t>& samples,
                           const std::vector<double>& logits, int64_t classes) {
  return {.exit_index = exit_index,
          .num_exits = num_exits,
          .samples = samples,
          .logits = logits,
          .classes = classes,
          .features = Tensor()};
}

inline const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

// A 4-layer post-LN transformer, f64, eval mode, seeded.
inline std::shared_ptr<MultiExitTransformer> small_transformer(Generator& init, int64_t classes = 5,
                                                               bool lte = false, int64_t layers = 4) {
  auto model = std::make_shared<MultiExitTransformer>(
      MultiExitTransformerOptions{.vocab_size = 40,
                                  .max_length = 12,
                                  .d_model = 16,
                                  .heads = 2,
                                  .layers = layers,
                                  .dim_feedforward = 24,
                                  .classes = classes,
                                  .dropout = 0.0,
                                  .norm_first = false,
                                  .pooler_features = 8,
                                  .learned_exit_score = lte},
      nn::ParamOptions{.generator = &init, .dtype = DType::f64});
  model->eval();
  return model;
}

// Token ids [B, L] in [1, 40) and a mask with varied lengths (every sample has >= 2 real tokens).
struct TokenBatch {
  Tensor ids, mask;
};
inline TokenBatch token_batch(int64_t batch, int64_t length, uint64_t seed) {
  const std::vector<double> u = test::hashed_values(batch * (length + 1), seed, 0.0, 1.0);
  std::vector<int64_t> ids(static_cast<size_t>(batch * length));
  std::vector<bool> mask(static_cast<size_t>(batch * length));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t real = 2 + static_cast<int64_t>(u[static_cast<size_t>(batch * length + b)] * (length - 1));
    for (int64_t t = 0; t < length; ++t) {
      const bool is_real = t < std::min(real, length);
      mask[static_cast<size_t>(b * length + t)] = is_real;
      ids[static_cast<size_t>(b * length + t)] =
          is_real ? 1 + static_cast<int64_t>(u[static_cast<size_t>(b * length + t)] * 39) : 0;
    }
  }
  return {from_vector(ids, {batch, length}), from_vector(mask, {batch, length})};
}

// Stops sample s (its index in the batch it was given) at exit stop_at[s % stop_at.size()];
// predicts the row's argmax.
class ScriptedExit : public ExitRule {
 public:
  explicit ScriptedExit(std::vector<int64_t> stop_at) : stop_at_(std::move(stop_at)) {}
  std::string name() const override { return "scripted"; }
  double threshold() const override { return 0; }
  void set_threshold(double) override {}
  ExitDecision decide(const ExitSignals& s) override {
    ExitDecision d;
    for (int64_t r = 0; r < s.rows(); ++r) {
      const int64_t sample = s.samples[static_cast<size_t>(r)];
      d.stop.push_back(s.is_last() ||
                       stop_at_[static_cast<size_t>(sample) % stop_at_.size()] <= s.exit_index);
      d.prediction.push_back(argmax(s.row(r)));
    }
    return d;
  }

 private:
  std::vector<int64_t> stop_at_;
};

}  // namespace dg::exit_test
