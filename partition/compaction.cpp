// CompactPartiallyDynamicConv2d and compact_model: see compaction.h.
#include "partition/compaction.h"

#include <fmt/format.h>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "partition/bitmask.h"
#include "partition/mode_partition.h"

namespace dg::partition {

namespace {

dynamic::KernelAttentionOptions attention_options(const dynamic::KernelAttention& a) {
  return {.num_kernels = a.num_kernels, .hidden = a.hidden, .normalization = a.normalization,
          .temperature = a.temperature()};
}

}  // namespace

CompactPartiallyDynamicConv2d::CompactPartiallyDynamicConv2d(const PartiallyDynamicConv2d& source)
    : in_channels(source.dynamic->in_channels),
      out_channels(source.dynamic->out_channels),
      num_kernels(source.dynamic->num_kernels),
      kernel_size(source.dynamic->kernel_size),
      geometry(source.dynamic->geometry),
      kernel_elements_(source.mode_mask.numel()) {
  NoGradGuard no_grad;
  const auto& dyn = *source.dynamic;
  const DType dtype = dyn.weight.dtype();
  // The attention is copied; a local generator keeps its throwaway initialisation from drawing on
  // the default stream.
  Generator scratch(0);
  attention = register_module("attention", std::make_shared<dynamic::KernelAttention>(
                                               in_channels, attention_options(*dyn.attention),
                                               nn::ParamOptions{.generator = &scratch, .dtype = dtype}));
  attention->load_state_dict(dyn.attention->state_dict());

  const std::vector<double> mask = source.mode_mask.to_vector<double>();
  const int64_t m = static_cast<int64_t>(mask.size());
  std::vector<int64_t> dynamic_positions_list, static_positions_list;
  for (int64_t j = 0; j < m; ++j)
    (mask[j] != 0.0 ? dynamic_positions_list : static_positions_list).push_back(j);
  const int64_t m_dyn = static_cast<int64_t>(dynamic_positions_list.size());

  mode_bitmask = register_buffer("mode_bitmask", pack_bitmask(source.mode_mask));

  const double lambda_d = source.lambda_dynamic().item<double>();
  const double lambda_s = source.lambda_static().item<double>();
  const std::vector<double> kernels = dyn.weight.to_vector<double>();  // [K, m] row-major
  std::vector<double> factors;
  factors.reserve(num_kernels * m_dyn);
  for (int64_t k = 0; k < num_kernels; ++k)
    for (int64_t j : dynamic_positions_list) factors.push_back(lambda_d * kernels[k * m + j]);
  const std::vector<double> static_kernel = source.static_weight.to_vector<double>();
  std::vector<double> statics;
  statics.reserve(static_positions_list.size());
  for (int64_t j : static_positions_list) statics.push_back(lambda_s * static_kernel[j]);

  dynamic_factors = register_parameter("dynamic_factors",
                                       to_dtype(from_vector(factors, {num_kernels, m_dyn}), dtype));
  static_values = register_parameter(
      "static_values", to_dtype(from_vector(statics, {m - m_dyn}), dtype));
  if (dyn.bias.defined()) bias_factors = register_parameter("bias_factors", dyn.bias.detach().clone());
}

double CompactPartiallyDynamicConv2d::dynamic_ratio() const {
  return static_cast<double>(dynamic_elements()) / static_cast<double>(kernel_elements());
}

Tensor CompactPartiallyDynamicConv2d::dynamic_positions() const {
  const bool fresh = positions_cache_.defined() && positions_mask_version_ == mode_bitmask.version();
  if (fresh) return positions_cache_;
  Tensor positions = bitmask_positions(mode_bitmask, kernel_elements(), true);
  check(positions.numel() == dynamic_elements(),
        "CompactPartiallyDynamicConv2d: the bitmask has {} dynamic positions but dynamic_factors {}",
        positions.numel(), dynamic_factors.shape());
  if (keep_inference_cache) {
    positions_cache_ = positions;
    positions_mask_version_ = mode_bitmask.version();
  }
  return positions;
}

Tensor CompactPartiallyDynamicConv2d::static_positions() const {
  return bitmask_positions(mode_bitmask, kernel_elements(), false);
}

Tensor CompactPartiallyDynamicConv2d::static_kernel() const {
  const Shape shape{out_channels, in_channels / geometry.groups, kernel_size[0], kernel_size[1]};
  auto place = [&] {
    return reshape(scatter(zeros({kernel_elements()}, static_values.dtype()), 0, static_positions(),
                           static_values),
                   shape);
  };
  if (needs_grad(static_values)) return place();  // on the graph: static_values may be trained
  // Otherwise the placed kernel is kept until static_values or the bitmask changes (a new tensor,
  // or an in-place write such as load_state_dict's, which bumps its version).
  const bool fresh = static_kernel_cache_.defined() && cached_static_values_.same(static_values) &&
                     cached_static_version_ == static_values.version() &&
                     cached_mask_version_ == mode_bitmask.version();
  if (fresh) return static_kernel_cache_;
  Tensor kernel = place();
  if (keep_inference_cache) {
    static_kernel_cache_ = kernel;
    cached_static_values_ = static_values;
    cached_static_version_ = static_values.version();
    cached_mask_version_ = mode_bitmask.version();
  }
  return kernel;
}

int64_t CompactPartiallyDynamicConv2d::cache_bytes() const {
  auto bytes = [](const Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(itemsize(t.dtype())) : int64_t{0};
  };
  return bytes(static_kernel_cache_) + bytes(positions_cache_);
}

Tensor CompactPartiallyDynamicConv2d::forward(const Tensor& x) {
  check(x.dim() == 4 && x.shape()[1] == in_channels,
        "CompactPartiallyDynamicConv2d: expected input [N, {}, H, W], got {}", in_channels, x.shape());
  const int64_t n = x.shape()[0];
  const Tensor base = static_kernel();
  if (dynamic_elements() == 0) {  // all static: an ordinary convolution, the biases still mixed
    Tensor out = conv2d(x, base, Tensor(), geometry);
    if (!bias_factors.defined()) return out;
    const Tensor biases = matmul(attention->forward(x), bias_factors);  // [N, C_out]
    return out + reshape(biases, {n, out_channels, 1, 1});
  }
  const Tensor weights = attention->forward(x);  // [N, K]
  const Tensor biases = bias_factors.defined() ? matmul(weights, bias_factors) : Tensor();
  const bool records = needs_grad(x, weights, dynamic_factors, base, biases);
  if (!records)  // inference: each sample's kernel is mixed where it is convolved
    return kernel_mixture_conv2d(x, weights, dynamic_factors, biases, geometry, base,
                                 dynamic_positions());
  // Recorded (e.g. fine-tuning the compacted model): the same kernels composed from ops. The
  // mixed values [N, m_dyn] are added into the dynamic positions, where the base holds zeros.
  const Tensor mixed = matmul(weights, dynamic_factors);
  const Tensor full = index_add(expand(reshape(base, {1, kernel_elements()}), {n, kernel_elements()}), 1,
                                dynamic_positions(), mixed);
  const Shape k = base.shape();
  return dynamic::per_sample_conv2d(x, reshape(full, {n, k[0], k[1], k[2], k[3]}), biases, geometry);
}

std::string CompactPartiallyDynamicConv2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size=({}, {}), kernels={}, dynamic={}/{} ({:.4g})", in_channels,
                     out_channels, kernel_size[0], kernel_size[1], num_kernels, dynamic_elements(),
                     kernel_elements(), dynamic_ratio());
}

std::shared_ptr<nn::UnaryModule> compact_model(nn::Module& model, const ModelBuilder& build) {
  check(static_cast<bool>(build), "compact_model: the model builder is empty");
  const auto layers = partially_dynamic_layers(model);
  check(!layers.empty(), "compact_model: the model has no PartiallyDynamicConv2d layer");
  size_t next = 0;
  nn::ConvFactory factory = [&](const nn::ConvSpec& s) -> std::shared_ptr<nn::UnaryModule> {
    check(next < layers.size(), "compact_model: the builder asked for convolution {} but the model has {}",
          next + 1, layers.size());
    const auto& [name, source] = layers[next++];
    const auto& d = *source->dynamic;
    check(d.in_channels == s.in_channels && d.out_channels == s.out_channels &&
              d.kernel_size[0] == s.kernel_size && d.kernel_size[1] == s.kernel_size &&
              d.geometry.stride[0] == s.stride && d.geometry.padding[0] == s.padding &&
              d.geometry.groups == s.groups,
          "compact_model: convolution {} of the rebuilt model ({} -> {}, kernel {}, stride {}, groups {}) "
          "does not match layer '{}' ({} -> {}, kernel {}, stride {}, groups {})",
          next, s.in_channels, s.out_channels, s.kernel_size, s.stride, s.groups, name, d.in_channels,
          d.out_channels, d.kernel_size[0], d.geometry.stride[0], d.geometry.groups);
    return std::make_shared<CompactPartiallyDynamicConv2d>(*source);
  };
  std::shared_ptr<nn::UnaryModule> copy = build(factory);
  check(copy != nullptr, "compact_model: the builder returned null");
  check(next == layers.size(), "compact_model: the builder made {} convolutions but the model has {}", next,
        layers.size());
  // Everything outside the compacted layers carries over by name; the compacted layers keep what
  // their constructors copied.
  const nn::StateDict source = model.state_dict();
  nn::StateDict merged = copy->state_dict();
  for (auto& [key, value] : merged)
    if (auto it = source.find(key); it != source.end()) value = it->second;
  copy->load_state_dict(merged);
  copy->train(model.is_training());
  return copy;
}

}  // namespace dg::partition
