// SGD, Adam and AdamW (see optim.h), plus what they share: parameter groups, hyperparameter
// checks, scratch buffers, and state dicts. Each update mirrors PyTorch 1.13's _single_tensor_sgd /
// _single_tensor_adam / _single_tensor_adamw with the same order of floating-point operations
// (e.g. addcdiv's p + (value * m) / denom), written as in-place ops on the state buffers and on two
// scratch tensors, so a step allocates no parameter-sized temporaries.
#include "nn/optim.h"

#include <cmath>
#include <numeric>
#include <set>
#include <string_view>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::nn {

// ---------------------------------------------------------------- hyperparameters

namespace {

// Calls f(name, field) for every hyperparameter, with the names used in state dicts.
template <class F>
void for_each_hyperparameter(SGDOptions& o, F&& f) {
  f("lr", o.lr);
  f("momentum", o.momentum);
  f("dampening", o.dampening);
  f("weight_decay", o.weight_decay);
  f("nesterov", o.nesterov);
}

template <class AdamLike, class F>
void for_each_adam_hyperparameter(AdamLike& o, F&& f) {
  f("lr", o.lr);
  f("beta1", o.beta1);
  f("beta2", o.beta2);
  f("eps", o.eps);
  f("weight_decay", o.weight_decay);
}
template <class F>
void for_each_hyperparameter(AdamOptions& o, F&& f) { for_each_adam_hyperparameter(o, f); }
template <class F>
void for_each_hyperparameter(AdamWOptions& o, F&& f) { for_each_adam_hyperparameter(o, f); }

// The same ranges PyTorch's constructors check. NaN fails every check.
void validate(const SGDOptions& o, std::string_view who) {
  check(o.lr >= 0, "{}: invalid learning rate {}", who, o.lr);
  check(o.momentum >= 0, "{}: invalid momentum {}", who, o.momentum);
  check(o.weight_decay >= 0, "{}: invalid weight_decay {}", who, o.weight_decay);
  check(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
        "{}: Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum {}, "
        "dampening {})",
        who, o.momentum, o.dampening);
}

template <class AdamLike>
void validate_adam(const AdamLike& o, std::string_view who) {
  check(o.lr >= 0, "{}: invalid learning rate {}", who, o.lr);
  check(o.eps >= 0, "{}: invalid eps {}", who, o.eps);
  check(o.beta1 >= 0 && o.beta1 < 1, "{}: invalid beta1 {} (expected 0 <= beta1 < 1)", who, o.beta1);
  check(o.beta2 >= 0 && o.beta2 < 1, "{}: invalid beta2 {} (expected 0 <= beta2 < 1)", who, o.beta2);
  check(o.weight_decay >= 0, "{}: invalid weight_decay {}", who, o.weight_decay);
}
void validate(const AdamOptions& o, std::string_view who) { validate_adam(o, who); }
void validate(const AdamWOptions& o, std::string_view who) { validate_adam(o, who); }

// ---------------------------------------------------------------- reading state dicts

// Reads keys from a state dict, remembering which were used, so that finish() can reject the
// keys nobody asked for. Errors name the caller (`who`) and the key.
class StateDictReader {
 public:
  StateDictReader(const StateDict& dict, std::string who) : dict_(dict), who_(std::move(who)) {}

  bool has(const std::string& key) const { return dict_.count(key) != 0; }

  const Tensor& take(const std::string& key) {
    auto it = dict_.find(key);
    check(it != dict_.end() && it->second.defined(), "{}: missing key '{}'", who_, key);
    used_.insert(key);
    return it->second;
  }

  double scalar(const std::string& key) {
    const Tensor& t = take(key);
    check(t.numel() == 1, "{}: '{}' should hold one value, got shape {}", who_, key, t.shape());
    return t.item<double>();
  }

  // A fresh copy of `key`, converted to the dtype and device of `like`, whose shape it must have.
  Tensor tensor_like(const std::string& key, const Tensor& like) {
    const Tensor& t = take(key);
    check(t.shape() == like.shape(), "{}: '{}' has shape {} but its parameter has shape {}", who_,
          key, t.shape(), like.shape());
    check(t.dtype() != DType::b8, "{}: '{}' has dtype bool, expected a floating tensor", who_, key);
    Tensor copy = Tensor::empty(like.shape(), like.dtype(), like.device());
    copy.copy_(t.device() == like.device() ? t : t.contiguous().to(like.dtype()));
    return copy;
  }

  void finish() const {
    for (const auto& [key, value] : dict_)
      check(used_.count(key) != 0, "{}: unexpected key '{}' (is this the state of another kind of "
            "optimizer, or of differently grouped parameters?)", who_, key);
  }

  const std::string& who() const { return who_; }

 private:
  const StateDict& dict_;
  std::string who_;
  std::set<std::string> used_;
};

// ---------------------------------------------------------------- per-parameter state

void save_state(const SGDState& s, const std::string& prefix, StateDict& out) {
  if (s.momentum_buffer.defined()) out[prefix + "momentum_buffer"] = s.momentum_buffer.clone();
}

void load_state(StateDictReader& r, const std::string& prefix, const Tensor& param, SGDState& s) {
  if (r.has(prefix + "momentum_buffer"))
    s.momentum_buffer = r.tensor_like(prefix + "momentum_buffer", param);
}

void save_state(const AdamState& s, const std::string& prefix, StateDict& out) {
  if (s.step == 0) return;  // never updated: no state, as in PyTorch
  out[prefix + "step"] = scalar(static_cast<double>(s.step), DType::i64);
  out[prefix + "exp_avg"] = s.exp_avg.clone();
  out[prefix + "exp_avg_sq"] = s.exp_avg_sq.clone();
}

void load_state(StateDictReader& r, const std::string& prefix, const Tensor& param, AdamState& s) {
  if (!r.has(prefix + "step")) return;
  const double step = r.scalar(prefix + "step");
  check(step >= 1 && step == std::floor(step) && step < 9e15,
        "{}: '{}step' should be a positive whole number, got {}", r.who(), prefix, step);
  s.step = static_cast<int64_t>(step);
  s.exp_avg = r.tensor_like(prefix + "exp_avg", param);
  s.exp_avg_sq = r.tensor_like(prefix + "exp_avg_sq", param);
}

// y += alpha * x, as PyTorch's y.add_(x, alpha=alpha) rounds it without FMA: the product is
// formed in `tmp` (a scratch tensor that is neither x nor y) unless alpha is 1.
void add_scaled(Tensor& y, const Tensor& x, double alpha, Tensor tmp) {
  if (alpha == 1.0) {
    y.add_(x);
  } else {
    tmp.copy_(x);
    tmp.mul_(alpha);
    y.add_(tmp);
  }
}

}  // namespace

// ---------------------------------------------------------------- the common parts

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_param_groups(); ++g) {
    for (Tensor p : params(g)) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.zero_grad();
      } else if (grad.requires_grad()) {  // a gradient made with create_graph: cut it loose
        p.set_grad(zeros_like(grad));
      } else {
        grad.zero_();
      }
    }
  }
}

Tensor ScratchBuffers::get(int slot, const Tensor& like) {
  Tensor& buffer = buffers_.at(slot)[static_cast<int>(like.dtype())];
  if (!buffer.defined() || buffer.numel() < like.numel() || buffer.device() != like.device())
    buffer = Tensor::empty({like.numel()}, like.dtype(), like.device());
  return make_view(buffer, like.shape(), contiguous_strides(like.shape()), 0);
}

template <class Options, class State>
OptimizerBase<Options, State>::OptimizerBase(std::string name,
                                              std::vector<ParamGroup<Options>> groups)
    : name_(std::move(name)), groups_(std::move(groups)) {
  std::set<const TensorImpl*> seen;
  size_t count = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    validate(groups_[g].options, name_);
    for (size_t j = 0; j < groups_[g].params.size(); ++j) {
      const Tensor& p = groups_[g].params[j];
      check(p.defined(), "{}: parameter {} of group {} is an undefined tensor", name_, j, g);
      check(is_floating(p.dtype()), "{}: parameter {} of group {} has dtype {}; only floating "
            "tensors can be optimized", name_, j, g, p.dtype());
      check(p.is_leaf(), "{}: parameter {} of group {} (shape {}) is not a leaf; optimize the "
            "leaf tensors the model is computed from", name_, j, g, p.shape());
      check(seen.insert(p.impl()).second, "{}: parameter {} of group {} (shape {}) appears more "
            "than once in the parameter groups", name_, j, g, p.shape());
      ++count;
    }
  }
  check(count > 0, "{}: got an empty parameter list", name_);
  state_.resize(count);
}

template <class Options, class State>
void OptimizerBase<Options, State>::check_group(size_t group) const {
  check(group < groups_.size(), "{}: no parameter group {} (there are {})", name_, group,
        groups_.size());
}

template <class Options, class State>
const std::vector<Tensor>& OptimizerBase<Options, State>::params(size_t group) const {
  check_group(group);
  return groups_[group].params;
}

template <class Options, class State>
Options& OptimizerBase<Options, State>::options(size_t group) {
  check_group(group);
  return groups_[group].options;
}

template <class Options, class State>
const Options& OptimizerBase<Options, State>::options(size_t group) const {
  check_group(group);
  return groups_[group].options;
}

template <class Options, class State>
void OptimizerBase<Options, State>::set_lr(size_t group, double lr) {
  check(lr >= 0, "{}: invalid learning rate {}", name_, lr);
  options(group).lr = lr;
}

template <class Options, class State>
template <class Update>
void OptimizerBase<Options, State>::for_each_update(Update&& update) {
  // Check everything first, so that a bad gradient cannot leave the parameters half-updated.
  size_t i = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    validate(groups_[g].options, name_);
    for (const Tensor& p : groups_[g].params) {
      const Tensor grad = p.grad();
      if (grad.defined())  // (check's arguments are evaluated even when it passes)
        check(grad.shape() == p.shape() && grad.dtype() == p.dtype() &&
                  grad.device() == p.device(),
              "{}: parameter {} ({} {} on {}) has a gradient of shape {} and dtype {} on {}",
              name_, i, p.dtype(), p.shape(), p.device(), grad.shape(), grad.dtype(),
              grad.device());
      ++i;
    }
  }
  NoGradGuard no_grad;
  i = 0;
  for (ParamGroup<Options>& group : groups_) {
    for (Tensor p : group.params) {
      const Tensor grad = p.grad();
      if (grad.defined()) update(p, grad, state_[i], group.options);
      ++i;
    }
  }
}

template <class Options, class State>
StateDict OptimizerBase<Options, State>::state_dict() const {
  NoGradGuard no_grad;
  StateDict out;
  size_t first = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = fmt::format("param_groups.{}.", g);
    const size_t n = groups_[g].params.size();
    out[prefix + "params"] = arange(static_cast<double>(first), static_cast<double>(first + n));
    Options options = groups_[g].options;
    for_each_hyperparameter(options, [&](const char* name, auto& value) {
      const DType dtype = std::is_same_v<std::decay_t<decltype(value)>, bool> ? DType::b8
                                                                               : DType::f64;
      out[prefix + name] = scalar(static_cast<double>(value), dtype);
    });
    first += n;
  }
  for (size_t i = 0; i < state_.size(); ++i)
    save_state(state_[i], fmt::format("state.{}.", i), out);
  return out;
}

template <class Options, class State>
void OptimizerBase<Options, State>::load_state_dict(const StateDict& dict) {
  NoGradGuard no_grad;
  StateDictReader reader(dict, name_ + ".load_state_dict");
  size_t saved_groups = 0;
  while (reader.has(fmt::format("param_groups.{}.params", saved_groups))) ++saved_groups;
  check(saved_groups == groups_.size(),
        "{}: the state dict has {} parameter groups, this optimizer {}", reader.who(),
        saved_groups, groups_.size());

  // Read everything into new objects; commit only when all of it is valid.
  std::vector<Options> options(groups_.size());
  std::vector<State> state(state_.size());
  size_t first = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = fmt::format("param_groups.{}.", g);
    const size_t n = groups_[g].params.size();
    const Tensor& indices = reader.take(prefix + "params");
    std::vector<int64_t> expected_indices(n);
    std::iota(expected_indices.begin(), expected_indices.end(), static_cast<int64_t>(first));
    if (indices.dim() != 1 || indices.dtype() != DType::i64 ||
        indices.to_vector<int64_t>() != expected_indices)
      fail("{}: group {} should hold parameters [{}, {}) (its {} parameters), the state dict "
           "lists {}", reader.who(), g, first, first + n, n, indices.to_string());
    options[g] = groups_[g].options;
    for_each_hyperparameter(options[g], [&](const char* name, auto& value) {
      value = static_cast<std::decay_t<decltype(value)>>(reader.scalar(prefix + name));
    });
    validate(options[g], reader.who());
    for (size_t j = 0; j < n; ++j)
      load_state(reader, fmt::format("state.{}.", first + j), groups_[g].params[j],
                 state[first + j]);
    first += n;
  }
  reader.finish();
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = options[g];
  state_ = std::move(state);
}

// ---------------------------------------------------------------- SGD

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(std::vector<ParamGroup<SGDOptions>>{{std::move(params), options}}) {}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups) : OptimizerBase("SGD", std::move(groups)) {}

void SGD::step() {
  for_each_update([this](Tensor& p, const Tensor& grad, SGDState& state, const SGDOptions& o) {
    // d: the direction the parameter moves in. It starts as the gradient and may move into a
    // scratch tensor, which is then ours to overwrite.
    Tensor d = grad;
    bool d_is_scratch = false;
    if (o.weight_decay != 0) {  // d = grad + weight_decay * p
      d = scratch_.get(0, p);
      d_is_scratch = true;
      d.copy_(p);
      d.mul_(o.weight_decay);
      d.add_(grad);
    }
    if (o.momentum != 0) {
      Tensor& buf = state.momentum_buffer;
      if (!buf.defined()) {
        buf = d.clone();  // the first step copies d: no momentum or dampening applied yet
      } else {
        buf.mul_(o.momentum);
        add_scaled(buf, d, 1 - o.dampening, scratch_.get(1, p));
      }
      if (o.nesterov) {  // d = d + momentum * buf
        Tensor look_ahead = scratch_.get(1, p);
        look_ahead.copy_(buf);
        look_ahead.mul_(o.momentum);
        look_ahead.add_(d);
        d = look_ahead;
        d_is_scratch = true;
      } else {
        d = buf;
        d_is_scratch = false;
      }
    }
    // p -= lr * d
    if (d_is_scratch) {
      d.mul_(-o.lr);
      p.add_(d);
    } else {
      add_scaled(p, d, -o.lr, scratch_.get(0, p));
    }
  });
}

// ---------------------------------------------------------------- Adam and AdamW

namespace {

// One Adam update of p. With decoupled weight decay (AdamW) p shrinks first; otherwise (Adam) the
// L2 term joins the gradient.
template <class AdamLike>
void adam_update(Tensor& p, Tensor grad, AdamState& state, const AdamLike& o, bool decoupled,
                 ScratchBuffers& scratch) {
  state.step += 1;
  if (decoupled) {
    if (o.weight_decay != 0) p.mul_(1 - o.lr * o.weight_decay);
  } else if (o.weight_decay != 0) {  // grad = grad + weight_decay * p
    Tensor g = scratch.get(0, p);
    g.copy_(p);
    g.mul_(o.weight_decay);
    g.add_(grad);
    grad = g;
  }
  if (!state.exp_avg.defined()) {
    state.exp_avg = zeros_like(p);
    state.exp_avg_sq = zeros_like(p);
  }
  // Python floats in PyTorch: double precision, and beta ** step is pow(double, double).
  const double t = static_cast<double>(state.step);
  AdamStep step;
  step.beta1 = o.beta1;
  step.beta2 = o.beta2;
  step.eps = o.eps;
  step.step_size = o.lr / (1 - std::pow(o.beta1, t));
  step.bias_correction2_sqrt = std::sqrt(1 - std::pow(o.beta2, t));
  // m = beta1 m + (1 - beta1) grad; v = beta2 v + (1 - beta2) grad grad (as addcmul_ rounds it);
  // p += -step_size m / (sqrt(v) / bias_correction2_sqrt + eps) (as addcdiv_ rounds it): one pass.
  adam_step_(p, grad, state.exp_avg, state.exp_avg_sq, step);
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::vector<ParamGroup<AdamOptions>>{{std::move(params), options}}) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups)
    : OptimizerBase("Adam", std::move(groups)) {}

void Adam::step() {
  for_each_update([this](Tensor& p, const Tensor& grad, AdamState& state, const AdamOptions& o) {
    adam_update(p, grad, state, o, /*decoupled=*/false, scratch_);
  });
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup<AdamWOptions>>{{std::move(params), options}}) {}

AdamW::AdamW(std::vector<ParamGroup<AdamWOptions>> groups)
    : OptimizerBase("AdamW", std::move(groups)) {}

void AdamW::step() {
  for_each_update([this](Tensor& p, const Tensor& grad, AdamState& state, const AdamWOptions& o) {
    adam_update(p, grad, state, o, /*decoupled=*/true, scratch_);
  });
}

template class OptimizerBase<SGDOptions, SGDState>;
template class OptimizerBase<AdamOptions, AdamState>;
template class OptimizerBase<AdamWOptions, AdamState>;

}  // namespace dg::nn
