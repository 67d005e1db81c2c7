// The two distributions a learned decision samples from, over tensors of independent decisions:
// Bernoulli (keep or skip: a Skip RNN's or Switchable Decision's binary gates) and Categorical
// (one of K choices along the last dim: LSTM-Jump's jump size, Skim-RNN's read/skim). Each is
// parameterised by logits, so log_prob and entropy are written in the numerically stable forms
// (log sigmoid as -softplus, log_softmax) and are differentiable in the logits: that is what a
// REINFORCE loss (dynamic/reinforce.h) differentiates. Samples and modes are decisions, not
// differentiable; sampling draws from a dg::Generator, so a seed fixes every decision.
#pragma once

#include "engine/random.h"
#include "engine/tensor.h"

namespace dg::dynamic {

// Independent Bernoulli decisions, one per element: P(value = 1) = sigmoid(logits).
class Bernoulli {
 public:
  // logits: f32 or f64, any shape.
  explicit Bernoulli(Tensor logits);
  // probs in [0, 1]; 0 and 1 are kept away from by 1e-7 (f32) / 1e-15 (f64) so the logits are finite.
  static Bernoulli from_probs(const Tensor& probs);

  const Tensor& logits() const { return logits_; }
  Tensor probs() const;                          // sigmoid(logits)
  Tensor sample(Generator& generator) const;     // 0/1 in the logits' dtype; no gradient
  Tensor mode() const;                           // 1 where probs > 0.5, else 0; no gradient
  // log P(value) = value * logits - softplus(logits), per element; value is 0/1 in the logits'
  // dtype (broadcast against the logits).
  Tensor log_prob(const Tensor& value) const;
  // -p log p - (1 - p) log(1 - p) = softplus(logits) - p * logits, per element.
  Tensor entropy() const;

 private:
  Tensor logits_;
};

// Categorical decisions over the last dim: P(value = k) = softmax(logits)[..., k].
class Categorical {
 public:
  // logits: f32 or f64 [..., K] with K >= 1; -inf marks an impossible choice (at least one per
  // row must be finite).
  explicit Categorical(Tensor logits);

  const Tensor& logits() const { return logits_; }
  int64_t num_choices() const;
  Tensor probs() const;      // softmax over the last dim
  Tensor log_probs() const;  // log_softmax over the last dim
  // i64 [...] (the logits' shape without its last dim), by inverting each row's CDF at one uniform
  // from the generator, rows in row-major order; no gradient.
  Tensor sample(Generator& generator) const;
  Tensor mode() const;  // argmax over the last dim (the first among ties), i64 [...]
  // log P(value), value i64 [...] of indices in [0, K).
  Tensor log_prob(const Tensor& value) const;
  // -sum_k p_k log p_k over the last dim (impossible choices contribute 0).
  Tensor entropy() const;

 private:
  Tensor logits_;
  Tensor log_probs_;
};

}  // namespace dg::dynamic
