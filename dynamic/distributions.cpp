// Bernoulli and Categorical: see distributions.h. Everything differentiable is composed of engine
// ops (softplus, log_softmax, gather), so gradients come from those ops.
#include "dynamic/distributions.h"

#include <cmath>
#include <limits>
#include <vector>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

namespace {

void check_logits(std::string_view who, const Tensor& logits) {
  check(logits.defined(), "{}: undefined logits", who);
  check(is_floating(logits.dtype()), "{}: logits must be f32 or f64, got {} {}", who,
        logits.dtype(), logits.shape());
}

}  // namespace

// ---------------------------------------------------------------- Bernoulli

Bernoulli::Bernoulli(Tensor logits) : logits_(std::move(logits)) {
  check_logits("Bernoulli", logits_);
}

Bernoulli Bernoulli::from_probs(const Tensor& probs) {
  check_logits("Bernoulli::from_probs", probs);
  const double edge = probs.dtype() == DType::f64 ? 1e-15 : 1e-7;
  const Tensor p = clamp(probs, edge, 1.0 - edge);
  return Bernoulli(log(p) - log1p(-p));
}

Tensor Bernoulli::probs() const { return sigmoid(logits_); }

Tensor Bernoulli::sample(Generator& generator) const {
  NoGradGuard no_grad;
  return dg::bernoulli(sigmoid(logits_.detach()), generator);
}

Tensor Bernoulli::mode() const {
  NoGradGuard no_grad;
  return to_dtype(gt(logits_.detach(), 0.0), logits_.dtype());
}

Tensor Bernoulli::log_prob(const Tensor& value) const {
  check(value.defined() && value.dtype() == logits_.dtype(),
        "Bernoulli::log_prob: value must have the logits' dtype {}, got {} {}", logits_.dtype(),
        value.defined() ? value.dtype() : logits_.dtype(), value.defined() ? value.shape() : Shape{});
  return value * logits_ - softplus(logits_);
}

Tensor Bernoulli::entropy() const { return softplus(logits_) - sigmoid(logits_) * logits_; }

// ---------------------------------------------------------------- Categorical

Categorical::Categorical(Tensor logits) : logits_(std::move(logits)) {
  check_logits("Categorical", logits_);
  check(logits_.dim() >= 1 && logits_.shape()[logits_.dim() - 1] >= 1,
        "Categorical: logits must be [..., K] with K >= 1, got {}", logits_.shape());
  log_probs_ = log_softmax(logits_, -1);
}

int64_t Categorical::num_choices() const { return logits_.shape()[logits_.dim() - 1]; }

Tensor Categorical::probs() const { return exp(log_probs_); }

Tensor Categorical::log_probs() const { return log_probs_; }

Tensor Categorical::sample(Generator& generator) const {
  NoGradGuard no_grad;
  const int64_t K = num_choices();
  const std::vector<double> p = exp(log_probs_.detach()).to_vector<double>();
  const int64_t rows = static_cast<int64_t>(p.size()) / K;
  std::vector<int64_t> choice(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const double u = generator.next_double();
    double cdf = 0.0;
    int64_t k = 0, last_possible = 0;
    for (; k < K; ++k) {
      if (p[r * K + k] > 0.0) last_possible = k;
      cdf += p[r * K + k];
      if (u < cdf) break;
    }
    // Rounding can leave the total just under u: take the last choice that is possible.
    choice[r] = k < K ? k : last_possible;
  }
  Shape shape = logits_.shape();
  shape.pop_back();
  return from_vector(choice, shape);
}

Tensor Categorical::mode() const { return argmax(logits_.detach(), -1); }

Tensor Categorical::log_prob(const Tensor& value) const {
  Shape expected = logits_.shape();
  expected.pop_back();
  check(value.defined() && value.dtype() == DType::i64 && value.shape() == expected,
        "Categorical::log_prob: value must be i64 {} (logits {} without the last dim), got {} {}",
        expected, logits_.shape(), value.defined() ? value.dtype() : DType::i64,
        value.defined() ? value.shape() : Shape{});
  return squeeze(gather(log_probs_, -1, unsqueeze(value, -1)), -1);
}

Tensor Categorical::entropy() const {
  // An impossible choice has p = 0 and log p = -inf; clamping log p keeps 0 * log p at 0 (and its
  // gradient finite) without changing any finite term.
  const Tensor safe_log = clamp(log_probs_, std::numeric_limits<float>::lowest(), std::nullopt);
  return -sum(probs() * safe_log, {-1});
}

}  // namespace dg::dynamic
