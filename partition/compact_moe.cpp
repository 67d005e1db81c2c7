// CompactPartiallyDynamicMoE: see compact_moe.h.
#include "partition/compact_moe.h"

#include <fmt/format.h>

#include "engine/autograd.h"
#include "dynamic/routing.h"
#include "engine/ops/ops.h"
#include "partition/bitmask.h"

namespace dg::partition {

CompactPartiallyDynamicMoE::CompactPartiallyDynamicMoE(const PartiallyDynamicMoE& source,
                                                       std::shared_ptr<dynamic::Gate> gate)
    : d_model(source.moe->d_model), d_ff(source.moe->d_ff), num_experts(source.moe->num_experts) {
  NoGradGuard no_grad;
  const dynamic::MoE& src = *source.moe;
  const DType dtype = src.w1.dtype();
  if (gate) {
    check(gate->num_experts() == src.num_experts && gate->top_k() == src.gate->top_k() &&
              gate->type_name() == src.gate->type_name(),
          "CompactPartiallyDynamicMoE: the gate given ({}, E = {}, k = {}) is not of the source's kind "
          "({}, E = {}, k = {})",
          gate->type_name(), gate->num_experts(), gate->top_k(), src.gate->type_name(), src.num_experts,
          src.gate->top_k());
    gate->load_state_dict(src.gate->state_dict());
  } else {
    gate = src.gate;
  }
  // The router takes the source's options and shared experts (copied); its throwaway
  // initialisation of the shared experts draws from a local generator.
  Generator scratch(0);
  moe = register_module("moe", std::make_shared<dynamic::MoE>(
                                   d_model, d_ff, std::move(gate), dynamic::MoE::ExternalExperts{},
                                   src.options, nn::ParamOptions{.generator = &scratch, .dtype = dtype}));
  {
    const nn::StateDict from = src.state_dict();
    nn::StateDict mine = moe->state_dict();
    for (auto& [key, value] : mine) value = from.at(key);
    moe->load_state_dict(mine);
  }
  const double lambda_d = source.lambda_dynamic().item<double>();
  const double lambda_s = source.lambda_static().item<double>();
  // One matrix: its dynamic values per expert, its static values, its packed mask.
  auto split = [&](const Tensor& experts, const Tensor& mask, const Tensor& stat, const std::string& name,
                   Tensor& dynamic_values, Tensor& static_values, Tensor& bitmask) {
    const int64_t m = mask.numel();
    const int64_t zeros_in_mask = sum(to_dtype(eq(mask, 0.0), DType::i64)).item<int64_t>();
    check(dynamic_elements(mask) + zeros_in_mask == m,
          "CompactPartiallyDynamicMoE: mask_{} has entries other than 0 and 1; compaction needs a partitioned "
          "(binary) mask",
          name);
    const Tensor bits = pack_bitmask(mask);
    const Tensor flat = reshape(experts, {num_experts, m});
    dynamic_values = register_parameter(
        name + "_dynamic", (index_select(flat, 1, bitmask_positions(bits, m, true)) * lambda_d).contiguous());
    static_values = register_parameter(
        name + "_static",
        (index_select(reshape(stat, {m}), 0, bitmask_positions(bits, m, false)) * lambda_s).contiguous());
    bitmask = register_buffer(name + "_bitmask", bits);
  };
  split(src.w1, source.mask_w1, source.static_w1, "w1", w1_dynamic, w1_static, w1_bitmask);
  split(src.w2, source.mask_w2, source.static_w2, "w2", w2_dynamic, w2_static, w2_bitmask);
  b1 = register_parameter("b1", src.b1.detach().clone());
  b2 = register_parameter("b2", src.b2.detach().clone());
}

Tensor CompactPartiallyDynamicMoE::place(const Tensor& dynamic_values, const Tensor& static_values,
                                         const Tensor& bitmask, int64_t rows, int64_t cols) const {
  const int64_t m = rows * cols;
  const Tensor static_dense =
      scatter(zeros({m}, static_values.dtype()), 0, bitmask_positions(bitmask, m, false), static_values);
  const Tensor full = index_add(expand(reshape(static_dense, {1, m}), {num_experts, m}), 1,
                                bitmask_positions(bitmask, m, true), dynamic_values);
  return reshape(full, {num_experts, rows, cols});
}

dynamic::ExpertWeights CompactPartiallyDynamicMoE::expert_weights() const {
  if (needs_grad(w1_dynamic, w1_static, w2_dynamic, w2_static))
    return {place(w1_dynamic, w1_static, w1_bitmask, d_model, d_ff), b1,
            place(w2_dynamic, w2_static, w2_bitmask, d_ff, d_model), b2};
  // Outside a graph the placed matrices are kept until a stored tensor is replaced or written.
  std::vector<std::pair<const void*, uint64_t>> key;
  for (const Tensor* t : {&w1_dynamic, &w1_static, &w1_bitmask, &w2_dynamic, &w2_static, &w2_bitmask})
    key.emplace_back(t->impl(), t->version());
  if (!cache_w1_.defined() || key != cache_key_) {
    NoGradGuard no_grad;
    cache_w1_ = place(w1_dynamic, w1_static, w1_bitmask, d_model, d_ff).contiguous();
    cache_w2_ = place(w2_dynamic, w2_static, w2_bitmask, d_ff, d_model).contiguous();
    cache_key_ = std::move(key);
  }
  return {cache_w1_, b1, cache_w2_, b2};
}

Tensor CompactPartiallyDynamicMoE::forward(const Tensor& x, const Tensor& token_ids) {
  if (takes_sparse_path(x)) return sparse_forward(x, token_ids);
  return moe->forward_with(x, token_ids, expert_weights());
}

Tensor CompactPartiallyDynamicMoE::expert_activation(const Tensor& h) const {
  switch (moe->options.activation) {
    case dynamic::ExpertActivation::relu: return relu(h);
    case dynamic::ExpertActivation::gelu: return gelu(h);
    case dynamic::ExpertActivation::silu: return silu(h);
    case dynamic::ExpertActivation::tanh: return tanh(h);
  }
  fail("CompactPartiallyDynamicMoE: unknown expert activation");
}

bool CompactPartiallyDynamicMoE::takes_sparse_path(const Tensor& x) const {
  return sparse_inference && !needs_grad(x, w1_dynamic, w1_static, w2_dynamic, w2_static, b1, b2) &&
         moe->options.mode == dynamic::MoEMode::dropless && moe->shared_fc1 == nullptr &&
         (x.dtype() == DType::f32 || x.dtype() == DType::f64);
}

const CompactPartiallyDynamicMoE::Patterns& CompactPartiallyDynamicMoE::patterns() const {
  std::vector<std::pair<const void*, uint64_t>> key;
  for (const Tensor* t : {&w1_bitmask, &w2_bitmask}) key.emplace_back(t->impl(), t->version());
  if (!patterns_ || key != patterns_key_) {
    patterns_ = Patterns{compressed_rows(w1_bitmask, d_model, d_ff, true),
                         compressed_rows(w1_bitmask, d_model, d_ff, false),
                         compressed_rows(w2_bitmask, d_ff, d_model, true),
                         compressed_rows(w2_bitmask, d_ff, d_model, false)};
    patterns_key_ = std::move(key);
  }
  return *patterns_;
}

Tensor CompactPartiallyDynamicMoE::sparse_forward(const Tensor& x, const Tensor& token_ids) {
  const Patterns& p = patterns();
  const Tensor tokens = reshape(x, {-1, d_model}).contiguous();
  const dynamic::GateDecision decision = moe->gate->route(tokens, token_ids);
  const dynamic::RoutingPlan plan(decision.experts, num_experts);
  // The static halves once per token: x (lambda_s (1 - M1) W1_s), and after the experts
  // (sum_e g_e h_e) (lambda_s (1 - M2) W2_s), since sum_e g_e h_e W2_s = (sum_e g_e h_e) W2_s.
  const Tensor static_in = masked_matmul(tokens, p.w1_static, w1_static);
  const Tensor routed = dynamic::dispatch(tokens, plan);
  const Tensor routed_static = dynamic::dispatch(static_in, plan);
  std::vector<Tensor> hidden, outputs;
  for (int64_t e = 0; e < num_experts; ++e) {
    if (plan.group_sizes()[static_cast<size_t>(e)] == 0) continue;  // an expert with no token
    const Tensor rows = dynamic::block(routed, plan, e);
    const Tensor h = expert_activation(masked_matmul(rows, p.w1_dynamic, w1_dynamic.narrow(0, e, 1).squeeze(0)) +
                                       dynamic::block(routed_static, plan, e) + b1.narrow(0, e, 1));
    hidden.push_back(h);
    outputs.push_back(masked_matmul(h, p.w2_dynamic, w2_dynamic.narrow(0, e, 1).squeeze(0)) + b2.narrow(0, e, 1));
  }
  Tensor y = zeros({tokens.shape()[0], d_model}, x.dtype());
  if (!outputs.empty()) {
    y = dynamic::combine(cat(outputs, 0), plan, decision.weights) +
        masked_matmul(dynamic::combine(cat(hidden, 0), plan, decision.weights), p.w2_static, w2_static);
  }
  return reshape(y, x.shape());
}


Tensor CompactPartiallyDynamicMoE::mask_w1() const {
  NoGradGuard no_grad;
  return reshape(scatter(zeros({d_model * d_ff}, DType::f64), 0,
                         bitmask_positions(w1_bitmask, d_model * d_ff, true),
                         ones({w1_dynamic.shape()[1]}, DType::f64)),
                 {d_model, d_ff});
}

Tensor CompactPartiallyDynamicMoE::mask_w2() const {
  NoGradGuard no_grad;
  return reshape(scatter(zeros({d_ff * d_model}, DType::f64), 0,
                         bitmask_positions(w2_bitmask, d_ff * d_model, true),
                         ones({w2_dynamic.shape()[1]}, DType::f64)),
                 {d_ff, d_model});
}

double CompactPartiallyDynamicMoE::dynamic_ratio() const {
  return static_cast<double>(w1_dynamic.shape()[1] + w2_dynamic.shape()[1]) /
         static_cast<double>(2 * d_model * d_ff);
}

std::string CompactPartiallyDynamicMoE::extra_repr() const {
  return fmt::format("d_model={}, d_ff={}, experts={}, dynamic W1 {}/{}, W2 {}/{} ({:.4g})", d_model, d_ff,
                     num_experts, w1_dynamic.shape()[1], d_model * d_ff, w2_dynamic.shape()[1],
                     d_model * d_ff, dynamic_ratio());
}

}  // namespace dg::partition
