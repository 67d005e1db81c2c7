// Every mixture-of-experts gate of dynamic/moe side by side on one real task (issue 14, section 5):
// a small pre-LN transformer classifier of WordNet 3.0 noun glosses into their 25 supersenses (the
// task of wordnet_text), whose feed-forward block is an MoE layer (8 experts, top-2 unless the gate
// fixes k) in every other layer. For each gate and seed the run reports the test accuracy, the
// load's coefficient of variation (mean over training steps, first MoE layer), the dropped tokens
// (capacity mode: Switch and GShard at capacity factor 1.25), the measured FLOPs per token of the
// test pass (engine/flops.h) and the time per training step; the table gives mean +- std over
// seeds, with a dense-FFN model as the reference. For the first seed a PNG per gate draws each
// expert's share of the tokens over training.
//
// Padding tokens are never routed: the real tokens of a batch are compacted (dynamic/routing.h,
// ActiveRows), sent through the MoE layer and written back, so FLOPs per token count real work.
// THOR trains as its paper does: two stochastic passes of the whole model per step (each token
// meets two random experts), loss = both cross-entropies + alpha x their symmetric KL
// (thor_consistency_loss, alpha = --thor-alpha); its ms / step therefore counts two forwards.
//
//   moe_routing [--gates a,b,...] [--seeds N] [--epochs N] [--thor-alpha A] [--out DIR] [--smoke]
//
// Gates: dense softmax_topk noisy_topk switch gshard hash base expert_choice loss_free k_top1 dts
// thor. --out DIR (default out/moe_routing) receives moe_routing.md (the table and each gate's
// paired difference from the dense FFN), moe_routing_accuracy*.png and moe_routing_load_<gate>.png
// (each with its CSV). --smoke trains a tiny model on a small subset for two epochs with every gate
// (seconds; --seeds, --epochs and --out given explicitly win); exits 1 if a run's training loss did not go down, 77 where
// wordnet-base is not installed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "datasets/dataloader.h"
#include "datasets/metrics.h"
#include "datasets/tokenizer.h"
#include "datasets/wordnet.h"
#include "dynamic/moe/base_gate.h"
#include "dynamic/moe/dense_to_sparse_gate.h"
#include "dynamic/moe/expert_choice_gate.h"
#include "dynamic/moe/gshard_gate.h"
#include "dynamic/moe/hash_gate.h"
#include "dynamic/moe/k_top1_gate.h"
#include "dynamic/moe/loss_free_gate.h"
#include "dynamic/moe/moe_layer.h"
#include "dynamic/moe/noisy_topk_gate.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "dynamic/moe/switch_gate.h"
#include "dynamic/moe/thor_gate.h"
#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "examples/common/command_line.h"
#include "examples/common/plot.h"
#include "examples/common/result_figures.h"
#include "examples/common/results_page.h"
#include "examples/common/statistics.h"
#include "nn/attention.h"
#include "nn/basic.h"
#include "nn/linear.h"
#include "nn/normalization.h"
#include "nn/optim.h"

using namespace dg;
using namespace dg::dynamic;

// --------------------------------------------------------------------------- settings

struct Settings {
  std::vector<std::string> gates = {"dense",  "softmax_topk",  "noisy_topk", "switch",
                                    "gshard", "hash",          "base",       "expert_choice",
                                    "loss_free", "k_top1",     "dts",        "thor"};
  int64_t seeds = 3, epochs = 3, subset = 0, max_length = 24;
  int64_t d_model = 64, heads = 4, layers = 2, d_ff = 128, experts = 8, k = 2, batch_size = 64;
  double learning_rate = 2e-3;
  double thor_alpha = 1.0;
  std::string out_dir = "out/moe_routing";
  bool smoke = false;
};

Settings parse_args(int argc, char** argv) {
  Settings s;
  CLI::App app{"Every mixture-of-experts gate side by side on WordNet noun supersenses."};
  app.add_option("--gates", s.gates, "gates to compare, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(Settings{}.gates))
      ->capture_default_str();
  app.add_option("--seeds", s.seeds, "runs per gate (seeds 0 .. N-1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--epochs", s.epochs, "training epochs per run")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--thor-alpha", s.thor_alpha, "weight of THOR's consistency loss")
      ->check(experiment::non_negative())
      ->capture_default_str();
  app.add_option("--out", s.out_dir, "where moe_routing.md and the figures go")
      ->capture_default_str();
  app.add_flag("--smoke", s.smoke,
               "a seconds-long run: a tiny model on 800 glosses, 1 seed, 2 epochs, every gate "
               "(flags given explicitly win; --out defaults to out/moe_routing_smoke)");
  experiment::parse_command_line(app, argc, argv);
  if (s.smoke) {
    using experiment::given;
    s.subset = 800;
    if (!given(app, "--seeds")) s.seeds = 1;
    if (!given(app, "--epochs")) s.epochs = 2;
    s.d_model = 32;
    s.heads = 2;
    s.d_ff = 32;
    s.experts = 4;
    s.max_length = 16;
    s.batch_size = 32;
    s.learning_rate = 3e-3;
    if (!given(app, "--out")) s.out_dir = "out/moe_routing_smoke";
  }
  return s;
}

// --------------------------------------------------------------------------- the model
//
// ids [B, L] -> logits [B, classes]: token + position embeddings, pre-LN layers
// (x + SA(LN(x)), x + FFN(LN(x))), a final LayerNorm, the mean over real tokens, a Linear.
// The FFN of layers 1, 3, ... is the MoE layer; of layers 0, 2, ... a dense FFN of width d_ff.

std::shared_ptr<Gate> make_gate(const std::string& name, const Settings& s, Generator& gen) {
  const nn::ParamOptions p{.generator = &gen};
  const int64_t d = s.d_model, E = s.experts, k = s.k;
  if (name == "softmax_topk") return std::make_shared<SoftmaxTopKGate>(d, E, k, SoftmaxTopKOptions{.load_balancing_coefficient = 1e-2}, p);
  if (name == "noisy_topk") return std::make_shared<NoisyTopKGate>(d, E, k, NoisyTopKOptions{}, p);
  if (name == "switch") return std::make_shared<SwitchGate>(d, E, SwitchOptions{}, p);
  if (name == "gshard") return std::make_shared<GShardGate>(d, E, GShardOptions{}, p);
  if (name == "hash") return std::make_shared<HashGate>(E, 0);
  if (name == "base") return std::make_shared<BaseGate>(d, E, BaseOptions{}, p);
  if (name == "expert_choice") return std::make_shared<ExpertChoiceGate>(d, E, static_cast<double>(k), p);
  if (name == "loss_free") return std::make_shared<LossFreeGate>(d, E, k, LossFreeOptions{}, p);
  if (name == "k_top1") return std::make_shared<KTop1Gate>(d, E, k, 1e-2, p);
  if (name == "dts") return std::make_shared<DenseToSparseGate>(d, E, DenseToSparseOptions{.initial_temperature = 2.0, .threshold = 0.05}, p);
  if (name == "thor") return std::make_shared<ThorGate>(E, &gen);
  fail("moe_routing: unknown gate '{}'", name);
}

class Block : public nn::Module {
 public:
  Block(const Settings& s, const std::string& gate, bool use_moe, Generator& gen) {
    const nn::ParamOptions p{.generator = &gen};
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(s.d_model, 1e-5, true, p));
    attention = register_module("attention", std::make_shared<nn::MultiheadAttention>(s.d_model, s.heads, nn::MultiheadAttentionOptions{}, p));
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(s.d_model, 1e-5, true, p));
    if (use_moe) {
      const bool capacity = gate == "switch" || gate == "gshard";
      moe = register_module("moe", std::make_shared<MoE>(s.d_model, s.d_ff, make_gate(gate, s, gen),
                                                         MoEOptions{.mode = capacity ? MoEMode::capacity : MoEMode::dropless,
                                                                    .capacity_factor = 1.25,
                                                                    .activation = ExpertActivation::relu,
                                                                    .name = "moe." + gate},
                                                         p));
    } else {
      fc1 = register_module("fc1", std::make_shared<nn::Linear>(s.d_model, s.d_ff, true, p));
      fc2 = register_module("fc2", std::make_shared<nn::Linear>(s.d_ff, s.d_model, true, p));
    }
  }
  // x [B, L, d]; real: the real tokens; ids [B, L].
  Tensor forward(const Tensor& x, const nn::AttentionMasks& masks, const ActiveRows& real, const Tensor& ids) {
    const Tensor h = norm1->forward(x);
    Tensor y = x + attention->forward(h, h, h, masks);
    const int64_t B = x.size(0), L = x.size(1), d = x.size(2);
    const Tensor tokens = reshape(norm2->forward(y), {B * L, d});
    // Only the real tokens go through the FFN, dense or MoE; padded rows get zeros (no expert
    // runs on them), so FLOPs per token compare the two on the same rows.
    const Tensor ffn = run_active(tokens, real, zeros({B * L, d}), [&](const Tensor& rows) {
      return moe ? moe->forward(rows, compact(reshape(ids, {B * L}), real))
                 : fc2->forward(relu(fc1->forward(rows)));
    });
    return y + reshape(ffn, {B, L, d});
  }
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<nn::MultiheadAttention> attention;
  std::shared_ptr<MoE> moe;
  std::shared_ptr<nn::Linear> fc1, fc2;
};

class Classifier : public nn::Module {
 public:
  Classifier(const Settings& s, int64_t vocab, int64_t classes, const std::string& gate, Generator& gen) {
    const nn::ParamOptions p{.generator = &gen};
    token_embedding = register_module("token_embedding", std::make_shared<nn::Embedding>(vocab, s.d_model, data::Vocabulary::kPadId, p));
    position_embedding = register_module("position_embedding", std::make_shared<nn::Embedding>(s.max_length, s.d_model, std::nullopt, p));
    for (int64_t i = 0; i < s.layers; ++i)
      blocks.push_back(register_module("block" + std::to_string(i),
                                       std::make_shared<Block>(s, gate, gate != "dense" && i % 2 == 1, gen)));
    final_norm = register_module("final_norm", std::make_shared<nn::LayerNorm>(s.d_model, 1e-5, true, p));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(s.d_model, classes, true, p));
  }
  Tensor forward(const Tensor& ids, const Tensor& mask) {
    Tensor x = token_embedding->forward(ids) + position_embedding->forward(arange(ids.size(1)));
    const nn::AttentionMasks masks{.key_padding_mask = logical_not(mask)};
    const ActiveRows real(reshape(mask, {-1}));
    for (auto& b : blocks) x = b->forward(x, masks, real, ids);
    x = final_norm->forward(x);
    const Tensor w = unsqueeze(to_dtype(mask, DType::f32), 2);
    return classifier->forward(sum(x * w, {1}) / clamp(sum(w, {1}), 1.0, std::nullopt));
  }
  Tensor aux_loss() const {
    Tensor total = zeros({});
    for (const auto& b : blocks)
      if (b->moe) total = total + b->moe->aux_loss();
    return total;
  }
  MoE* first_moe() const {
    for (const auto& b : blocks)
      if (b->moe) return b->moe.get();
    return nullptr;
  }
  std::shared_ptr<nn::Embedding> token_embedding, position_embedding;
  std::vector<std::shared_ptr<Block>> blocks;
  std::shared_ptr<nn::LayerNorm> final_norm;
  std::shared_ptr<nn::Linear> classifier;
};

// --------------------------------------------------------------------------- one run

struct RunResult {
  double accuracy = 0, load_cv = 0, dropped_fraction = 0, flops_per_token = 0, ms_per_step = 0;
  double first_loss = 0, last_loss = 0;
  std::vector<std::vector<double>> load_share;  // per step, per expert
};

RunResult run(const Settings& s, const std::string& gate, uint64_t seed, const data::DataLoader& train,
              const data::DataLoader& test, int64_t vocab, int64_t classes) {
  Generator gen(seed);
  Classifier model(s, vocab, classes, gate, gen);
  nn::AdamW optimizer(model.parameters(), {.lr = s.learning_rate, .weight_decay = 0.01});
  RunResult r;
  double cv_sum = 0, seconds = 0;
  int64_t steps = 0, dropped = 0, routed_tokens = 0;
  const int64_t total_steps = s.epochs * train.num_batches();
  for (int64_t epoch = 0; epoch < s.epochs; ++epoch) {
    double loss_sum = 0;
    int64_t batches = 0;
    for (const data::Batch& batch : train.epoch(epoch)) {
      if (gate == "dts")  // anneal tau from 2 to 0.1 over the run (dense to sparse)
        for (auto& b : model.blocks)
          if (b->moe) static_cast<DenseToSparseGate&>(*b->moe->gate).set_temperature(
              2.0 - 1.9 * static_cast<double>(steps) / static_cast<double>(std::max<int64_t>(1, total_steps - 1)));
      const auto start = std::chrono::steady_clock::now();
      Tensor loss, total;
      if (gate == "thor") {
        const Tensor logits_a = model.forward(batch.input, batch.mask);
        const Tensor logits_b = model.forward(batch.input, batch.mask);
        const Tensor task_a = cross_entropy(logits_a, batch.target), task_b = cross_entropy(logits_b, batch.target);
        loss = 0.5 * (task_a + task_b);  // reported: the mean of the two passes' losses
        total = task_a + task_b + s.thor_alpha * thor_consistency_loss(logits_a, logits_b);
      } else {
        loss = cross_entropy(model.forward(batch.input, batch.mask), batch.target);
        total = loss + model.aux_loss();
      }
      optimizer.zero_grad();
      total.backward();
      optimizer.step();
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      loss_sum += loss.item<double>();
      ++batches;
      ++steps;
      if (MoE* m = model.first_moe()) {
        const MoEStats& st = m->stats();
        cv_sum += st.load_cv;
        dropped += st.dropped_tokens;
        routed_tokens += st.tokens;
        std::vector<double> share;
        for (int64_t c : st.tokens_per_expert) share.push_back(static_cast<double>(c) / std::max<int64_t>(1, st.routed_slots));
        r.load_share.push_back(share);
      }
    }
    if (epoch == 0) r.first_loss = loss_sum / static_cast<double>(batches);
    r.last_loss = loss_sum / static_cast<double>(batches);
  }
  r.load_cv = steps > 0 ? cv_sum / static_cast<double>(steps) : 0.0;
  r.dropped_fraction = routed_tokens > 0 ? static_cast<double>(dropped) / static_cast<double>(routed_tokens) : 0.0;
  r.ms_per_step = 1e3 * seconds / static_cast<double>(std::max<int64_t>(1, steps));
  // Test: accuracy and the measured FLOPs per real token.
  NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> predictions, labels;
  int64_t real_tokens = 0;
  FlopScope flops;
  for (const data::Batch& batch : test.epoch(0)) {
    const std::vector<int64_t> p = argmax(model.forward(batch.input, batch.mask), 1).to_vector<int64_t>();
    const std::vector<int64_t> l = batch.target.to_vector<int64_t>();
    predictions.insert(predictions.end(), p.begin(), p.end());
    labels.insert(labels.end(), l.begin(), l.end());
    real_tokens += static_cast<int64_t>(sum(to_dtype(batch.mask, DType::f64)).item<double>());
  }
  r.flops_per_token = static_cast<double>(flops.count()) / static_cast<double>(std::max<int64_t>(1, real_tokens));
  r.accuracy = data::accuracy(predictions, labels);
  return r;
}

// --------------------------------------------------------------------------- main

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_args(argc, argv);
  if (!data::wordnet_available()) {
    std::printf("WordNet is not installed (%s, Debian package %s): nothing to do\n",
                data::kWordNetNounPath, data::kWordNetDebianPackage);
    return 77;
  }
  std::filesystem::create_directories(s.out_dir);

  // ---- the data (as in wordnet_text: 25 supersenses, the fixed split, vocabulary from train)
  data::WordNetOptions options;
  options.include_tops = false;
  data::TextSplits splits = data::wordnet_gloss_splits(options);
  auto first = [&](const data::TextDataset& d) {
    if (s.subset <= 0) return d;
    std::vector<int64_t> idx(static_cast<size_t>(std::min(s.subset, d.size())));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    return d.subset(idx);
  };
  const data::TextDataset train_text = first(splits.train), test_text = first(splits.test);
  data::TokenizerOptions tokenizer_options;
  tokenizer_options.kind = data::TokenizerKind::word;
  tokenizer_options.min_freq = 2;
  const data::Tokenizer tokenizer = data::Tokenizer::build(train_text.all_texts(), tokenizer_options);
  data::TokenizedOptions encode_options;
  encode_options.max_length = s.max_length;
  const auto train_set = std::make_shared<const data::TokenizedDataset>(train_text, tokenizer, encode_options);
  const auto test_set = std::make_shared<const data::TokenizedDataset>(test_text, tokenizer, encode_options);
  std::printf("WordNet noun supersenses: %lld classes, %lld train / %lld test glosses; %lld words\n",
              (long long)train_text.num_classes(), (long long)train_text.size(), (long long)test_text.size(),
              (long long)tokenizer.vocab().size());
  std::printf("model: d %lld, %lld layers (MoE in every other), %lld experts of width %lld, k %lld; "
              "%lld epochs, batch %lld, %lld seeds\n",
              (long long)s.d_model, (long long)s.layers, (long long)s.experts, (long long)s.d_ff, (long long)s.k,
              (long long)s.epochs, (long long)s.batch_size, (long long)s.seeds);

  // ---- every gate, every seed (same data order per seed, so gates compare paired by seed)
  experiment::SeedResults accuracy, load_cv, dropped, mflops, ms_per_step;
  std::vector<std::string> figures;
  bool ok = true;
  for (const std::string& gate : s.gates) {
    for (int64_t seed = 0; seed < s.seeds; ++seed) {
      const data::DataLoader train(train_set, {.batch_size = s.batch_size, .shuffle = true, .seed = static_cast<uint64_t>(seed)});
      const data::DataLoader test(test_set, {.batch_size = 256});
      const RunResult r = run(s, gate, static_cast<uint64_t>(seed), train, test, tokenizer.vocab().size(),
                              train_text.num_classes());
      std::printf("%-14s seed %lld: accuracy %.4f, load CV %.3f, dropped %.4f, %.3f MFLOP/token, %.2f ms/step, loss %.3f -> %.3f\n",
                  gate.c_str(), (long long)seed, r.accuracy, r.load_cv, r.dropped_fraction, r.flops_per_token / 1e6,
                  r.ms_per_step, r.first_loss, r.last_loss);
      if (!(r.last_loss < r.first_loss) && s.epochs > 1) {
        std::printf("  training loss did not go down\n");
        ok = false;
      }
      accuracy.add(gate, seed, r.accuracy);
      load_cv.add(gate, seed, r.load_cv);
      dropped.add(gate, seed, r.dropped_fraction);
      mflops.add(gate, seed, r.flops_per_token / 1e6);
      ms_per_step.add(gate, seed, r.ms_per_step);
      if (seed == 0 && !r.load_share.empty()) {
        plot::LineChart chart;
        chart.title = "per-expert load, " + gate;
        chart.x_label = "training step";
        chart.y_label = "share of routed slots";
        for (size_t e = 0; e < r.load_share.front().size(); ++e) {
          plot::Series series;
          series.name = "expert " + std::to_string(e);
          for (size_t t = 0; t < r.load_share.size(); ++t) {
            series.x.push_back(static_cast<double>(t));
            series.y.push_back(r.load_share[t][e]);
          }
          chart.series.push_back(series);
        }
        figures.push_back(s.out_dir + "/moe_routing_load_" + gate + ".png");
        plot::write_line_chart(figures.back(), chart);
      }
    }
  }

  // ---- the table (mean +- std over seeds) and each gate against the dense FFN, paired by seed
  auto cell = [](const experiment::SeedResults& results, const std::string& gate, int digits) {
    const experiment::MeanStd m = results.stats(gate);
    return fmt::format("{:.{}f} +- {:.{}f}", m.mean, digits, m.std, digits);
  };
  experiment::MarkdownTable table{
      .header = {"gate", "test accuracy", "load CV", "dropped tokens", "MFLOP / token", "ms / step"},
      .right_aligned = {false, true, true, true, true, true},
      .rows = {}};
  for (const std::string& gate : s.gates)
    table.add({gate, cell(accuracy, gate, 4), cell(load_cv, gate, 3), cell(dropped, gate, 4),
               cell(mflops, gate, 4), cell(ms_per_step, gate, 2)});
  std::vector<experiment::Verdict> verdicts;
  if (accuracy.contains("dense"))
    for (const std::string& gate : s.gates)
      if (gate != "dense")
        verdicts.push_back(
            {.text = gate + ": test accuracy above the dense FFN's (the premise of adding experts)",
             .verdict = accuracy.paired(gate, "dense", experiment::ClaimedSign::positive, 100.0)
                            .describe("points")});
  const std::vector<std::string> accuracy_figures = experiment::draw_seed_figures(
      accuracy, s.out_dir, "moe_routing_accuracy", "test accuracy per gate and seed", "test accuracy",
      accuracy.contains("dense") ? "dense" : "");
  figures.insert(figures.begin(), accuracy_figures.begin(), accuracy_figures.end());
  std::printf("\n%s", table.str().c_str());
  for (const experiment::Verdict& v : verdicts) std::printf("%s\n", experiment::verdict_line(v).c_str());
  const std::string md_path = s.out_dir + "/moe_routing.md";
  experiment::write_results_page(
      md_path,
      {.title = "Every MoE gate side by side on WordNet noun supersenses",
       .program = "moe_routing",
       .command_line = experiment::joined_arguments(argc, argv),
       .scale = fmt::format(
           "Scale: {} training / {} test glosses (max {} tokens), {} layers of width {} ({} heads), "
           "the FFN of every other layer an MoE of {} experts of width {} (top-{} unless the gate "
           "fixes k), the others a dense FFN of width {}; {} epochs, batch {}, AdamW lr {}, seeds "
           "0..{}; THOR's consistency weight {}.",
           train_text.size(), test_text.size(), s.max_length, s.layers, s.d_model, s.heads,
           s.experts, s.d_ff, s.k, s.d_ff, s.epochs, s.batch_size, s.learning_rate, s.seeds - 1,
           s.thor_alpha),
       .table = table.str(),
       .figures = experiment::figures_in(figures),
       .claims_heading = "Each gate against the dense FFN",
       .verdicts = verdicts,
       .claims = {},
       .notes = {"Each comparison is the mean of the per-seed differences in test accuracy (gate "
                 "minus dense FFN, same seed, same data order) with its 95% Student t interval. "
                 "Load CV is the coefficient of variation of the per-expert load of the first MoE "
                 "layer, averaged over training steps; dropped tokens are counted in capacity mode "
                 "(Switch, GShard); FLOPs per token are the engine's counted FLOPs of the test "
                 "pass over real (non-padding) tokens."}});
  std::vector<std::string> written = {md_path};
  written.insert(written.end(), figures.begin(), figures.end());
  experiment::print_written(written);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "moe_routing: %s\n", e.what());
  return 1;
}
