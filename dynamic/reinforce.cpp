// REINFORCE losses and baselines: see reinforce.h.
#include "dynamic/reinforce.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

namespace {

void check_per_sample(std::string_view who, std::string_view name, const Tensor& t) {
  check(t.defined() && t.dim() == 1 && is_floating(t.dtype()),
        "{}: {} must be an f32 or f64 tensor [B], got {}", who, name,
        t.defined() ? t.shape() : Shape{});
}

}  // namespace

Tensor reinforce_loss(const Tensor& log_prob, const Tensor& reward, const Tensor& baseline) {
  constexpr std::string_view who = "reinforce_loss";
  check_per_sample(who, "log_prob", log_prob);
  check_per_sample(who, "reward", reward);
  check(reward.shape() == log_prob.shape() && reward.dtype() == log_prob.dtype(),
        "{}: reward {} {} does not match log_prob {} {}", who, reward.shape(), reward.dtype(),
        log_prob.shape(), log_prob.dtype());
  Tensor advantage = reward.detach();
  if (baseline.defined()) {
    check((baseline.dim() == 0 || baseline.shape() == log_prob.shape()) &&
              baseline.dtype() == log_prob.dtype(),
          "{}: baseline must be 0-dim or {} with dtype {}, got {} {}", who, log_prob.shape(),
          log_prob.dtype(), baseline.shape(), baseline.dtype());
    advantage = advantage - baseline.detach();
  }
  return -mean(advantage * log_prob);
}

// ---------------------------------------------------------------- MovingAverageBaseline

MovingAverageBaseline::MovingAverageBaseline(double decay) : decay(decay) {
  check(decay >= 0.0 && decay < 1.0, "MovingAverageBaseline: decay must be in [0, 1), got {}",
        decay);
}

Tensor MovingAverageBaseline::as_tensor(const Tensor& like) const {
  return scalar(value_, like.dtype(), like.device());
}

void MovingAverageBaseline::update(const Tensor& reward) {
  check(reward.defined() && reward.numel() > 0,
        "MovingAverageBaseline::update: expected a non-empty reward tensor");
  const double batch_mean = mean(reward.detach()).item<double>();
  value_ = started_ ? decay * value_ + (1.0 - decay) * batch_mean : batch_mean;
  started_ = true;
}

// ---------------------------------------------------------------- LearnedBaseline

LearnedBaseline::LearnedBaseline(int64_t state_size, const nn::ParamOptions& param) {
  value = register_module("value", std::make_shared<nn::Linear>(state_size, 1, true, param));
}

Tensor LearnedBaseline::forward(const Tensor& state) {
  check(state.defined() && state.dim() == 2 && state.shape()[1] == value->in_features,
        "LearnedBaseline: expected a state [B, {}], got {}", value->in_features,
        state.defined() ? state.shape() : Shape{});
  return squeeze(value->forward(state.detach()), 1);
}

Tensor LearnedBaseline::loss(const Tensor& prediction, const Tensor& reward) {
  check_per_sample("LearnedBaseline::loss", "prediction", prediction);
  check(reward.defined() && reward.shape() == prediction.shape(),
        "LearnedBaseline::loss: reward {} does not match prediction {}",
        reward.defined() ? reward.shape() : Shape{}, prediction.shape());
  return mse_loss(prediction, reward.detach());
}

// ---------------------------------------------------------------- self-critical

Tensor self_critical_advantage(const Tensor& sampled_reward, const Tensor& greedy_reward) {
  check_per_sample("self_critical_advantage", "sampled_reward", sampled_reward);
  check(greedy_reward.defined() && greedy_reward.shape() == sampled_reward.shape() &&
            greedy_reward.dtype() == sampled_reward.dtype(),
        "self_critical_advantage: greedy_reward must match sampled_reward {} {}",
        sampled_reward.shape(), sampled_reward.dtype());
  return sampled_reward.detach() - greedy_reward.detach();
}

}  // namespace dg::dynamic
