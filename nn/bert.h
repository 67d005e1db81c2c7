// BERT: the encoder of Devlin et al. 2019 laid out as Hugging Face's BertModel, child for child,
// so that a Hugging Face `model.safetensors` loads into it by name (nn::load_safetensors):
//
//   embeddings.{word_embeddings, position_embeddings, token_type_embeddings}.weight
//   embeddings.LayerNorm.{weight, bias}
//   encoder.layer.N.attention.self.{query, key, value}.{weight, bias}
//   encoder.layer.N.attention.output.{dense, LayerNorm}.{weight, bias}
//   encoder.layer.N.intermediate.dense.{weight, bias}
//   encoder.layer.N.output.{dense, LayerNorm}.{weight, bias}
//   pooler.dense.{weight, bias}
//
// The equations (post-LN, as the paper and Hugging Face):
//   e  = LayerNorm(word[ids] + position[0..L) + token_type[types]),  dropout
//   a  = LayerNorm(h + dropout(dense(MultiHead(h W_q, h W_k, h W_v; padded keys masked))))
//   h' = LayerNorm(a + dropout(FFN(a))),  FFN(a) = output.dense(act(intermediate.dense(a)))
//   pooler_output = tanh(pooler.dense(h_L[:, 0]))
// Dropout is active in training mode only (Module::train / eval).
//
// The feed-forward block of any layer can be replaced by another module mapping hidden states
// to hidden states (BertLayer::replace_feed_forward), e.g. a mixture of experts upcycled from the
// dense FFN (dynamic/moe/moe_layer.h); the layer then computes output.LayerNorm(a + dropout(
// ffn(a))), keeping output.LayerNorm under its Hugging Face name.
//
// load_pretrained_bert reads a BERT-format folder (config.json + model.safetensors); sentence
// embeddings are mean pooling over the attention mask followed by L2 normalisation, as
// sentence-transformers' models (all-MiniLM-L6-v2, which scripts/fetch-model.sh installs) do.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/basic.h"
#include "nn/bert_config.h"
#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/normalization.h"

namespace dg::nn {

// ---------------------------------------------------------------- the layers

class BertEmbeddings : public Module {
 public:
  explicit BertEmbeddings(const BertConfig& config, const ParamOptions& param = {});
  // input_ids and token_type_ids i64 [B, L] (already checked by BertModel) -> [B, L, d].
  Tensor forward(const Tensor& input_ids, const Tensor& token_type_ids);
  std::string type_name() const override { return "BertEmbeddings"; }

  std::shared_ptr<Embedding> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<LayerNorm> layer_norm;  // "LayerNorm"
  std::shared_ptr<Dropout> dropout;
};

// Multi-head scaled dot-product attention with separate query/key/value projections.
class BertSelfAttention : public Module {
 public:
  explicit BertSelfAttention(const BertConfig& config, const ParamOptions& param = {});
  // h [B, L, d], key_padding_mask bool [B, L] (true = padding; may be undefined) -> [B, L, d],
  // the heads merged (before the output projection).
  Tensor forward(const Tensor& h, const Tensor& key_padding_mask);
  std::string type_name() const override { return "BertSelfAttention"; }
  std::string extra_repr() const override;

  const int64_t num_heads, head_dim;
  const double attention_dropout;
  std::shared_ptr<Linear> query, key, value;
};

// dense + dropout + residual + LayerNorm after the attention ("attention.output").
class BertSelfOutput : public Module {
 public:
  explicit BertSelfOutput(const BertConfig& config, const ParamOptions& param = {});
  // LayerNorm(residual + dropout(dense(x))).
  Tensor forward(const Tensor& x, const Tensor& residual);
  std::string type_name() const override { return "BertSelfOutput"; }

  std::shared_ptr<Linear> dense;
  std::shared_ptr<LayerNorm> layer_norm;  // "LayerNorm"
  std::shared_ptr<Dropout> dropout;
};

class BertAttention : public Module {
 public:
  explicit BertAttention(const BertConfig& config, const ParamOptions& param = {});
  Tensor forward(const Tensor& h, const Tensor& key_padding_mask);
  std::string type_name() const override { return "BertAttention"; }

  std::shared_ptr<BertSelfAttention> self;
  std::shared_ptr<BertSelfOutput> output;
};

// The FFN's first half: act(dense(x)), dense d -> intermediate_size ("intermediate").
class BertIntermediate : public Module {
 public:
  explicit BertIntermediate(const BertConfig& config, const ParamOptions& param = {});
  Tensor forward(const Tensor& x);
  std::string type_name() const override { return "BertIntermediate"; }
  std::string extra_repr() const override;

  const BertActivation activation;
  std::shared_ptr<Linear> dense;
};

// The FFN's second half and the block's residual + LayerNorm ("output"). `dense` is null once the
// layer's feed-forward block has been replaced.
class BertOutput : public Module {
 public:
  explicit BertOutput(const BertConfig& config, const ParamOptions& param = {});
  // LayerNorm(residual + dropout(ffn_out)).
  Tensor add_and_norm(const Tensor& ffn_out, const Tensor& residual);
  std::string type_name() const override { return "BertOutput"; }

  std::shared_ptr<Linear> dense;
  std::shared_ptr<LayerNorm> layer_norm;  // "LayerNorm"
  std::shared_ptr<Dropout> dropout;

 private:
  friend class BertLayer;
  void remove_dense();
};

class BertLayer : public Module {
 public:
  // A feed-forward block other than the dense one: hidden states [B, L, d] -> [B, L, d].
  using FeedForward = std::function<Tensor(const Tensor&)>;

  explicit BertLayer(const BertConfig& config, const ParamOptions& param = {});
  // h [B, L, d] -> [B, L, d].
  Tensor forward(const Tensor& h, const Tensor& key_padding_mask);
  std::string type_name() const override { return "BertLayer"; }

  // Replaces the dense FFN (intermediate.dense, act, output.dense) by `module`, registered under
  // "feed_forward" and called through `fn`; the dense FFN's parameters leave the state dict.
  void replace_feed_forward(std::shared_ptr<Module> module, FeedForward fn);
  // The same for any module with forward(const Tensor&) (an nn::UnaryModule, dynamic::MoE, ...).
  template <class M>
  void replace_feed_forward(std::shared_ptr<M> module) {
    M* raw = module.get();
    replace_feed_forward(std::static_pointer_cast<Module>(module),
                         [raw](const Tensor& h) { return raw->forward(h); });
  }
  bool has_dense_feed_forward() const { return feed_forward_module_ == nullptr; }
  // The dense FFN's two Linear layers (what dynamic::MoE::upcycle takes as fc1, fc2); a dg::Error
  // once the FFN has been replaced.
  Linear& intermediate_dense() const;
  Linear& output_dense() const;
  // The replacement module (null while the FFN is dense).
  const std::shared_ptr<Module>& feed_forward_module() const { return feed_forward_module_; }

  std::shared_ptr<BertAttention> attention;
  std::shared_ptr<BertIntermediate> intermediate;  // null once replaced
  std::shared_ptr<BertOutput> output;

 private:
  std::shared_ptr<Module> feed_forward_module_;
  FeedForward feed_forward_;
};

// The layers "encoder.layer.0" ... (a ModuleList in Hugging Face).
class BertEncoder : public Module {
 public:
  explicit BertEncoder(const BertConfig& config, const ParamOptions& param = {});
  Tensor forward(const Tensor& h, const Tensor& key_padding_mask);
  std::string type_name() const override { return "BertEncoder"; }

  std::vector<std::shared_ptr<BertLayer>> layers;  // children of "layer", named "0", "1", ...
};

// tanh(dense(h[:, 0])): the [CLS] token's state, transformed.
class BertPooler : public Module {
 public:
  explicit BertPooler(const BertConfig& config, const ParamOptions& param = {});
  Tensor forward(const Tensor& last_hidden_state);
  std::string type_name() const override { return "BertPooler"; }

  std::shared_ptr<Linear> dense;
};

// ---------------------------------------------------------------- the model

struct BertModelOutput {
  Tensor last_hidden_state;  // [B, L, d]
  Tensor pooler_output;      // [B, d]
};

class BertModel : public Module {
 public:
  // A freshly initialised model (Hugging Face's init: N(0, initializer_range) weights, zero
  // biases, LayerNorm identity); the config is validated first.
  explicit BertModel(const BertConfig& config, const ParamOptions& param = {});

  // input_ids i64 [B, L] with L <= max_position_embeddings; attention_mask [B, L] i64 or bool,
  // 1 = token, 0 = padding (undefined: no padding), every row holding at least one token;
  // token_type_ids i64 [B, L] (undefined: zeros). Padded keys are masked in every attention.
  BertModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                          const Tensor& token_type_ids = Tensor());
  BertModelOutput operator()(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                             const Tensor& token_type_ids = Tensor()) {
    return forward(input_ids, attention_mask, token_type_ids);
  }

  std::string type_name() const override { return "BertModel"; }
  std::string extra_repr() const override;
  DType dtype() const { return embeddings->word_embeddings->weight.dtype(); }

  const BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  std::shared_ptr<BertEncoder> encoder;
  std::shared_ptr<BertPooler> pooler;
};

// BertModel + dropout + Linear(d, num_labels) on pooler_output (Hugging Face's
// BertForSequenceClassification: names bert.*, classifier.*). num_labels == 1 is regression.
class BertForSequenceClassification : public Module {
 public:
  BertForSequenceClassification(const BertConfig& config, int64_t num_labels,
                                const ParamOptions& param = {});
  // The logits [B, num_labels]; arguments as BertModel::forward.
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                 const Tensor& token_type_ids = Tensor());
  // Cross-entropy with i64 class labels [B] (num_labels > 1), mean squared error with float
  // targets [B] of the logits' dtype (num_labels == 1).
  Tensor loss(const Tensor& logits, const Tensor& labels) const;

  std::string type_name() const override { return "BertForSequenceClassification"; }

  const int64_t num_labels;
  std::shared_ptr<BertModel> bert;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> classifier;
};

// ---------------------------------------------------------------- pretrained checkpoints

// Builds a BertModel from dir/config.json and fills it from dir/model.safetensors.
std::shared_ptr<BertModel> load_pretrained_bert(const std::string& dir,
                                                const ParamOptions& param = {});
// A classifier whose encoder comes from dir (as load_pretrained_bert); its head too when the
// checkpoint holds classifier.weight [num_labels, d] and classifier.bias (a fine-tuned Hugging
// Face BertForSequenceClassification), else a fresh head.
std::shared_ptr<BertForSequenceClassification> load_pretrained_bert_for_classification(
    const std::string& dir, int64_t num_labels, const ParamOptions& param = {});

// Copies a safetensors checkpoint into `model`. Names are Hugging Face's; a "bert." prefix (as
// bert-base-uncased and task checkpoints carry) is stripped, the "cls.*" pre-training heads and
// the "embeddings.position_ids" buffer are ignored (and "classifier.*" beside "bert.*" names), and old "LayerNorm.gamma/beta" names read as
// weight/bias. Every name and shape is checked before anything is copied: the first mismatch, in
// the model's parameter order (a missing tensor, a shape that disagrees with the config), then an
// unexpected name in sorted order, is a dg::Error naming the file and the tensor, and the model is
// left unchanged. Values are converted to the model's dtype.
void load_bert_weights(BertModel& model, const std::string& safetensors_path);

// $DG_MODEL_DIR when set, else ${XDG_CACHE_HOME:-$HOME/.cache}/dyngrad/models/all-MiniLM-L6-v2,
// where scripts/fetch-model.sh installs the model.
std::string default_model_dir();
// Whether dir holds config.json and model.safetensors.
bool pretrained_model_available(const std::string& dir);

// ---------------------------------------------------------------- sentence embeddings

// The mean of hidden [B, L, d] over the positions where attention_mask [B, L] (i64, bool or
// float) is non-zero -> [B, d] (sentence-transformers' mean pooling).
Tensor mean_pool(const Tensor& hidden, const Tensor& attention_mask);
// mean_pool of the model's last hidden state, L2-normalised per row -> [B, d].
Tensor sentence_embeddings(BertModel& model, const Tensor& input_ids, const Tensor& attention_mask);

}  // namespace dg::nn
