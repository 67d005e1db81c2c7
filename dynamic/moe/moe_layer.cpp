// The mixture-of-experts layer (see moe_layer.h): gate, capacity, dispatch, grouped expert FFNs,
// weighted combine, statistics.
#include "dynamic/moe/moe_layer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dynamic/routing.h"
#include "nn/init.h"

namespace dg::dynamic {

namespace {

// Fills t with U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn::Linear's default for weights and biases.
void fan_in_uniform(Tensor& t, int64_t fan_in, Generator* generator) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  nn::init::uniform_(t, -bound, bound, generator);
}

bool has_nan(const Tensor& t) {
  if (!t.defined()) return false;
  for (double v : t.to_vector<double>())
    if (std::isnan(v)) return true;
  return false;
}

}  // namespace

std::vector<int64_t> apply_capacity(const std::vector<int64_t>& experts, const std::vector<double>& weights,
                                    int64_t tokens, int64_t slots, int64_t num_experts,
                                    int64_t capacity, DropPolicy policy) {
  std::vector<int64_t> kept = experts;
  if (policy == DropPolicy::by_position) {
    // Slot-major: every token's first choice, in token order, then every second choice, ...
    std::vector<int64_t> used(num_experts, 0);
    for (int64_t j = 0; j < slots; ++j)
      for (int64_t t = 0; t < tokens; ++t) {
        const int64_t i = t * slots + j, e = experts[i];
        if (e < 0) continue;
        if (used[e] < capacity) {
          ++used[e];
        } else {
          kept[i] = -1;
        }
      }
    return kept;
  }
  // By probability: each expert keeps its `capacity` highest-weight slots (ties: earlier slot).
  std::vector<std::vector<int64_t>> per_expert(num_experts);
  for (int64_t i = 0; i < tokens * slots; ++i)
    if (experts[i] >= 0) per_expert[experts[i]].push_back(i);
  for (auto& list : per_expert) {
    if (static_cast<int64_t>(list.size()) <= capacity) continue;
    std::stable_sort(list.begin(), list.end(), [&](int64_t a, int64_t b) { return weights[a] > weights[b]; });
    for (size_t r = capacity; r < list.size(); ++r) kept[list[r]] = -1;
  }
  return kept;
}

MoE::MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate_, const MoEOptions& moe,
         const nn::ParamOptions& param)
    : MoE(d_model, d_ff, std::move(gate_), true, moe, param) {}

MoE::MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate_, ExternalExperts,
         const MoEOptions& moe, const nn::ParamOptions& param)
    : MoE(d_model, d_ff, std::move(gate_), false, moe, param) {}

MoE::MoE(int64_t d_model, int64_t d_ff, std::shared_ptr<Gate> gate_, bool with_experts,
         const MoEOptions& moe, const nn::ParamOptions& param)
    : d_model(d_model), d_ff(d_ff), num_experts(gate_ ? gate_->num_experts() : 0), options(moe),
      gate(std::move(gate_)), dtype_(param.dtype) {
  const std::string& n = moe.name;
  check(gate != nullptr, "MoE '{}': no gate given", n);
  check(d_model > 0 && d_ff > 0, "MoE '{}': d_model and d_ff must be positive, got {} and {}", n,
        d_model, d_ff);
  check(gate->top_k() >= 1, "MoE '{}': k = {} (k >= 1)", n, gate->top_k());
  check(gate->top_k() <= num_experts, "MoE '{}': k = {} exceeds the number of experts E = {}", n,
        gate->top_k(), num_experts);
  check(moe.mode == MoEMode::dropless || moe.capacity_factor > 0.0,
        "MoE '{}': capacity factor must be positive, got {}", n, moe.capacity_factor);
  check(moe.shared_experts >= 0 && moe.shared_d_ff >= 0,
        "MoE '{}': shared_experts ({}) and shared_d_ff ({}) must not be negative", n,
        moe.shared_experts, moe.shared_d_ff);
  register_module("gate", gate);
  const int64_t E = num_experts;
  if (with_experts) {
    w1 = Tensor::empty({E, d_model, d_ff}, param.dtype);
    b1 = Tensor::empty({E, d_ff}, param.dtype);
    w2 = Tensor::empty({E, d_ff, d_model}, param.dtype);
    b2 = Tensor::empty({E, d_model}, param.dtype);
    fan_in_uniform(w1, d_model, param.generator);
    fan_in_uniform(b1, d_model, param.generator);
    fan_in_uniform(w2, d_ff, param.generator);
    fan_in_uniform(b2, d_ff, param.generator);
    w1 = register_parameter("w1", w1);
    b1 = register_parameter("b1", b1);
    w2 = register_parameter("w2", w2);
    b2 = register_parameter("b2", b2);
  }
  if (moe.shared_experts > 0) {
    const int64_t width = moe.shared_experts * (moe.shared_d_ff > 0 ? moe.shared_d_ff : d_ff);
    shared_fc1 = register_module("shared_fc1", std::make_shared<nn::Linear>(d_model, width, true, param));
    shared_fc2 = register_module("shared_fc2", std::make_shared<nn::Linear>(width, d_model, true, param));
  }
}

std::shared_ptr<MoE> MoE::upcycle(const nn::Linear& fc1, const nn::Linear& fc2,
                                  std::shared_ptr<Gate> gate, const MoEOptions& moe,
                                  double noise_std, const nn::ParamOptions& options) {
  check(fc2.in_features == fc1.out_features && fc2.out_features == fc1.in_features,
        "MoE::upcycle: fc1 [{}, {}] and fc2 [{}, {}] are not a d -> d_ff -> d FFN",
        fc1.out_features, fc1.in_features, fc2.out_features, fc2.in_features);
  nn::ParamOptions param = options;
  param.dtype = fc1.weight.dtype();
  auto layer = std::make_shared<MoE>(fc1.in_features, fc1.out_features, std::move(gate), moe, param);
  NoGradGuard no_grad;
  const int64_t E = layer->num_experts;
  auto copies = [E](const Tensor& t) { return expand(unsqueeze(t, 0), {E, -1, -1}); };
  layer->w1.copy_(copies(transpose(fc1.weight, 0, 1)));
  layer->w2.copy_(copies(transpose(fc2.weight, 0, 1)));
  layer->b1.copy_(fc1.bias.defined() ? expand(unsqueeze(fc1.bias, 0), {E, -1}) : zeros_like(layer->b1));
  layer->b2.copy_(fc2.bias.defined() ? expand(unsqueeze(fc2.bias, 0), {E, -1}) : zeros_like(layer->b2));
  if (noise_std > 0.0) {
    Generator& gen = options.generator ? *options.generator : default_generator();
    layer->w1.add_(randn(layer->w1.shape(), gen, layer->w1.dtype()) * noise_std);
    layer->w2.add_(randn(layer->w2.shape(), gen, layer->w2.dtype()) * noise_std);
  }
  return layer;
}

int64_t MoE::capacity(int64_t tokens) const {
  const double c = options.capacity_factor * static_cast<double>(tokens * gate->top_k()) /
                   static_cast<double>(num_experts);
  return static_cast<int64_t>(std::ceil(c - 1e-9));
}

Tensor MoE::expert_activation(const Tensor& h) const {
  switch (options.activation) {
    case ExpertActivation::relu: return relu(h);
    case ExpertActivation::gelu: return gelu(h);
    case ExpertActivation::silu: return silu(h);
    case ExpertActivation::tanh: return tanh(h);
  }
  return h;
}

Tensor MoE::forward(const Tensor& x, const Tensor& token_ids) {
  check(owns_experts(), "MoE '{}': this layer holds no expert weights (ExternalExperts); call forward_with",
        options.name);
  return forward_with(x, token_ids, expert_weights());
}

Tensor MoE::forward_with(const Tensor& x, const Tensor& token_ids, const ExpertWeights& experts) {
  const std::string& n = options.name;
  const int64_t E = num_experts;
  const auto fits = [&](const Tensor& t, const Shape& shape) {
    return t.defined() && t.shape() == shape && t.dtype() == dtype_;
  };
  check(fits(experts.w1, {E, d_model, d_ff}) && fits(experts.b1, {E, d_ff}) &&
            fits(experts.w2, {E, d_ff, d_model}) && fits(experts.b2, {E, d_model}),
        "MoE '{}': expert weights w1 {}, b1 {}, w2 {}, b2 {} do not fit [{}, {}, {}], [{}, {}], "
        "[{}, {}, {}], [{}, {}] in {}",
        n, experts.w1.defined() ? experts.w1.shape() : Shape{},
        experts.b1.defined() ? experts.b1.shape() : Shape{},
        experts.w2.defined() ? experts.w2.shape() : Shape{},
        experts.b2.defined() ? experts.b2.shape() : Shape{}, E, d_model, d_ff, E, d_ff, E, d_ff,
        d_model, E, d_model, dtype_);
  check(x.defined() && x.dim() >= 1 && x.shape().back() == d_model,
        "MoE '{}': input of shape {} is not a whole number of tokens of d_model = {} (expected "
        "[..., {}])",
        n, x.defined() ? x.shape() : Shape{}, d_model, d_model);
  check(x.dtype() == dtype_, "MoE '{}': input is {} but the layer's parameters are {}", n,
        x.dtype(), dtype_);
  const Tensor tokens = reshape(x, {-1, d_model});
  const int64_t T = tokens.shape()[0];
  if (token_ids.defined())
    check(token_ids.numel() == T, "MoE '{}': {} token ids for {} tokens", n, token_ids.numel(), T);
  const Tensor ids = token_ids.defined() ? reshape(token_ids, {T}) : Tensor();

  GateDecision decision = gate->route(tokens, ids);
  check(decision.experts.defined() && decision.weights.defined() &&
            decision.experts.dim() == 2 && decision.experts.shape()[0] == T &&
            decision.weights.shape() == decision.experts.shape(),
        "MoE '{}': the gate ({}) returned experts {} and weights {} for {} tokens", n,
        gate->type_name(), decision.experts.defined() ? decision.experts.shape() : Shape{},
        decision.weights.defined() ? decision.weights.shape() : Shape{}, T);
  check(!has_nan(decision.weights) && !has_nan(decision.probs),
        "MoE '{}': the gate ({}) returned NaN routing weights (check the input and the router's "
        "parameters)",
        n, gate->type_name());

  const int64_t slots = decision.experts.shape()[1];
  std::vector<int64_t> chosen = decision.experts.to_vector<int64_t>();
  std::vector<int64_t> kept = chosen;
  if (options.mode == MoEMode::capacity)
    kept = apply_capacity(chosen, decision.weights.to_vector<double>(), T, slots, num_experts,
                          capacity(T), options.drop_policy);

  const RoutingPlan plan(from_vector(kept, {T, slots}), num_experts);
  Tensor out;
  if (plan.routed() > 0) {
    const Tensor rows = dispatch(tokens, plan);
    const Tensor& experts_of_rows = plan.position_destinations();
    Tensor h = grouped_matmul(rows, experts.w1, plan.group_sizes()) +
               index_select(experts.b1, 0, experts_of_rows);
    h = expert_activation(h);
    const Tensor y = grouped_matmul(h, experts.w2, plan.group_sizes()) +
                     index_select(experts.b2, 0, experts_of_rows);
    out = combine(y, plan, decision.weights);
  } else {
    out = zeros({T, d_model}, x.dtype());
  }
  if (shared_fc1) out = out + shared_fc2->forward(expert_activation(shared_fc1->forward(tokens)));

  // ---- statistics
  MoEStats s;
  s.tokens = T;
  s.tokens_per_expert = plan.group_sizes();
  s.routed_slots = plan.routed();
  for (int64_t t = 0; t < T; ++t) {
    bool had = false, has = false;
    for (int64_t j = 0; j < slots; ++j) {
      had |= chosen[t * slots + j] >= 0;
      has |= kept[t * slots + j] >= 0;
      s.dropped_slots += chosen[t * slots + j] >= 0 && kept[t * slots + j] < 0;
    }
    s.dropped_tokens += had && !has;
  }
  const double mean_load = static_cast<double>(s.routed_slots) / static_cast<double>(num_experts);
  double variance = 0;
  for (int64_t c : s.tokens_per_expert) variance += (c - mean_load) * (c - mean_load);
  variance /= static_cast<double>(num_experts);
  s.load_cv = mean_load > 0 ? std::sqrt(variance) / mean_load : 0.0;
  if (decision.probs.defined() && T > 0) {
    const std::vector<double> p = decision.probs.to_vector<double>();
    double entropy = 0;
    for (double v : p)
      if (v > 0) entropy -= v * std::log(v);
    s.router_entropy = entropy / static_cast<double>(T);
  }
  for (const AuxLoss& l : decision.losses) s.aux_losses.emplace_back(l.name, l.value.item<double>());
  stats_ = std::move(s);
  last_losses_ = std::move(decision.losses);
  if (is_training()) gate->observe_load(stats_.tokens_per_expert);

  Shape out_shape = x.shape();
  return reshape(out, out_shape);
}

Tensor MoE::aux_loss() const {
  Tensor total = zeros({}, dtype_);
  for (const AuxLoss& l : last_losses_)
    if (l.coefficient != 0.0) total = total + l.value * l.coefficient;
  return total;
}

std::string MoE::extra_repr() const {
  return fmt::format("d_model={}, d_ff={}, experts={}, k={}, mode={}{}", d_model, d_ff, num_experts,
                     gate->top_k(), options.mode == MoEMode::dropless ? "dropless" : "capacity",
                     options.shared_experts > 0 ? fmt::format(", shared={}", options.shared_experts) : "");
}

}  // namespace dg::dynamic
