// The PAD-Net MoE report: see moe_report.h.
#include "partition/moe_report.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "dynamic/moe/moe_layer.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "partition/compact_moe.h"
#include "partition/partially_dynamic_moe.h"

namespace dg::partition {

namespace {

int64_t count_nonzero(const Tensor& t) {
  NoGradGuard no_grad;
  return t.numel() == 0 ? 0 : sum(to_dtype(ne(t, 0.0), DType::i64)).item<int64_t>();
}

int64_t numel_or_zero(const Tensor& t) { return t.defined() ? t.numel() : 0; }

int64_t tensor_bytes(const Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(itemsize(t.dtype())) : 0;
}

int64_t shared_parameters(const dynamic::MoE& moe) {
  return (moe.shared_fc1 ? moe.shared_fc1->num_parameters() : 0) +
         (moe.shared_fc2 ? moe.shared_fc2->num_parameters() : 0);
}

std::optional<MoELayerCost> moe_cost(const std::string& name, nn::Module* module) {
  MoELayerCost c{.name = name.empty() ? "(model)" : name, .kind = module->type_name()};
  if (auto* p = dynamic_cast<PartiallyDynamicMoE*>(module)) {
    NoGradGuard no_grad;
    const dynamic::MoE& moe = *p->moe;
    int64_t m = 0, m_dyn = 0;
    for (const ModeMaskSite& s : p->mode_mask_sites()) {
      const Tensor dynamic_positions = to_dtype(eq(s.mask, 1.0), s.dynamic_weights.dtype());
      c.dynamic += count_nonzero(s.dynamic_weights * dynamic_positions);
      const int64_t n = dynamic_elements(s.mask);
      c.static_values += s.mask.numel() - n;
      m += s.mask.numel();
      m_dyn += n;
      c.position_bytes += tensor_bytes(s.mask);
    }
    c.biases = moe.b1.numel() + moe.b2.numel();
    c.gate = moe.gate->num_parameters();
    c.other = shared_parameters(moe) + numel_or_zero(p->scale_logit) + numel_or_zero(p->scale_static) +
              numel_or_zero(p->scale_dynamic);
    c.dynamic_ratio = static_cast<double>(m_dyn) / static_cast<double>(m);
    c.stored_bytes = stored_bytes(*p);
    return c;
  }
  if (auto* q = dynamic_cast<CompactPartiallyDynamicMoE*>(module)) {
    c.dynamic = count_nonzero(q->w1_dynamic) + count_nonzero(q->w2_dynamic);
    c.static_values = q->w1_static.numel() + q->w2_static.numel();
    c.biases = q->b1.numel() + q->b2.numel();
    c.gate = q->moe->gate->num_parameters();
    c.other = shared_parameters(*q->moe);
    c.dynamic_ratio = q->dynamic_ratio();
    c.position_bytes = tensor_bytes(q->w1_bitmask) + tensor_bytes(q->w2_bitmask);
    c.stored_bytes = stored_bytes(*q);
    return c;
  }
  if (auto* moe = dynamic_cast<dynamic::MoE*>(module)) {
    if (!moe->owns_experts()) return std::nullopt;  // a router inside a compacted layer
    c.dynamic = count_nonzero(moe->w1) + count_nonzero(moe->w2);
    c.biases = moe->b1.numel() + moe->b2.numel();
    c.gate = moe->gate->num_parameters();
    c.other = shared_parameters(*moe);
    c.stored_bytes = stored_bytes(*moe);
    return c;
  }
  return std::nullopt;
}

}  // namespace

int64_t stored_bytes(const nn::Module& module) {
  int64_t total = 0;
  for (const auto& [name, t] : module.named_parameters()) total += tensor_bytes(t);
  for (const auto& [name, t] : module.named_buffers()) total += tensor_bytes(t);
  return total;
}

std::vector<MoELayerCost> moe_parameter_report(nn::Module& model) {
  std::vector<MoELayerCost> rows;
  std::vector<std::string> counted;
  for (const auto& [name, module] : model.named_modules()) {
    const bool inside = std::any_of(counted.begin(), counted.end(), [&name = name](const std::string& p) {
      return p.empty() || name.rfind(p + ".", 0) == 0;
    });
    if (inside) continue;
    if (auto cost = moe_cost(name, module)) {
      rows.push_back(*cost);
      counted.push_back(name);
    }
  }
  return rows;
}

double measured_flops_per_token(const std::function<void()>& forward, int64_t tokens) {
  check(static_cast<bool>(forward), "measured_flops_per_token: the forward callback is empty");
  check(tokens > 0, "measured_flops_per_token: the token count must be positive, got {}", tokens);
  NoGradGuard no_grad;
  forward();  // warm-up, not counted: a compacted layer places its weights here
  FlopScope scope;
  forward();
  return static_cast<double>(scope.count()) / static_cast<double>(tokens);
}

std::string moe_report_markdown(const std::vector<MoELayerCost>& rows) {
  std::string out =
      "| layer | kind | dynamic | static | biases | gate | other | parameters | dynamic ratio | bytes | "
      "of which positions |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : rows)
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.4f} | {} | {} |\n", c.name, c.kind,
                       c.dynamic, c.static_values, c.biases, c.gate, c.other, c.parameters(), c.dynamic_ratio,
                       c.stored_bytes, c.position_bytes);
  return out;
}

}  // namespace dg::partition
