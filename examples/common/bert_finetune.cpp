// Fine-tuning the top of a pretrained BERT-family encoder (see bert_finetune.h).
#include "examples/common/bert_finetune.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "datasets/wordnet.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "partition/compact_moe.h"
#include "partition/partially_dynamic_moe.h"

namespace dg::experiment {

// ---------------------------------------------------------------- data

nn::StateDict snapshot(const nn::Module& module) {
  nn::StateDict copy;
  for (const auto& [name, t] : module.state_dict()) copy[name] = t.clone();
  return copy;
}

std::optional<PretrainedEncoder> load_pretrained_encoder(const std::string& dir, bool needs_wordnet) {
  if (needs_wordnet && !data::wordnet_available()) {
    std::printf("WordNet is not installed (Debian package wordnet-base)\n");
    return std::nullopt;
  }
  const std::string vocab = dir + "/vocab.txt";
  if (!nn::pretrained_model_available(dir) || !std::filesystem::exists(vocab)) {
    std::printf(
        "no pretrained model in %s (config.json, model.safetensors, vocab.txt): run "
        "scripts/fetch-model.sh, or pass --model DIR\n",
        dir.c_str());
    return std::nullopt;
  }
  auto model = nn::load_pretrained_bert(dir);
  model->eval();
  for (Tensor& p : model->parameters()) p.set_requires_grad(false);
  nn::StateDict state = snapshot(*model);
  return PretrainedEncoder{model, data::WordPieceTokenizer::load(vocab), std::move(state)};
}

namespace {

data::TextDataset first_examples(const data::TextDataset& split, int64_t count) {
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < std::min(count, split.size()); ++i) indices.push_back(i);
  return split.subset(indices);
}

// Tokenizes `split` (padded to its longest example, at most max_length) and runs the embeddings
// and the frozen layers over it in batches of 64, without building a graph.
FrozenFeatures frozen_features(PretrainedEncoder& encoder, const data::TextDataset& split,
                               bool sentence_pair, const TaskScale& scale, int64_t* truncated) {
  const data::EncodeOptions encode{.max_length = scale.max_length,
                                   .padding = data::Padding::longest};
  data::WordPieceBatch batch;
  if (sentence_pair) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& e : split.examples) {
      check(e.texts.size() == 2, "prepare_task: a pair task's example has {} texts", e.texts.size());
      pairs.emplace_back(e.texts[0], e.texts[1]);
      if (static_cast<int64_t>(encoder.tokenizer.encode(e.texts[0], e.texts[1]).input_ids.size()) >
          scale.max_length)
        ++*truncated;
    }
    batch = encoder.tokenizer.encode_batch(pairs, encode);
  } else {
    std::vector<std::string> texts;
    for (const auto& e : split.examples) {
      check(e.texts.size() == 1, "prepare_task: a single-text task's example has {} texts",
            e.texts.size());
      texts.push_back(e.texts[0]);
      if (static_cast<int64_t>(encoder.tokenizer.encode(e.texts[0]).input_ids.size()) >
          scale.max_length)
        ++*truncated;
    }
    batch = encoder.tokenizer.encode_batch(texts, encode);
  }

  FrozenFeatures out;
  out.padding = eq(batch.attention_mask, 0.0);
  out.lengths = sum(batch.attention_mask, {1});
  if (split.regression) {
    std::vector<float> values;
    for (const auto& e : split.examples) values.push_back(static_cast<float>(e.value));
    out.labels = from_vector(values);
  } else {
    std::vector<int64_t> labels;
    for (const auto& e : split.examples) labels.push_back(e.label);
    out.labels = from_vector(labels);
  }

  NoGradGuard no_grad;
  nn::BertModel& model = *encoder.model;
  std::vector<Tensor> chunks;
  const int64_t n = split.size();
  for (int64_t start = 0; start < n; start += 64) {
    const int64_t count = std::min<int64_t>(64, n - start);
    Tensor h = model.embeddings->forward(batch.input_ids.narrow(0, start, count),
                                         batch.token_type_ids.narrow(0, start, count));
    const Tensor padding = out.padding.narrow(0, start, count);
    for (int64_t l = 0; l < scale.frozen_layers; ++l)
      h = model.encoder->layers[static_cast<size_t>(l)]->forward(h, padding);
    chunks.push_back(h);
  }
  out.hidden = cat(chunks, 0);
  return out;
}

}  // namespace

TaskFeatures prepare_task(PretrainedEncoder& encoder, const data::TextTaskData& data,
                          const TaskScale& scale) {
  const int64_t layers = encoder.model->config.num_hidden_layers;
  check(scale.frozen_layers >= 0 && scale.frozen_layers < layers,
        "prepare_task: {} frozen layers of {} (at least one layer must be tuned)",
        scale.frozen_layers, layers);
  TaskFeatures out;
  out.task = data.task;
  const data::TextDataset train = first_examples(data.splits.train, scale.max_train_examples);
  out.test_truth = first_examples(data.splits.test, scale.max_test_examples);
  out.train = frozen_features(encoder, train, data.task.sentence_pair, scale, &out.truncated);
  out.test = frozen_features(encoder, out.test_truth, data.task.sentence_pair, scale,
                             &out.truncated);
  out.positions = out.test.hidden.shape()[1];
  return out;
}

// ---------------------------------------------------------------- the tuned model

TunedTop::TunedTop(const nn::BertModel& encoder, const nn::StateDict& pretrained,
                   int64_t first_layer, int64_t num_labels, uint64_t head_seed) {
  const nn::BertConfig& config = encoder.config;
  for (int64_t l = first_layer; l < config.num_hidden_layers; ++l) {
    auto layer = std::make_shared<nn::BertLayer>(config);
    // The pretrained layer's tensors under this layer's names.
    nn::StateDict state;
    const std::string prefix = fmt::format("encoder.layer.{}.", l);
    for (const auto& [name, t] : pretrained)
      if (name.starts_with(prefix)) state[name.substr(prefix.size())] = t.clone();
    layer->load_state_dict(state);
    register_module(std::to_string(layers.size()), layer);
    layers.push_back(layer);
  }
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config.hidden_dropout_prob));
  Generator head_generator(head_seed);
  classifier = register_module(
      "classifier", std::make_shared<nn::Linear>(config.hidden_size, num_labels, true,
                                                 nn::ParamOptions{.generator = &head_generator}));
}

Tensor TunedTop::forward(const Tensor& hidden, const Tensor& padding) {
  Tensor h = hidden;
  for (auto& layer : layers) h = layer->forward(h, padding);
  const Tensor pooled = nn::mean_pool(h, logical_not(padding));
  return classifier->forward(dropout->forward(pooled));
}

Tensor TunedTop::aux_loss() const {
  Tensor total;
  for (const auto& loss : aux_losses) {
    const Tensor value = loss();
    if (value.defined()) total = total.defined() ? total + value : value;
  }
  return total;
}

void replace_feed_forwards(TunedTop& top, FeedForwardKind kind, const MoESettings& settings,
                           uint64_t seed) {
  if (kind == FeedForwardKind::dense) return;
  Generator router_generator(seed);
  for (auto& layer : top.layers) {
    const int64_t d = layer->intermediate_dense().in_features;
    auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(
        d, settings.experts, settings.top_k,
        dynamic::SoftmaxTopKOptions{.load_balancing_coefficient = settings.load_balancing},
        nn::ParamOptions{.generator = &router_generator});
    const dynamic::MoEOptions moe{.activation = dynamic::ExpertActivation::gelu};
    if (kind == FeedForwardKind::moe) {
      auto block = dynamic::MoE::upcycle(layer->intermediate_dense(), layer->output_dense(), gate, moe);
      dynamic::MoE* raw = block.get();
      layer->replace_feed_forward(block, [raw](const Tensor& h) {
        return raw->forward(h.reshape({-1, h.shape()[2]})).reshape(h.shape());
      });
      top.aux_losses.push_back([raw] { return raw->aux_loss(); });
    } else {
      auto block = partition::PartiallyDynamicMoE::upcycle(layer->intermediate_dense(),
                                                           layer->output_dense(), gate, moe);
      partition::PartiallyDynamicMoE* raw = block.get();
      layer->replace_feed_forward(block, [raw](const Tensor& h) {
        return raw->forward(h.reshape({-1, h.shape()[2]})).reshape(h.shape());
      });
      top.aux_losses.push_back([raw] { return raw->aux_loss(); });
    }
  }
}

void wrap_moe_in_padnet(TunedTop& top, const nn::StateDict& pretrained, int64_t first_layer,
                        partition::ScaleFactors scale_factors) {
  top.aux_losses.clear();
  for (size_t i = 0; i < top.layers.size(); ++i) {
    nn::BertLayer& layer = *top.layers[i];
    auto moe = std::dynamic_pointer_cast<dynamic::MoE>(layer.feed_forward_module());
    check(moe != nullptr, "wrap_moe_in_padnet: tuned layer {} has no MoE feed-forward block", i);
    auto block = std::make_shared<partition::PartiallyDynamicMoE>(
        moe, partition::PartiallyDynamicOptions{.scale_factors = scale_factors});
    const std::string prefix = fmt::format("encoder.layer.{}.", first_layer + static_cast<int64_t>(i));
    {
      NoGradGuard no_grad;  // W_s = the pretrained FFN's weights, as [d, d_ff] and [d_ff, d]
      block->static_w1.copy_(pretrained.at(prefix + "intermediate.dense.weight").transpose(0, 1));
      block->static_w2.copy_(pretrained.at(prefix + "output.dense.weight").transpose(0, 1));
    }
    partition::PartiallyDynamicMoE* raw = block.get();
    layer.replace_feed_forward(block, [raw](const Tensor& h) {
      return raw->forward(h.reshape({-1, h.shape()[2]})).reshape(h.shape());
    });
    top.aux_losses.push_back([raw] { return raw->aux_loss(); });
  }
}

void compact_padnet(TunedTop& top) {
  top.aux_losses.clear();
  for (size_t i = 0; i < top.layers.size(); ++i) {
    nn::BertLayer& layer = *top.layers[i];
    auto source = std::dynamic_pointer_cast<partition::PartiallyDynamicMoE>(layer.feed_forward_module());
    check(source != nullptr, "compact_padnet: tuned layer {} has no PAD-Net MoE", i);
    auto block = std::make_shared<partition::CompactPartiallyDynamicMoE>(*source);
    partition::CompactPartiallyDynamicMoE* raw = block.get();
    layer.replace_feed_forward(block, [raw](const Tensor& h) {
      return raw->forward(h.reshape({-1, h.shape()[2]})).reshape(h.shape());
    });
    top.aux_losses.push_back([raw] { return raw->aux_loss(); });
  }
}

// ---------------------------------------------------------------- training

namespace {

// The examples of batch `batch` of epoch `epoch`'s order, the padding trimmed to the batch's
// longest example (padded keys are masked, so the trailing positions change nothing).
struct Batch {
  Tensor hidden, padding, labels;
};
Batch make_batch(const FrozenFeatures& data, const Tensor& order, int64_t batch, int64_t batch_size) {
  const int64_t start = batch * batch_size;
  const int64_t count = std::min(batch_size, data.size() - start);
  const Tensor index = order.narrow(0, start, count);
  const int64_t longest = static_cast<int64_t>(
      max(index_select(data.lengths, 0, index)).item<int64_t>());
  return {index_select(data.hidden, 0, index).narrow(1, 0, longest),
          index_select(data.padding, 0, index).narrow(1, 0, longest),
          index_select(data.labels, 0, index)};
}

Tensor epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  Generator generator(seed * 1000003 + static_cast<uint64_t>(epoch));
  return randperm(n, generator);
}

Tensor task_loss(const Tensor& logits, const Tensor& labels, const data::TextTask& task) {
  if (task.regression) return mse_loss(logits.squeeze(1), labels);
  return cross_entropy(logits, labels);
}

int64_t batches_per_epoch(int64_t n, int64_t batch_size) { return (n + batch_size - 1) / batch_size; }

}  // namespace

Tensor batch_loss(TunedTop& top, const FrozenFeatures& train, const data::TextTask& task,
                  int64_t batch_size, uint64_t seed, int64_t batch) {
  const Batch b = make_batch(train, epoch_order(train.size(), seed, 0),
                             batch % batches_per_epoch(train.size(), batch_size), batch_size);
  return task_loss(top.forward(b.hidden, b.padding), b.labels, task);
}

std::vector<double> finetune_epochs(TunedTop& top, const FrozenFeatures& train,
                                    const data::TextTask& task, const FinetuneSettings& settings,
                                    uint64_t seed, int64_t first_epoch, int64_t last_epoch,
                                    const std::function<void()>& after_step) {
  // Weight decay on matrices only: biases, LayerNorm and scalar factors are not pulled to zero.
  std::vector<Tensor> decayed, plain;
  for (const auto& [name, p] : top.named_parameters())
    (p.dim() >= 2 ? decayed : plain).push_back(p);
  nn::AdamWOptions options{.lr = settings.lr, .beta2 = settings.beta2,
                           .weight_decay = settings.weight_decay};
  nn::AdamWOptions no_decay = options;
  no_decay.weight_decay = 0.0;
  nn::AdamW optimizer({{decayed, options}, {plain, no_decay}});
  const int64_t per_epoch = batches_per_epoch(train.size(), settings.batch_size);
  const int64_t total = per_epoch * settings.epochs;
  nn::LrScheduler scheduler(
      optimizer, nn::linear_decay(total, 0.0,
                                  static_cast<int64_t>(settings.warmup_fraction * total)));
  for (int64_t s = 0; s < first_epoch * per_epoch; ++s) scheduler.step();

  // The dropout stream of these epochs, the same for every method of one seed.
  manual_seed(seed * 7919 + static_cast<uint64_t>(first_epoch));
  top.train();
  std::vector<double> epoch_losses;
  for (int64_t epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const Tensor order = epoch_order(train.size(), seed, epoch);
    double loss_sum = 0.0;
    for (int64_t b = 0; b < per_epoch; ++b) {
      const Batch batch = make_batch(train, order, b, settings.batch_size);
      Tensor loss = task_loss(top.forward(batch.hidden, batch.padding), batch.labels, task);
      loss_sum += loss.item<float>();
      const Tensor aux = top.aux_loss();
      if (aux.defined()) loss = loss + aux;
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      scheduler.step();
      if (after_step) after_step();
    }
    epoch_losses.push_back(loss_sum / static_cast<double>(per_epoch));
  }
  return epoch_losses;
}

Evaluation evaluate(TunedTop& top, const TaskFeatures& features) {
  NoGradGuard no_grad;
  top.eval();
  const FrozenFeatures& test = features.test;
  const Tensor order = arange(test.size());
  std::vector<int64_t> classes;
  std::vector<double> values;
  std::vector<Tensor> outputs;
  int64_t positions = 0;
  int64_t flops = 0;
  constexpr int64_t kBatch = 64;
  for (int64_t b = 0; b < batches_per_epoch(test.size(), kBatch); ++b) {
    const Batch batch = make_batch(test, order, b, kBatch);
    positions += batch.hidden.shape()[0] * batch.hidden.shape()[1];
    const FlopScope scope;
    const Tensor logits = top.forward(batch.hidden, batch.padding);
    flops += scope.count();
    outputs.push_back(logits);
    if (features.task.regression) {
      const Tensor v = logits.squeeze(1).to(DType::f64).contiguous();
      values.insert(values.end(), v.data<double>(), v.data<double>() + v.numel());
    } else {
      const Tensor c = argmax(logits, 1).contiguous();
      classes.insert(classes.end(), c.data<int64_t>(), c.data<int64_t>() + c.numel());
    }
  }
  Evaluation out;
  out.flops_per_token = static_cast<double>(flops) / static_cast<double>(positions);
  out.outputs = cat(outputs, 0);
  out.metrics = features.task.regression
                    ? data::evaluate_text_task(features.task, values, features.test_truth)
                    : data::evaluate_text_task(features.task, classes, features.test_truth);
  top.train();
  return out;
}

}  // namespace dg::experiment
