// The PAD-Net model report: see report.h.
#include "partition/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "dynamic/kernel_mixture_conv.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/random.h"
#include "nn/conv.h"
#include "partition/compaction.h"
#include "partition/partially_dynamic_conv.h"

namespace dg::partition {

namespace {

int64_t count_nonzero(const Tensor& t) {
  NoGradGuard no_grad;
  return t.numel() == 0 ? 0 : sum(to_dtype(ne(t, 0.0), DType::i64)).item<int64_t>();
}

int64_t numel_or_zero(const Tensor& t) { return t.defined() ? t.numel() : 0; }

// The bytes of a module's parameters and buffers (its submodules' included), each at its dtype.
int64_t state_bytes(nn::Module& module) {
  int64_t bytes = 0;
  for (const auto& [key, tensor] : module.state_dict())
    bytes += tensor.numel() * static_cast<int64_t>(itemsize(tensor.dtype()));
  return bytes;
}

std::optional<LayerCost> known_convolution_cost(const std::string& name, nn::Module* module);

// The cost row of `module` if it is a convolution this report knows, with its bytes.
std::optional<LayerCost> convolution_cost(const std::string& name, nn::Module* module) {
  std::optional<LayerCost> c = known_convolution_cost(name, module);
  if (!c) return c;
  c->state_bytes = state_bytes(*module);
  if (auto* q = dynamic_cast<CompactPartiallyDynamicConv2d*>(module)) c->cache_bytes = q->cache_bytes();
  return c;
}

// The parameter counts of `module` if it is a convolution this report knows.
std::optional<LayerCost> known_convolution_cost(const std::string& name, nn::Module* module) {
  LayerCost c{.name = name.empty() ? "(model)" : name, .kind = module->type_name()};
  if (auto* p = dynamic_cast<PartiallyDynamicConv2d*>(module)) {
    NoGradGuard no_grad;
    const Tensor dynamic_positions = ne(p->mode_mask, 0.0);  // [C_out, C_in / g, kH, kW]
    const int64_t m = p->mode_mask.numel();
    const int64_t m_dyn = count_nonzero(dynamic_positions);
    c.dynamic_factors = count_nonzero(p->dynamic->weight * to_dtype(dynamic_positions, p->dynamic->weight.dtype()));
    c.static_parameters = m - m_dyn;
    c.attention_parameters = p->dynamic->attention->num_parameters();
    c.other = numel_or_zero(p->dynamic->bias) + numel_or_zero(p->scale_logit) +
              numel_or_zero(p->scale_static) + numel_or_zero(p->scale_dynamic);
    c.kernel_elements = m;
    c.dynamic_elements = m_dyn;
    c.dynamic_layer = true;
    c.dynamic_ratio = static_cast<double>(m_dyn) / static_cast<double>(m);
    return c;
  }
  if (auto* q = dynamic_cast<CompactPartiallyDynamicConv2d*>(module)) {
    c.dynamic_factors = count_nonzero(q->dynamic_factors);
    c.static_parameters = q->static_values.numel();
    c.attention_parameters = q->attention->num_parameters();
    c.other = numel_or_zero(q->bias_factors);
    c.kernel_elements = q->kernel_elements();
    c.dynamic_elements = q->dynamic_elements();
    c.dynamic_layer = true;
    c.dynamic_ratio = q->dynamic_ratio();
    return c;
  }
  if (auto* d = dynamic_cast<dynamic::KernelMixtureConv2d*>(module)) {
    c.dynamic_factors = count_nonzero(d->weight);
    c.attention_parameters = d->attention->num_parameters();
    c.other = numel_or_zero(d->bias);
    c.kernel_elements = c.dynamic_elements = d->weight.numel() / d->num_kernels;
    c.dynamic_layer = true;
    c.dynamic_ratio = 1.0;
    return c;
  }
  if (auto* s = dynamic_cast<nn::Conv2d*>(module)) {
    c.static_parameters = s->weight.numel();
    c.other = numel_or_zero(s->bias);
    c.kernel_elements = s->weight.numel();
    return c;
  }
  return std::nullopt;
}

bool is_under(const std::string& name, const std::string& prefix) {
  return prefix.empty() || name.rfind(prefix + ".", 0) == 0;
}

void add_to(LayerCost& total, const LayerCost& row) {
  total.dynamic_factors += row.dynamic_factors;
  total.static_parameters += row.static_parameters;
  total.attention_parameters += row.attention_parameters;
  total.other += row.other;
  total.state_bytes += row.state_bytes;
  total.cache_bytes += row.cache_bytes;
}

// At least `runs` timed forwards, and more until kTimingBudgetSeconds of them have run (at most
// kMaxTimingRuns): a median of five batch-1 forwards on a shared machine moved by 2x from run to
// run, a median of a few hundred does not.
constexpr double kTimingBudgetSeconds = 0.2;
constexpr int64_t kMaxTimingRuns = 2000;

double median_seconds_per_sample(nn::UnaryModule& model, const Tensor& x, int64_t runs) {
  if (runs <= 0) return 0.0;
  model.forward(x);  // warm-up: allocator caches, OpenBLAS threads
  std::vector<double> seconds;
  double total = 0.0;
  while (static_cast<int64_t>(seconds.size()) < runs ||
         (total < kTimingBudgetSeconds && static_cast<int64_t>(seconds.size()) < kMaxTimingRuns)) {
    const auto start = std::chrono::steady_clock::now();
    model.forward(x);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    total += seconds.back();
  }
  const size_t middle = seconds.size() / 2;
  std::nth_element(seconds.begin(), seconds.begin() + static_cast<std::ptrdiff_t>(middle), seconds.end());
  return seconds[middle] / static_cast<double>(x.shape()[0]);
}

}  // namespace

ModelReport parameter_report(nn::Module& model) {
  ModelReport report;
  std::vector<std::string> prefixes;
  for (const auto& [name, module] : model.named_modules()) {
    // The init-capture names the binding: C++20 lambdas may capture structured bindings, but clang
    // before 16 does not implement that.
    if (std::any_of(prefixes.begin(), prefixes.end(),
                    [&name = name](const std::string& p) { return is_under(name, p); }))
      continue;  // inside a convolution already counted (e.g. a PartiallyDynamicConv2d's "dynamic")
    if (auto cost = convolution_cost(name, module)) {
      report.layers.push_back(*cost);
      prefixes.push_back(name);
    }
  }
  report.rest = LayerCost{.name = "rest", .kind = "stem, norms, classifier"};
  for (const auto& [name, tensor] : model.named_parameters())
    if (std::none_of(prefixes.begin(), prefixes.end(),
                     [&name = name](const std::string& p) { return is_under(name, p); }))
      report.rest.other += tensor.numel();
  report.rest.state_bytes = state_bytes(model);
  for (const auto& row : report.layers) report.rest.state_bytes -= row.state_bytes;
  report.total = LayerCost{.name = "total", .kind = ""};
  for (const auto& row : report.layers) add_to(report.total, row);
  add_to(report.total, report.rest);
  int64_t m = 0, m_dyn = 0;
  for (const auto& row : report.layers)
    if (row.dynamic_layer) {
      m += row.kernel_elements;
      m_dyn += row.dynamic_elements;
    }
  report.total.dynamic_ratio = m > 0 ? static_cast<double>(m_dyn) / static_cast<double>(m) : 0.0;
  return report;
}

ModelReport model_report(nn::UnaryModule& model, const ReportOptions& options) {
  ModelReport report = parameter_report(model);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  Generator generator(0);
  auto input = [&](int64_t batch) {
    Shape shape = options.sample_shape;
    shape.insert(0, batch);
    return rand(shape, generator, options.dtype);
  };
  const Tensor one = input(1);
  // One forward first, uncounted: what a layer builds once and keeps (a compacted layer's dense
  // static kernel) is not work per sample.
  model.forward(one);
  {
    FlopScope scope;
    model.forward(one);
    report.flops_per_sample = scope.count();
  }
  report.seconds_per_sample_batch1 = median_seconds_per_sample(model, one, options.timing_runs);
  report.seconds_per_sample_batch64 = median_seconds_per_sample(model, input(64), options.timing_runs);
  model.train(was_training);
  // The counts again, now that a forward has built whatever inference caches the layers keep.
  const ModelReport after = parameter_report(model);
  report.layers = after.layers;
  report.rest = after.rest;
  report.total = after.total;
  return report;
}

std::string ModelReport::to_markdown() const {
  std::string out =
      "| layer | kind | dynamic factors | static | attention | other | intrinsic | dynamic ratio | "
      "state bytes | cache bytes |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const LayerCost& c, bool ratio) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c.name, c.kind,
                       c.dynamic_factors, c.static_parameters, c.attention_parameters, c.other,
                       c.intrinsic(), ratio ? fmt::format("{:.4f}", c.dynamic_ratio) : std::string(""),
                       c.state_bytes, c.cache_bytes);
  };
  for (const auto& c : layers) row(c, true);
  row(rest, false);
  row(total, true);
  out += fmt::format("\nFLOPs per sample (measured, batch 1): {}\n", flops_per_sample);
  if (seconds_per_sample_batch1 > 0.0)
    out += fmt::format("time per sample: {:.4g} ms at batch 1, {:.4g} ms at batch 64 (median)\n",
                       1e3 * seconds_per_sample_batch1, 1e3 * seconds_per_sample_batch64);
  return out;
}

}  // namespace dg::partition
