// BertConfig: the sizes and settings of a BERT-family encoder, read from a Hugging Face
// `config.json` (the file beside `model.safetensors` in a BERT-format model folder). The field
// names are Hugging Face's BertConfig fields. The five sizes are required; the others take
// BertConfig's defaults when absent (as Hugging Face does), so configs written by older versions
// load too.
//
// Every value is checked when read: a missing file, malformed JSON, a missing size, a wrong type
// or a value out of range (non-positive sizes, hidden_size not divisible by num_attention_heads,
// an unknown activation, a probability outside [0, 1), sizes beyond the caps below, which keep a
// corrupt or hostile config from allocating without bound) is a dg::Error naming the file and
// the field.
#pragma once

#include <cstdint>
#include <string>

namespace dg::nn {

// The feed-forward activation: Hugging Face's "gelu" is the exact erf GELU; "gelu_new",
// "gelu_pytorch_tanh" (and "gelu_fast") its tanh approximation; "relu".
enum class BertActivation { gelu, gelu_tanh, relu };

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  BertActivation hidden_act = BertActivation::gelu;
  double layer_norm_eps = 1e-12;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double initializer_range = 0.02;  // std of the N(0, std) initialisation of a fresh model

  // Throws a dg::Error naming `source` (a file name, or "BertConfig") and the first field out of
  // range.
  void validate(const std::string& source = "BertConfig") const;
  // Parameters of a BertModel of this config (embeddings, layers and pooler).
  int64_t num_parameters() const;
};

// The caps validate() applies. The largest public BERT-family checkpoints stay far below them.
struct BertConfigLimits {
  static constexpr int64_t max_vocab_size = int64_t{1} << 22;          // 4M tokens
  static constexpr int64_t max_hidden_size = 1 << 14;                  // 16384
  static constexpr int64_t max_layers = 256;
  static constexpr int64_t max_intermediate_size = 1 << 17;            // 131072
  static constexpr int64_t max_position_embeddings = 1 << 16;          // 65536
  static constexpr int64_t max_type_vocab_size = 1 << 10;
  static constexpr int64_t max_parameters = int64_t{4} << 30;          // 4G (16 GB in f32)
};

// Reads and validates a config.json.
BertConfig read_bert_config(const std::string& path);
// The activation's Hugging Face name ("gelu", "gelu_new", "relu").
std::string bert_activation_name(BertActivation activation);

}  // namespace dg::nn
