// BertConfig: see bert_config.h. nlohmann-json parses the file; every field goes through one
// reader that checks its type and range and names the file and field when it does not fit.
#include "nn/bert_config.h"

#include <fmt/format.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "engine/error.h"

namespace dg::nn {

namespace {

using Json = nlohmann::json;

// The value of an integer field; nullopt when absent and not required.
std::optional<int64_t> read_int(const Json& json, const std::string& source, const char* field,
                                bool required) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) {
    check(!required, "BertConfig: {} has no field '{}'", source, field);
    return std::nullopt;
  }
  check(it->is_number_integer() || it->is_number_unsigned(),
        "BertConfig: {}: field '{}' must be an integer, got {}", source, field, it->dump());
  check(!it->is_number_unsigned() ||
            it->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
        "BertConfig: {}: field '{}' = {} is out of range", source, field, it->dump());
  return it->get<int64_t>();
}

std::optional<double> read_double(const Json& json, const std::string& source, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) return std::nullopt;
  check(it->is_number(), "BertConfig: {}: field '{}' must be a number, got {}", source, field,
        it->dump());
  return it->get<double>();
}

BertActivation parse_activation(const Json& value, const std::string& source) {
  check(value.is_string(), "BertConfig: {}: field 'hidden_act' must be a string, got {}", source,
        value.dump());
  const auto name = value.get<std::string>();
  if (name == "gelu") return BertActivation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return BertActivation::gelu_tanh;
  if (name == "relu") return BertActivation::relu;
  throw Error(fmt::format(
      "BertConfig: {}: field 'hidden_act' = \"{}\" is not supported (gelu, gelu_new, "
      "gelu_pytorch_tanh, gelu_fast, relu)",
      source, name));
}

void check_size(int64_t value, int64_t cap, const std::string& source, const char* field) {
  check(value > 0 && value <= cap, "BertConfig: {}: field '{}' = {} must be in [1, {}]", source,
        field, value, cap);
}

}  // namespace

void BertConfig::validate(const std::string& source) const {
  using L = BertConfigLimits;
  check_size(vocab_size, L::max_vocab_size, source, "vocab_size");
  check_size(hidden_size, L::max_hidden_size, source, "hidden_size");
  check_size(num_hidden_layers, L::max_layers, source, "num_hidden_layers");
  check_size(num_attention_heads, hidden_size, source, "num_attention_heads");
  check(hidden_size % num_attention_heads == 0,
        "BertConfig: {}: hidden_size = {} is not divisible by num_attention_heads = {}", source,
        hidden_size, num_attention_heads);
  check_size(intermediate_size, L::max_intermediate_size, source, "intermediate_size");
  check_size(max_position_embeddings, L::max_position_embeddings, source,
             "max_position_embeddings");
  check_size(type_vocab_size, L::max_type_vocab_size, source, "type_vocab_size");
  check(pad_token_id >= 0 && pad_token_id < vocab_size,
        "BertConfig: {}: field 'pad_token_id' = {} must be in [0, vocab_size = {})", source,
        pad_token_id, vocab_size);
  check(layer_norm_eps > 0.0 && layer_norm_eps < 1.0,
        "BertConfig: {}: field 'layer_norm_eps' = {} must be in (0, 1)", source, layer_norm_eps);
  check(hidden_dropout_prob >= 0.0 && hidden_dropout_prob < 1.0,
        "BertConfig: {}: field 'hidden_dropout_prob' = {} must be in [0, 1)", source,
        hidden_dropout_prob);
  check(attention_probs_dropout_prob >= 0.0 && attention_probs_dropout_prob < 1.0,
        "BertConfig: {}: field 'attention_probs_dropout_prob' = {} must be in [0, 1)", source,
        attention_probs_dropout_prob);
  check(initializer_range > 0.0 && initializer_range < 10.0,
        "BertConfig: {}: field 'initializer_range' = {} must be in (0, 10)", source,
        initializer_range);
  // Each size is capped, so this product of capped values does not overflow int64.
  check(num_parameters() <= L::max_parameters,
        "BertConfig: {}: the sizes give {} parameters, more than the cap of {}", source,
        num_parameters(), L::max_parameters);
}

int64_t BertConfig::num_parameters() const {
  const int64_t d = hidden_size, f = intermediate_size;
  const int64_t embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * d + 2 * d;
  const int64_t attention = 4 * (d * d + d) + 2 * d;
  const int64_t feed_forward = (d * f + f) + (f * d + d) + 2 * d;
  const int64_t pooler = d * d + d;
  return embeddings + num_hidden_layers * (attention + feed_forward) + pooler;
}

BertConfig read_bert_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "BertConfig: cannot open '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  Json json;
  try {
    json = Json::parse(text.str());
  } catch (const Json::exception& e) {
    throw Error(fmt::format("BertConfig: {} is not valid JSON: {}", path, e.what()));
  }
  check(json.is_object(), "BertConfig: {} must hold a JSON object", path);

  BertConfig config;
  config.vocab_size = *read_int(json, path, "vocab_size", true);
  config.hidden_size = *read_int(json, path, "hidden_size", true);
  config.num_hidden_layers = *read_int(json, path, "num_hidden_layers", true);
  config.num_attention_heads = *read_int(json, path, "num_attention_heads", true);
  config.intermediate_size = *read_int(json, path, "intermediate_size", true);
  if (auto v = read_int(json, path, "max_position_embeddings", false)) config.max_position_embeddings = *v;
  if (auto v = read_int(json, path, "type_vocab_size", false)) config.type_vocab_size = *v;
  if (auto v = read_int(json, path, "pad_token_id", false)) config.pad_token_id = *v;
  if (auto v = read_double(json, path, "layer_norm_eps")) config.layer_norm_eps = *v;
  if (auto v = read_double(json, path, "hidden_dropout_prob")) config.hidden_dropout_prob = *v;
  if (auto v = read_double(json, path, "attention_probs_dropout_prob"))
    config.attention_probs_dropout_prob = *v;
  if (auto v = read_double(json, path, "initializer_range")) config.initializer_range = *v;
  if (const auto it = json.find("hidden_act"); it != json.end() && !it->is_null())
    config.hidden_act = parse_activation(*it, path);
  // Relative position embeddings are a different layer; reject rather than load them wrongly.
  if (const auto it = json.find("position_embedding_type"); it != json.end() && !it->is_null()) {
    check(it->is_string() && it->get<std::string>() == "absolute",
          "BertConfig: {}: field 'position_embedding_type' = {} is not supported (absolute only)",
          path, it->dump());
  }
  config.validate(path);
  return config;
}

std::string bert_activation_name(BertActivation activation) {
  switch (activation) {
    case BertActivation::gelu: return "gelu";
    case BertActivation::gelu_tanh: return "gelu_new";
    case BertActivation::relu: return "relu";
  }
  return "?";
}

}  // namespace dg::nn
