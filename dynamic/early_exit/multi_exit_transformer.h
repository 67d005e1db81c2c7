// A multi-exit transformer text classifier (DeeBERT / PABEE / FastBERT over a BERT-style encoder):
// token and learned position embeddings, `layers` encoder layers (nn::TransformerEncoderLayer,
// post-LN as BERT or pre-LN), and after every layer an exit: the mean of the layer's output over
// the real (unpadded) tokens, then an ExitHead. Padding never reaches a real token: the
// key-padding mask removes padded keys from every attention and the pooling averages real tokens
// only, so a sample's logits do not depend on what else is in its batch (which batched early exit
// relies on).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dynamic/early_exit/multi_exit.h"
#include "nn/basic.h"
#include "nn/transformer.h"

namespace dg::dynamic::early_exit {

struct MultiExitTransformerOptions {
  int64_t vocab_size = 0;
  int64_t max_length = 32;
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t layers = 6;
  int64_t dim_feedforward = 128;
  int64_t classes = 2;
  double dropout = 0.1;
  bool norm_first = true;   // pre-LN: each head then normalises its input (ExitHead's layer_norm)
  int64_t pad_id = 0;       // the padding token's id (its embedding row stays zero)
  int64_t pooler_features = 0;     // ExitHeadOptions::pooler_features
  bool learned_exit_score = false;  // add BERxiT's LTE module
  Generator* dropout_generator = nullptr;
};

class MultiExitTransformer : public MultiExitModel {
 public:
  explicit MultiExitTransformer(const MultiExitTransformerOptions& options,
                                const nn::ParamOptions& param = {});

  // ids i64 [B, L] (L <= max_length), mask bool [B, L] true at real tokens (undefined: all real).
  ExitState begin(const Tensor& ids, const Tensor& mask) override;
  ExitState run_block(int64_t index, const ExitState& state) override;
  Tensor pool(int64_t index, const ExitState& state) override;
  std::vector<Tensor> backbone_parameters() const override;
  std::string type_name() const override { return "MultiExitTransformer"; }

  const MultiExitTransformerOptions options;
  std::shared_ptr<nn::Embedding> token_embedding, position_embedding;
  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> layers;
};

}  // namespace dg::dynamic::early_exit
