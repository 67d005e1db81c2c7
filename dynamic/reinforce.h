// REINFORCE (Williams 1992): the policy gradient of a non-differentiable reward through sampled
// decisions, grad E[R] = E[(R - b) grad log pi(a)], as a surrogate loss whose gradient is the
// estimate. A baseline b that does not depend on the sampled decision leaves the estimate
// unbiased and (chosen well) lowers its variance; three are here:
//   - a moving average of past rewards (the simplest; no parameters),
//   - a learned value b(s) = w^T s + c, fitted to the reward by MSE (LSTM-Jump, ReasoNet),
//   - self-critical (Rennie et al. 2017): the reward the greedy decisions would have earned on the
//     same input (Switchable Decision).
// The distributions that give log pi are in dynamic/distributions.h.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace dg::dynamic {

// The surrogate -mean_b (reward_b - baseline_b) * log_prob_b. log_prob [B] (the sum of a sample's
// decisions' log-probabilities), reward [B]; baseline [B], a 0-dim tensor or undefined (none).
// Reward and baseline are constants here (detached): only log_prob carries a gradient.
Tensor reinforce_loss(const Tensor& log_prob, const Tensor& reward, const Tensor& baseline = Tensor());

// An exponential moving average of the batch-mean reward: value <- decay * value + (1 - decay) *
// mean(reward); the first update sets it to the first batch's mean.
class MovingAverageBaseline {
 public:
  explicit MovingAverageBaseline(double decay = 0.9);
  // The baseline before any update is 0.
  double value() const { return value_; }
  // A 0-dim tensor of `like`'s dtype holding value(), to pass to reinforce_loss.
  Tensor as_tensor(const Tensor& like) const;
  void update(const Tensor& reward);

  const double decay;

 private:
  double value_ = 0.0;
  bool started_ = false;
};

// A learned value baseline b(s) = w^T s + c on a detached state s [B, state_size] (the baseline's
// loss must not move the policy's features). Train it with loss(); pass forward()'s result to
// reinforce_loss (which detaches it).
class LearnedBaseline : public nn::Module {
 public:
  explicit LearnedBaseline(int64_t state_size, const nn::ParamOptions& param = {});

  Tensor forward(const Tensor& state);  // [B]
  Tensor operator()(const Tensor& state) { return forward(state); }
  // mean((prediction - reward)^2), the reward detached.
  static Tensor loss(const Tensor& prediction, const Tensor& reward);

  std::string type_name() const override { return "LearnedBaseline"; }

  std::shared_ptr<nn::Linear> value;
};

// Self-critical advantage: sampled_reward - greedy_reward, both [B], detached.
Tensor self_critical_advantage(const Tensor& sampled_reward, const Tensor& greedy_reward);

}  // namespace dg::dynamic
