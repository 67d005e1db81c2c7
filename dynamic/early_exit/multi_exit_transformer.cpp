// MultiExitTransformer: embeddings, encoder layers, masked-mean pooling per exit.
#include "dynamic/early_exit/multi_exit_transformer.h"

#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::dynamic::early_exit {

namespace {
// The encoder layers as one child named "layers", each "layers.0", "layers.1", ...
class LayerList : public nn::Module {
 public:
  void add(const std::shared_ptr<nn::TransformerEncoderLayer>& layer, int64_t index) {
    register_module(std::to_string(index), layer);
  }
  std::string type_name() const override { return "EncoderLayers"; }
};
}  // namespace

MultiExitTransformer::MultiExitTransformer(const MultiExitTransformerOptions& o,
                                           const nn::ParamOptions& param)
    : options(o) {
  check(o.vocab_size >= 1 && o.max_length >= 1 && o.layers >= 1 && o.classes >= 2,
        "MultiExitTransformer: needs vocab_size, max_length, layers >= 1 and classes >= 2 (got {}, "
        "{}, {}, {})",
        o.vocab_size, o.max_length, o.layers, o.classes);
  token_embedding = register_module(
      "token_embedding", std::make_shared<nn::Embedding>(o.vocab_size, o.d_model, o.pad_id, param));
  position_embedding = register_module(
      "position_embedding",
      std::make_shared<nn::Embedding>(o.max_length, o.d_model, std::nullopt, param));
  const nn::TransformerLayerOptions layer_options{.dim_feedforward = o.dim_feedforward,
                                                  .dropout = o.dropout,
                                                  .activation = nn::Activation::relu,
                                                  .norm_first = o.norm_first,
                                                  .dropout_generator = o.dropout_generator};
  auto list = register_module("layers", std::make_shared<LayerList>());
  for (int64_t i = 0; i < o.layers; ++i) {
    layers.push_back(
        std::make_shared<nn::TransformerEncoderLayer>(o.d_model, o.heads, layer_options, param));
    list->add(layers.back(), i);
  }
  add_heads(std::vector<int64_t>(static_cast<size_t>(o.layers), o.d_model), o.classes,
            {.pooler_features = o.pooler_features, .layer_norm = o.norm_first},
            o.learned_exit_score, param);
}

ExitState MultiExitTransformer::begin(const Tensor& ids, const Tensor& mask) {
  check(ids.defined(), "MultiExitTransformer: ids are undefined");
  check(ids.dim() == 2 && ids.dtype() == DType::i64,
        "MultiExitTransformer: ids must be i64 [B, L], got {} {}", ids.shape(), ids.dtype());
  check(ids.size(1) <= options.max_length, "MultiExitTransformer: length {} exceeds max_length {}",
        ids.size(1), options.max_length);
  const Tensor real = mask.defined() ? mask : ones(ids.shape(), DType::b8);
  check(real.dtype() == DType::b8 && real.shape() == ids.shape(),
        "MultiExitTransformer: mask must be bool of the ids' shape {}, got {} {}", ids.shape(),
        real.shape(), real.dtype());
  Tensor x = token_embedding->forward(ids) + position_embedding->forward(arange(ids.size(1)));
  return {x, real};
}

ExitState MultiExitTransformer::run_block(int64_t index, const ExitState& state) {
  check(index >= 0 && index < options.layers, "MultiExitTransformer: block {} of {}", index,
        options.layers);
  const nn::AttentionMasks masks{.key_padding_mask = logical_not(state.mask)};  // true = padding
  return {layers[static_cast<size_t>(index)]->forward(state.hidden, masks), state.mask};
}

Tensor MultiExitTransformer::pool(int64_t, const ExitState& state) {
  const Tensor weights = state.mask.to(state.hidden.dtype()).unsqueeze(2);  // [B, L, 1]
  const Tensor counts = clamp(sum(weights, {1}), 1.0, std::nullopt);       // [B, 1]
  return sum(state.hidden * weights, {1}) / counts;                         // [B, d_model]
}

std::vector<Tensor> MultiExitTransformer::backbone_parameters() const {
  std::vector<Tensor> out = token_embedding->parameters();
  for (const Tensor& p : position_embedding->parameters()) out.push_back(p);
  for (const auto& layer : layers)
    for (const Tensor& p : layer->parameters()) out.push_back(p);
  return out;
}

}  // namespace dg::dynamic::early_exit
