// BERT: see bert.h. The layers follow Hugging Face's modeling_bert.py one class per class, so the
// parameter names and the order of operations are theirs; attention is
// dg::scaled_dot_product_attention with the padded keys as its key_padding_mask.
#include "nn/bert.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "nn/checkpoint.h"
#include "nn/init.h"

namespace dg::nn {

namespace {

// The config, validated before any layer is built from it.
const BertConfig& validated(const BertConfig& config) {
  config.validate();
  return config;
}

// Hugging Face's _init_weights: N(0, range) for Linear and Embedding weights, zero biases and
// padding row; LayerNorm stays the identity it starts as.
void init_bert_weights(Module& root, double range, Generator* generator) {
  root.apply([&](Module& m) {
    if (auto* linear = dynamic_cast<Linear*>(&m)) {
      init::normal_(linear->weight, 0.0, range, generator);
      if (linear->bias.defined()) init::zeros_(linear->bias);
    } else if (auto* embedding = dynamic_cast<Embedding*>(&m)) {
      init::normal_(embedding->weight, 0.0, range, generator);
      if (embedding->padding_idx) {
        NoGradGuard no_grad;
        Tensor row = select(embedding->weight, 0, *embedding->padding_idx);
        init::zeros_(row);
      }
    }
  });
}

}  // namespace

// ---------------------------------------------------------------- BertEmbeddings

BertEmbeddings::BertEmbeddings(const BertConfig& config, const ParamOptions& param) {
  const int64_t d = config.hidden_size;
  word_embeddings = register_module(
      "word_embeddings", std::make_shared<Embedding>(config.vocab_size, d, config.pad_token_id, param));
  position_embeddings = register_module(
      "position_embeddings", std::make_shared<Embedding>(config.max_position_embeddings, d, std::nullopt, param));
  token_type_embeddings = register_module(
      "token_type_embeddings", std::make_shared<Embedding>(config.type_vocab_size, d, std::nullopt, param));
  layer_norm = register_module("LayerNorm", std::make_shared<LayerNorm>(d, config.layer_norm_eps, true, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.hidden_dropout_prob));
}

Tensor BertEmbeddings::forward(const Tensor& input_ids, const Tensor& token_type_ids) {
  const int64_t L = input_ids.shape()[1];
  Tensor e = add(word_embeddings->forward(input_ids),
                 unsqueeze(position_embeddings->forward(arange(L)), 0));
  // No token types means type 0 everywhere: one row, broadcast, instead of a lookup per token.
  e = token_type_ids.defined() ? add(e, token_type_embeddings->forward(token_type_ids))
                               : add(e, select(token_type_embeddings->weight, 0, 0));
  return dropout->forward(layer_norm->forward(e));
}

// ---------------------------------------------------------------- attention

BertSelfAttention::BertSelfAttention(const BertConfig& config, const ParamOptions& param)
    : num_heads(config.num_attention_heads),
      head_dim(config.hidden_size / config.num_attention_heads),
      attention_dropout(config.attention_probs_dropout_prob) {
  const int64_t d = config.hidden_size;
  query = register_module("query", std::make_shared<Linear>(d, d, true, param));
  key = register_module("key", std::make_shared<Linear>(d, d, true, param));
  value = register_module("value", std::make_shared<Linear>(d, d, true, param));
}

Tensor BertSelfAttention::forward(const Tensor& h, const Tensor& key_padding_mask) {
  const int64_t B = h.shape()[0], L = h.shape()[1], H = num_heads, D = head_dim;
  // [B, L, d] -> [B, H, L, D]; a view for the fused inference attention, contiguous when a graph
  // is recorded (the composed attention's products want contiguous operands).
  auto split_heads = [&](const Tensor& x) {
    const Tensor heads = permute(reshape(x, {B, L, H, D}), {0, 2, 1, 3});
    return x.requires_grad() ? contiguous(heads) : heads;
  };
  const Tensor q = split_heads(query->forward(h));
  const Tensor k = split_heads(key->forward(h));
  const Tensor v = split_heads(value->forward(h));
  AttentionOptions options;
  options.key_padding_mask = key_padding_mask;
  options.dropout_p = attention_dropout;
  options.training = is_training();
  const Tensor heads = scaled_dot_product_attention(q, k, v, options);  // [B, H, L, D]
  return reshape(transpose(heads, 1, 2), {B, L, H * D});
}

std::string BertSelfAttention::extra_repr() const {
  return fmt::format("heads={}, head_dim={}, attention_dropout={}", num_heads, head_dim,
                     attention_dropout);
}

BertSelfOutput::BertSelfOutput(const BertConfig& config, const ParamOptions& param) {
  const int64_t d = config.hidden_size;
  dense = register_module("dense", std::make_shared<Linear>(d, d, true, param));
  layer_norm = register_module("LayerNorm", std::make_shared<LayerNorm>(d, config.layer_norm_eps, true, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.hidden_dropout_prob));
}

Tensor BertSelfOutput::forward(const Tensor& x, const Tensor& residual) {
  return layer_norm->forward(add(residual, dropout->forward(dense->forward(x))));
}

BertAttention::BertAttention(const BertConfig& config, const ParamOptions& param) {
  self = register_module("self", std::make_shared<BertSelfAttention>(config, param));
  output = register_module("output", std::make_shared<BertSelfOutput>(config, param));
}

Tensor BertAttention::forward(const Tensor& h, const Tensor& key_padding_mask) {
  return output->forward(self->forward(h, key_padding_mask), h);
}

// ---------------------------------------------------------------- feed-forward

BertIntermediate::BertIntermediate(const BertConfig& config, const ParamOptions& param)
    : activation(config.hidden_act) {
  dense = register_module("dense", std::make_shared<Linear>(config.hidden_size, config.intermediate_size, true, param));
}

Tensor BertIntermediate::forward(const Tensor& x) {
  const Tensor z = dense->forward(x);
  switch (activation) {
    case BertActivation::gelu: return gelu(z, GeluApprox::none);
    case BertActivation::gelu_tanh: return gelu(z, GeluApprox::tanh);
    case BertActivation::relu: return relu(z);
  }
  throw Error("BertIntermediate: unknown activation");
}

std::string BertIntermediate::extra_repr() const {
  return fmt::format("activation={}", bert_activation_name(activation));
}

BertOutput::BertOutput(const BertConfig& config, const ParamOptions& param) {
  const int64_t d = config.hidden_size;
  dense = register_module("dense", std::make_shared<Linear>(config.intermediate_size, d, true, param));
  layer_norm = register_module("LayerNorm", std::make_shared<LayerNorm>(d, config.layer_norm_eps, true, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.hidden_dropout_prob));
}

Tensor BertOutput::add_and_norm(const Tensor& ffn_out, const Tensor& residual) {
  return layer_norm->forward(add(residual, dropout->forward(ffn_out)));
}

void BertOutput::remove_dense() {
  unregister_module("dense");
  dense.reset();
}

// ---------------------------------------------------------------- BertLayer

BertLayer::BertLayer(const BertConfig& config, const ParamOptions& param) {
  attention = register_module("attention", std::make_shared<BertAttention>(config, param));
  intermediate = register_module("intermediate", std::make_shared<BertIntermediate>(config, param));
  output = register_module("output", std::make_shared<BertOutput>(config, param));
}

Tensor BertLayer::forward(const Tensor& h, const Tensor& key_padding_mask) {
  const Tensor a = attention->forward(h, key_padding_mask);
  if (!feed_forward_) return output->add_and_norm(output->dense->forward(intermediate->forward(a)), a);
  const Tensor f = feed_forward_(a);
  check(f.defined() && f.shape() == a.shape() && f.dtype() == a.dtype(),
        "BertLayer: the replaced feed-forward block ({}) maps {} {} to {} {}; it must keep the "
        "shape and dtype",
        feed_forward_module_->type_name(), a.shape(), a.dtype(),
        f.defined() ? fmt::format("{}", f.shape()) : "undefined",
        f.defined() ? dtype_name(f.dtype()) : "");
  return output->add_and_norm(f, a);
}

void BertLayer::replace_feed_forward(std::shared_ptr<Module> module, FeedForward fn) {
  check(module != nullptr && fn != nullptr, "BertLayer::replace_feed_forward: null module or function");
  if (feed_forward_module_) {
    unregister_module("feed_forward");
  } else {
    unregister_module("intermediate");
    intermediate.reset();
    output->remove_dense();
  }
  module->train(is_training());
  feed_forward_module_ = register_module("feed_forward", std::move(module));
  feed_forward_ = std::move(fn);
}

Linear& BertLayer::intermediate_dense() const {
  check(intermediate != nullptr,
        "BertLayer: the feed-forward block was replaced ({}); intermediate.dense no longer exists",
        feed_forward_module_ ? feed_forward_module_->type_name() : "?");
  return *intermediate->dense;
}

Linear& BertLayer::output_dense() const {
  check(output->dense != nullptr,
        "BertLayer: the feed-forward block was replaced ({}); output.dense no longer exists",
        feed_forward_module_ ? feed_forward_module_->type_name() : "?");
  return *output->dense;
}

// ---------------------------------------------------------------- encoder, pooler

namespace {
// Hugging Face's nn.ModuleList: children named "0", "1", ...
class BertLayerList : public Module {
 public:
  void push_back(std::shared_ptr<BertLayer> layer) {
    register_module(std::to_string(named_children().size()), std::move(layer));
  }
  std::string type_name() const override { return "ModuleList"; }
};
}  // namespace

BertEncoder::BertEncoder(const BertConfig& config, const ParamOptions& param) {
  auto list = register_module("layer", std::make_shared<BertLayerList>());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers.push_back(std::make_shared<BertLayer>(config, param));
    list->push_back(layers.back());
  }
}

Tensor BertEncoder::forward(const Tensor& h, const Tensor& key_padding_mask) {
  Tensor x = h;
  for (const auto& layer : layers) x = layer->forward(x, key_padding_mask);
  return x;
}

BertPooler::BertPooler(const BertConfig& config, const ParamOptions& param) {
  dense = register_module("dense", std::make_shared<Linear>(config.hidden_size, config.hidden_size, true, param));
}

Tensor BertPooler::forward(const Tensor& last_hidden_state) {
  return tanh(dense->forward(select(last_hidden_state, 1, 0)));
}

// ---------------------------------------------------------------- BertModel

BertModel::BertModel(const BertConfig& config_, const ParamOptions& param)
    : config(validated(config_)) {
  embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(config, param));
  encoder = register_module("encoder", std::make_shared<BertEncoder>(config, param));
  pooler = register_module("pooler", std::make_shared<BertPooler>(config, param));
  init_bert_weights(*this, config.initializer_range, param.generator);
}

namespace {

// Checks an i64 [B, L] index tensor against [0, limit) and returns nothing; names the argument.
void check_ids(const Tensor& ids, const char* name, const Shape& shape, int64_t limit,
               const char* limit_name) {
  check(ids.dtype() == DType::i64, "BertModel: {} must be i64, got {} {}", name, ids.dtype(),
        ids.shape());
  check(ids.shape() == shape, "BertModel: {} has shape {}, input_ids {}", name, ids.shape(), shape);
  const std::vector<int64_t> values = ids.to_vector<int64_t>();
  for (size_t i = 0; i < values.size(); ++i) {
    check(values[i] >= 0 && values[i] < limit,
          "BertModel: {} {} holds {} at flat index {}, outside [0, {} = {})", name, ids.shape(),
          values[i], i, limit_name, limit);
  }
}

// attention_mask [B, L] (i64 or bool, 1 = token) -> key_padding_mask bool [B, L] (true = pad), or
// undefined when nothing is padded.
Tensor key_padding_mask_of(const Tensor& attention_mask, const Shape& shape) {
  if (!attention_mask.defined()) return Tensor();
  check(attention_mask.dtype() == DType::i64 || attention_mask.dtype() == DType::b8,
        "BertModel: attention_mask must be i64 or bool, got {} {}", attention_mask.dtype(),
        attention_mask.shape());
  check(attention_mask.shape() == shape, "BertModel: attention_mask has shape {}, input_ids {}",
        attention_mask.shape(), shape);
  const std::vector<int64_t> values = attention_mask.to_vector<int64_t>();
  const int64_t B = shape[0], L = shape[1];
  bool any_padding = false;
  for (int64_t b = 0; b < B; ++b) {
    int64_t kept = 0;
    for (int64_t j = 0; j < L; ++j) {
      const int64_t m = values[static_cast<size_t>(b * L + j)];
      check(m == 0 || m == 1, "BertModel: attention_mask {} holds {} at [{}, {}]; expected 0 or 1",
            shape, m, b, j);
      kept += m;
    }
    check(kept > 0, "BertModel: attention_mask {} masks every position of sequence {}", shape, b);
    any_padding = any_padding || kept < L;
  }
  if (!any_padding) return Tensor();
  return attention_mask.dtype() == DType::b8 ? logical_not(attention_mask) : eq(attention_mask, 0.0);
}

}  // namespace

BertModelOutput BertModel::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                   const Tensor& token_type_ids) {
  check(input_ids.defined(), "BertModel: input_ids is undefined");
  check(input_ids.dim() == 2 && input_ids.shape()[0] > 0 && input_ids.shape()[1] > 0,
        "BertModel: input_ids must be [B, L] with B, L > 0, got {}", input_ids.shape());
  const Shape shape = input_ids.shape();
  check(shape[1] <= config.max_position_embeddings,
        "BertModel: input_ids {} is longer than max_position_embeddings = {}", shape,
        config.max_position_embeddings);
  check_ids(input_ids, "input_ids", shape, config.vocab_size, "vocab_size");
  if (token_type_ids.defined())
    check_ids(token_type_ids, "token_type_ids", shape, config.type_vocab_size, "type_vocab_size");
  const Tensor key_padding_mask = key_padding_mask_of(attention_mask, shape);

  BertModelOutput out;
  out.last_hidden_state = encoder->forward(embeddings->forward(input_ids, token_type_ids), key_padding_mask);
  out.pooler_output = pooler->forward(out.last_hidden_state);
  return out;
}

std::string BertModel::extra_repr() const {
  return fmt::format("layers={}, hidden={}, heads={}, intermediate={}, vocab={}, act={}",
                     config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                     config.intermediate_size, config.vocab_size,
                     bert_activation_name(config.hidden_act));
}

// ---------------------------------------------------------------- classification head

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& config,
                                                             int64_t num_labels,
                                                             const ParamOptions& param)
    : num_labels(num_labels) {
  check(num_labels > 0 && num_labels <= (int64_t{1} << 20),
        "BertForSequenceClassification: num_labels = {} must be in [1, 2^20]", num_labels);
  bert = register_module("bert", std::make_shared<BertModel>(config, param));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.hidden_dropout_prob));
  classifier = register_module("classifier", std::make_shared<Linear>(config.hidden_size, num_labels, true, param));
  init::normal_(classifier->weight, 0.0, config.initializer_range, param.generator);
  init::zeros_(classifier->bias);
}

Tensor BertForSequenceClassification::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                              const Tensor& token_type_ids) {
  const Tensor pooled = bert->forward(input_ids, attention_mask, token_type_ids).pooler_output;
  return classifier->forward(dropout->forward(pooled));
}

Tensor BertForSequenceClassification::loss(const Tensor& logits, const Tensor& labels) const {
  check(logits.defined() && labels.defined() && logits.dim() == 2 &&
            logits.shape()[1] == num_labels && labels.dim() == 1 &&
            labels.shape()[0] == logits.shape()[0],
        "BertForSequenceClassification::loss: expected logits [B, {}] and labels [B], got {} and {}",
        num_labels, logits.defined() ? logits.shape() : Shape{}, labels.defined() ? labels.shape() : Shape{});
  if (num_labels == 1) {
    check(labels.dtype() == logits.dtype(),
          "BertForSequenceClassification::loss: regression targets {} must be {} like the logits",
          labels.dtype(), logits.dtype());
    return mse_loss(reshape(logits, {logits.shape()[0]}), labels);
  }
  check(labels.dtype() == DType::i64,
        "BertForSequenceClassification::loss: class labels must be i64, got {}", labels.dtype());
  return cross_entropy(logits, labels);
}

// ---------------------------------------------------------------- checkpoints

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Old checkpoints (converted from TensorFlow) name LayerNorm's parameters gamma and beta.
std::string modern_name(std::string name) {
  auto replace_suffix = [&](const std::string& from, const std::string& to) {
    if (name.size() >= from.size() && name.compare(name.size() - from.size(), from.size(), from) == 0)
      name = name.substr(0, name.size() - from.size()) + to;
  };
  replace_suffix("LayerNorm.gamma", "LayerNorm.weight");
  replace_suffix("LayerNorm.beta", "LayerNorm.bias");
  return name;
}

}  // namespace

namespace {

// load_bert_weights on a checkpoint already read from `path`.
void load_bert_state(BertModel& model, const StateDict& file, const std::string& path) {
  bool prefixed = false;
  for (const auto& [name, _] : file) prefixed = prefixed || starts_with(name, "bert.");

  StateDict state;  // the checkpoint under the model's names
  for (const auto& [raw_name, tensor] : file) {
    std::string name = raw_name;
    if (prefixed) {
      // The masked-LM / next-sentence pre-training heads, and a task head (which
      // load_pretrained_bert_for_classification reads itself).
      if (starts_with(name, "cls.") || starts_with(name, "classifier.")) continue;
      if (starts_with(name, "bert.")) name = name.substr(5);
    }
    if (name == "embeddings.position_ids") continue;  // a buffer of arange(max_positions)
    state[modern_name(name)] = tensor;
  }

  const DType dtype = model.dtype();
  for (const auto& [name, parameter] : model.named_parameters()) {
    const auto it = state.find(name);
    check(it != state.end(), "load_pretrained_bert: {} has no tensor '{}' (the model expects {})",
          path, name, parameter.shape());
    check(it->second.shape() == parameter.shape(),
          "load_pretrained_bert: {}: '{}' has shape {} in the checkpoint, but the config gives {}",
          path, name, it->second.shape(), parameter.shape());
    check(it->second.dtype() == DType::f32 || it->second.dtype() == DType::f64,
          "load_pretrained_bert: {}: '{}' has dtype {}; expected floating point", path, name,
          it->second.dtype());
    if (it->second.dtype() != dtype) it->second = to_dtype(it->second, dtype);
  }
  const auto expected = model.state_dict();
  for (const auto& [name, tensor] : state) {
    check(expected.count(name) != 0,
          "load_pretrained_bert: {} holds '{}' {}, which is no parameter of this BertModel", path,
          name, tensor.shape());
  }
  model.load_state_dict(state, /*strict=*/true);
}

}  // namespace

void load_bert_weights(BertModel& model, const std::string& path) {
  load_bert_state(model, load_safetensors(path), path);
}

std::shared_ptr<BertModel> load_pretrained_bert(const std::string& dir, const ParamOptions& param) {
  const std::filesystem::path folder(dir);
  const BertConfig config = read_bert_config((folder / "config.json").string());
  const std::string weights = (folder / "model.safetensors").string();
  check(std::filesystem::is_regular_file(weights), "load_pretrained_bert: {} does not exist",
        weights);
  // The fresh model's random init is overwritten; a fixed generator keeps it from consuming the
  // caller's default stream.
  Generator init_generator(0);
  ParamOptions build = param;
  if (!build.generator) build.generator = &init_generator;
  auto model = std::make_shared<BertModel>(config, build);
  load_bert_weights(*model, weights);
  model->eval();
  return model;
}

std::shared_ptr<BertForSequenceClassification> load_pretrained_bert_for_classification(
    const std::string& dir, int64_t num_labels, const ParamOptions& param) {
  const std::filesystem::path folder(dir);
  const BertConfig config = read_bert_config((folder / "config.json").string());
  const std::string weights = (folder / "model.safetensors").string();
  check(std::filesystem::is_regular_file(weights), "load_pretrained_bert: {} does not exist",
        weights);
  auto model = std::make_shared<BertForSequenceClassification>(config, num_labels, param);
  const StateDict file = load_safetensors(weights);
  // A fine-tuned checkpoint's head (Hugging Face names classifier.weight, classifier.bias) is
  // loaded when it has num_labels outputs; a base checkpoint has none and the head stays fresh.
  StateDict head;
  for (const char* name : {"weight", "bias"}) {
    const auto it = file.find(std::string("classifier.") + name);
    if (it == file.end()) continue;
    const Shape expected = std::string(name) == "weight"
                               ? Shape{num_labels, config.hidden_size}
                               : Shape{num_labels};
    check(it->second.shape() == expected && is_floating(it->second.dtype()),
          "load_pretrained_bert_for_classification: {}: 'classifier.{}' is {} {}, but {} labels "
          "need {}",
          weights, name, it->second.dtype(), it->second.shape(), num_labels, expected);
    head[name] = to_dtype(it->second, model->classifier->weight.dtype());
  }
  check(head.empty() || head.size() == 2,
        "load_pretrained_bert_for_classification: {} holds only one of classifier.weight and "
        "classifier.bias",
        weights);
  load_bert_state(*model->bert, file, weights);
  if (!head.empty()) model->classifier->load_state_dict(head);
  return model;
}

std::string default_model_dir() {
  if (const char* dir = std::getenv("DG_MODEL_DIR"); dir && *dir) return dir;
  std::filesystem::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    cache = xdg;
  } else {
    const char* home = std::getenv("HOME");
    cache = std::filesystem::path(home && *home ? home : ".") / ".cache";
  }
  return (cache / "dyngrad" / "models" / "all-MiniLM-L6-v2").string();
}

bool pretrained_model_available(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path folder(dir);
  return std::filesystem::is_regular_file(folder / "config.json", ec) &&
         std::filesystem::is_regular_file(folder / "model.safetensors", ec);
}

// ---------------------------------------------------------------- sentence embeddings

Tensor mean_pool(const Tensor& hidden, const Tensor& attention_mask) {
  check(hidden.defined() && attention_mask.defined() && hidden.dim() == 3 &&
            attention_mask.dim() == 2 && attention_mask.shape()[0] == hidden.shape()[0] &&
            attention_mask.shape()[1] == hidden.shape()[1],
        "mean_pool: expected hidden [B, L, d] and attention_mask [B, L], got {} and {}",
        hidden.defined() ? hidden.shape() : Shape{},
        attention_mask.defined() ? attention_mask.shape() : Shape{});
  check(is_floating(hidden.dtype()), "mean_pool: hidden must be floating point, got {}",
        hidden.dtype());
  const Tensor mask = to_dtype(attention_mask, hidden.dtype());                 // [B, L]
  const Tensor summed = sum(mul(hidden, unsqueeze(mask, -1)), {1});              // [B, d]
  const Tensor counts = clamp(sum(mask, {1}, /*keepdim=*/true), 1e-9, std::nullopt);  // [B, 1]
  return div(summed, counts);
}

Tensor sentence_embeddings(BertModel& model, const Tensor& input_ids, const Tensor& attention_mask) {
  const Tensor pooled = mean_pool(model.forward(input_ids, attention_mask).last_hidden_state,
                                  attention_mask.defined() ? attention_mask : ones_like(input_ids));
  // F.normalize: x / max(||x||_2, 1e-12).
  const Tensor norms = clamp(norm(pooled, 2.0, {1}, /*keepdim=*/true), 1e-12, std::nullopt);
  return div(pooled, norms);
}

}  // namespace dg::nn
