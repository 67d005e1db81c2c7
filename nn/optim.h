// Optimizers: SGD (momentum, dampening, Nesterov, weight decay), Adam (L2 weight decay added to the
// gradient) and AdamW (decoupled weight decay). Each follows PyTorch 1.13's single-tensor
// (non-foreach, non-amsgrad) update rules line by line, so its first steps match PyTorch's to
// rounding. Parameters come as plain tensors, in one or more groups that each carry their own
// hyperparameters (Options). step() skips parameters that have no gradient; updates run under
// NoGradGuard with in-place ops on preallocated buffers.
//
// State dicts (state_dict()/load_state_dict()) hold everything needed to resume bit-exactly. Keys,
// where i numbers the parameters of all groups in order (group 0 first) and g numbers the groups:
//   param_groups.{g}.params        i64 [n]  the indices i of the group's parameters
//   param_groups.{g}.{name}        f64 []   each hyperparameter: lr, weight_decay, momentum,
//                                           dampening (SGD); beta1, beta2, eps (Adam/AdamW)
//   param_groups.{g}.nesterov      bool []  (SGD)
//   state.{i}.momentum_buffer      like parameter i (SGD with momentum, after its first update)
//   state.{i}.step                 i64 []   updates applied to parameter i (Adam/AdamW)
//   state.{i}.exp_avg              like parameter i (Adam/AdamW)
//   state.{i}.exp_avg_sq           like parameter i (Adam/AdamW)
// A parameter that has never been updated has no state.{i} entries, as in PyTorch.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "nn/state_dict.h"

namespace dg::nn {

// ---------------------------------------------------------------- options

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2 penalty: weight_decay * param is added to the gradient
  bool nesterov = false;      // needs momentum > 0 and dampening == 0
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty, added to the gradient
};

// As AdamOptions; weight decay is decoupled (the parameter shrinks by lr * weight_decay each step)
// and defaults to 1e-2, as in PyTorch.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// Parameters that share hyperparameters.
template <class Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options;
};

// ---------------------------------------------------------------- the common interface

// What LR schedulers, training loops and checkpoints need from any optimizer.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient (set_to_none) or fills it with zeros.
  void zero_grad(bool set_to_none = true);

  virtual size_t num_param_groups() const = 0;
  virtual const std::vector<Tensor>& params(size_t group) const = 0;
  virtual double lr(size_t group) const = 0;
  virtual void set_lr(size_t group, double lr) = 0;

  // A copy of the optimizer's state and hyperparameters (keys in the header comment).
  virtual StateDict state_dict() const = 0;
  // Restores a state_dict() of an optimizer of the same kind over parameters of the same shapes,
  // grouped the same way. Everything is checked first: on error nothing has changed.
  virtual void load_state_dict(const StateDict& state) = 0;
};

// Scratch tensors shaped like a parameter, carved out of one growing buffer per slot and dtype, so
// that a step allocates no parameter-sized temporaries. A view stays valid until the next get() of
// the same slot and dtype.
class ScratchBuffers {
 public:
  static constexpr int kSlots = 2;
  Tensor get(int slot, const Tensor& like);

 private:
  std::array<std::array<Tensor, 4>, kSlots> buffers_;  // [slot][dtype]
};

// Groups, hyperparameters and per-parameter state of an optimizer whose groups hold `Options` and
// whose parameters each keep a `State`. Optimizers derive from it and implement step().
template <class Options, class State>
class OptimizerBase : public Optimizer {
 public:
  size_t num_param_groups() const override { return groups_.size(); }
  const std::vector<Tensor>& params(size_t group) const override;
  double lr(size_t group) const override { return options(group).lr; }
  void set_lr(size_t group, double lr) override;
  // The hyperparameters of a group, to read or change (checked at the next step()).
  Options& options(size_t group);
  const Options& options(size_t group) const;

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 protected:
  OptimizerBase(std::string name, std::vector<ParamGroup<Options>> groups);

  void check_group(size_t group) const;

  std::string name_;  // for error messages: "SGD", "Adam", "AdamW"
  std::vector<ParamGroup<Options>> groups_;
  std::vector<State> state_;  // one per parameter, numbered across groups
  ScratchBuffers scratch_;

  // Calls update(param, grad, state, options) for every parameter that has a gradient, under
  // NoGradGuard, after checking the hyperparameters and the gradient's shape and dtype.
  template <class Update>
  void for_each_update(Update&& update);
};

// ---------------------------------------------------------------- the optimizers

struct SGDState {
  Tensor momentum_buffer;  // undefined until the first update with momentum
};

// p <- p - lr * d, where d is the gradient plus weight_decay * p, passed through momentum:
// buf <- grad on the first step, else momentum * buf + (1 - dampening) * d; then d = buf, or
// d + momentum * buf with Nesterov.
class SGD final : public OptimizerBase<SGDOptions, SGDState> {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  explicit SGD(std::vector<ParamGroup<SGDOptions>> groups);
  void step() override;
};

struct AdamState {
  int64_t step = 0;
  Tensor exp_avg;     // first moment, m
  Tensor exp_avg_sq;  // second moment, v
};

// m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2,
// p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
// with g = grad + weight_decay * p.
class Adam final : public OptimizerBase<AdamOptions, AdamState> {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(std::vector<ParamGroup<AdamOptions>> groups);
  void step() override;
};

// Adam with decoupled weight decay: p <- p * (1 - lr * weight_decay) before the Adam update with
// g = grad.
class AdamW final : public OptimizerBase<AdamWOptions, AdamState> {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(std::vector<ParamGroup<AdamWOptions>> groups);
  void step() override;
};

}  // namespace dg::nn
