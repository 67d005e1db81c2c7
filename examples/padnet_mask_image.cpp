// PAD-Net's Figure 7 (extended version; He et al. 2023): the mode masks the iterative mode
// partition gives the feed-forward MoE layers of a pretrained encoder, one picture per layer and
// matrix (dynamic black, static white), and the two observations the paper draws from them:
//   - the dynamic ratio grows from the bottom layers to the top ones;
//   - within a layer the masks are structured: the entries of a column (or row) are mostly in the
//     same mode.
// The procedure is padnet_moe's up to the partition: all-MiniLM-L6-v2 with every tuned layer's FFN
// upcycled into 8 experts (top-2), one epoch of fine-tuning on the task, then IMP at kappa (global
// scope: the ratio of each layer is free, as in the paper). Both matrices are drawn as [d, d_ff]
// (W2 transposed), so column j is hidden unit j in both. "Structured" is measured as purity: the
// mean over rows (or columns) of the share of the row's majority mode, against the same mask with
// its entries shuffled (same ratio, no structure).
//
//   padnet_mask_image [--model DIR] [--task NAME] [--kappa X] [--frozen N] [--train N]
//                     [--imp-rounds N] [--partition-batches N] [--seed N] [--out DIR] [--smoke]
//
// Writes DIR/padnet_mask_image.md and DIR/padnet_mask_layer<L>_<w1|w2>.png. Exits 1 if the
// partition's dynamic ratio is not kappa, 77 without the model or WordNet.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/metrics.h"
#include "datasets/text_task.h"
#include "engine/random.h"
#include "examples/common/bert_finetune.h"
#include "examples/common/command_line.h"
#include "examples/common/mask_image.h"
#include "examples/common/result_figures.h"
#include "examples/common/results_page.h"
#include "nn/bert.h"
#include "partition/mode_partition.h"
#include "partition/partially_dynamic_moe.h"

using namespace dg;
using namespace dg::experiment;

struct Settings {
  std::string model_dir = nn::default_model_dir();
  std::string task = "wordnet-supersense";
  double kappa = 0.5;
  int64_t imp_rounds = 3;
  int64_t partition_batches = 10;
  int64_t seed = 0;
  TaskScale scale{.max_length = 48, .frozen_layers = 0, .max_train_examples = 800,
                  .max_test_examples = 16};
  FinetuneSettings finetune{.epochs = 2};
  std::string out_dir = "docs/results";
  bool smoke = false;
  std::string command_line;
};

Settings parse_settings(int argc, char** argv) {
  Settings s;
  CLI::App app{"PAD-Net Figure 7: the mode masks of the MoE layers of a pretrained encoder after "
               "the iterative mode partition, as pictures, with their per-layer ratios and "
               "structure."};
  app.add_option("--model", s.model_dir, "BERT-format folder (config.json, model.safetensors, vocab.txt)");
  app.add_option("--task", s.task, "text task (datasets/text_task.h)");
  app.add_option("--kappa", s.kappa, "dynamic ratio")->check(CLI::Range(0.0, 1.0));
  app.add_option("--frozen", s.scale.frozen_layers, "lower layers kept dense and frozen")->check(non_negative());
  app.add_option("--train", s.scale.max_train_examples, "training examples")->check(positive());
  app.add_option("--imp-rounds", s.imp_rounds, "IMP rounds")->check(positive());
  app.add_option("--partition-batches", s.partition_batches, "scoring batches per round")->check(positive());
  app.add_option("--seed", s.seed, "seed (data order, routers, head)")->check(non_negative());
  app.add_option("--out", s.out_dir, "folder for the page and pictures");
  app.add_flag("--smoke", s.smoke, "the top 2 layers, 48 examples, 2 rounds on 2 batches (seconds; "
                                   "flags given explicitly win; --out defaults to "
                                   "out/padnet_mask_image_smoke)");
  parse_command_line(app, argc, argv);
  if (s.smoke) {
    if (!given(app, "--frozen")) s.scale.frozen_layers = 4;
    if (!given(app, "--train")) s.scale.max_train_examples = 48;
    if (!given(app, "--imp-rounds")) s.imp_rounds = 2;
    if (!given(app, "--partition-batches")) s.partition_batches = 2;
    if (!given(app, "--out")) s.out_dir = "out/padnet_mask_image_smoke";
  }
  s.command_line = joined_arguments(argc, argv);
  return s;
}

// Mean over rows (dim 0) or columns (dim 1) of the share of the majority mode.
double purity(const std::vector<double>& mask, int64_t rows, int64_t cols, int dim) {
  const int64_t lines = dim == 0 ? rows : cols, length = dim == 0 ? cols : rows;
  double total = 0.0;
  for (int64_t a = 0; a < lines; ++a) {
    double ones = 0.0;
    for (int64_t b = 0; b < length; ++b) ones += dim == 0 ? mask[a * cols + b] : mask[b * cols + a];
    const double share = ones / static_cast<double>(length);
    total += std::max(share, 1.0 - share);
  }
  return total / static_cast<double>(lines);
}

std::vector<double> shuffled(std::vector<double> values, uint64_t seed) {
  Generator generator(seed);
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[generator.next_below(i)]);
  return values;
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_settings(argc, argv);
  auto encoder = load_pretrained_encoder(s.model_dir);
  if (!encoder) return 77;
  data::TextTaskOptions options;
  options.wordnet.max_train_examples = s.scale.max_train_examples;
  options.wordnet.max_test_examples = s.scale.max_test_examples;
  const data::TextTaskData data = data::load_text_task(s.task, options);
  const TaskFeatures features = prepare_task(*encoder, data, s.scale);
  const uint64_t seed = static_cast<uint64_t>(s.seed);
  const int64_t labels = features.task.regression ? 1 : features.task.num_classes();
  std::printf("Figure 7: %s, %lld training examples, layers %lld.. tuned, kappa %.0f%%\n",
              s.task.c_str(), (long long)features.train.size(), (long long)s.scale.frozen_layers,
              100 * s.kappa);

  // ------------------------------------------------------------------ MoE, one epoch, partition
  TunedTop top(*encoder->model, encoder->pretrained_state, s.scale.frozen_layers, labels, seed);
  replace_feed_forwards(top, FeedForwardKind::moe, MoESettings{}, seed);
  const std::vector<double> losses = finetune_epochs(top, features.train, features.task, s.finetune, seed, 0, 1);
  wrap_moe_in_padnet(top, encoder->pretrained_state, s.scale.frozen_layers,
                     partition::ScaleFactors::both_constrained);
  top.train();
  const auto rounds = partition::mode_partition(
      top,
      [&](int64_t b) {
        return batch_loss(top, features.train, features.task, s.finetune.batch_size, seed, b);
      },
      {.dynamic_ratio = s.kappa, .rounds = s.imp_rounds, .num_batches = s.partition_batches});
  std::printf("first epoch loss %.3f; partition: %lld dynamic elements after %zu rounds\n",
              losses.front(), (long long)rounds.back().dynamic_elements, rounds.size());

  // ------------------------------------------------------------------ pictures and structure
  MarkdownTable table{.header = {"Layer", "Matrix", "Dynamic ratio", "Row purity (shuffled)",
                                 "Column purity (shuffled)", "Picture"},
                      .right_aligned = {false, false, true, true, true, false},
                      .rows = {}};
  std::vector<std::string> written;
  std::vector<double> depth, layer_ratio;
  int64_t all_ones = 0, all_entries = 0;
  // Structured: in every matrix the rows or the columns are purer than the shuffled mask's by more
  // than 0.01 (one entry in a hundred).
  bool every_matrix_structured = true;
  for (size_t i = 0; i < top.layers.size(); ++i) {
    const int64_t layer_index = s.scale.frozen_layers + static_cast<int64_t>(i);
    auto block = std::dynamic_pointer_cast<partition::PartiallyDynamicMoE>(
        top.layers[i]->feed_forward_module());
    double ones_in_layer = 0.0, entries_in_layer = 0.0;
    for (const auto& [name, matrix] : {std::pair{"w1", block->mask_w1},
                                       std::pair{"w2", block->mask_w2.transpose(0, 1)}}) {
      const Tensor m = matrix.to(DType::f64).contiguous();
      const int64_t rows = m.shape()[0], cols = m.shape()[1];
      std::vector<double> values(m.data<double>(), m.data<double>() + m.numel());
      double ones = 0.0;
      for (double v : values) ones += v;
      ones_in_layer += ones;
      entries_in_layer += static_cast<double>(values.size());
      const std::vector<double> random = shuffled(values, 99 + i);
      const double row_gain = purity(values, rows, cols, 0) - purity(random, rows, cols, 0);
      const double column_gain = purity(values, rows, cols, 1) - purity(random, rows, cols, 1);
      every_matrix_structured = every_matrix_structured && std::max(row_gain, column_gain) > 0.01;
      const std::string png = fmt::format("{}/padnet_mask_layer{}_{}.png", s.out_dir, layer_index, name);
      write_mask_image(png, m);
      written.push_back(png);
      table.add({std::to_string(layer_index), std::string(name) + (name == std::string("w2") ? " (transposed)" : ""),
                 fmt::format("{:.3f}", ones / static_cast<double>(values.size())),
                 fmt::format("{:.3f} ({:.3f})", purity(values, rows, cols, 0), purity(random, rows, cols, 0)),
                 fmt::format("{:.3f} ({:.3f})", purity(values, rows, cols, 1), purity(random, rows, cols, 1)),
                 fmt::format("![layer {} {}]({})", layer_index, name,
                             std::filesystem::path(png).filename().string())});
    }
    depth.push_back(static_cast<double>(layer_index));
    layer_ratio.push_back(ones_in_layer / entries_in_layer);
    all_ones += static_cast<int64_t>(ones_in_layer);
    all_entries += static_cast<int64_t>(entries_in_layer);
  }
  std::printf("\n%s", table.str().c_str());
  const double overall = static_cast<double>(all_ones) / static_cast<double>(all_entries);
  const double rho = layer_ratio.size() >= 2 ? data::spearman(depth, layer_ratio) : 0.0;
  std::string ratios;
  for (size_t i = 0; i < layer_ratio.size(); ++i)
    ratios += fmt::format("{}layer {}: {:.3f}", i ? ", " : "", depth[i], layer_ratio[i]);

  const std::string md_path = s.out_dir + "/padnet_mask_image.md";
  write_results_page(
      md_path,
      {.title = "PAD-Net Figure 7: the MoE layers' mode masks on all-MiniLM-L6-v2",
       .program = "padnet_mask_image",
       .command_line = s.command_line,
       .scale = fmt::format(
           "Scale: {} ({} examples, max {} tokens), layers {}..{} tuned with MoE FFNs (8 experts, "
           "top-2, upcycled), one epoch (batch {}, AdamW peak lr {}), then IMP at kappa {:.0f}% in "
           "{} rounds on {} batches, global scope; seed {}. One seed: the observations below "
           "describe this partition, they are not tested against seed-to-seed variation.",
           s.task, features.train.size(), s.scale.max_length, s.scale.frozen_layers,
           encoder->model->config.num_hidden_layers - 1, s.finetune.batch_size, s.finetune.lr,
           100 * s.kappa, s.imp_rounds, s.partition_batches, s.seed),
       .table = table.str(),
       .figures = {},
       .claims = {{fmt::format("The dynamic ratio grows from bottom to top layers ({}; Spearman rho "
                               "of ratio against depth {:+.2f})",
                               ratios, rho),
                   rho > 0.0, layer_ratio.size() >= 3},
                  {"Within a layer the masks are structured (in every matrix the row or the column "
                   "purity exceeds the shuffled mask's by more than 0.01)",
                   every_matrix_structured, true}},
       .notes = {"Purity: for each row (column) the share of its entries in the row's majority "
                 "mode, averaged; a mask with no structure at ratio r has about max(r, 1 - r), "
                 "which the shuffled column shows."}});
  written.insert(written.begin(), md_path);
  print_written(written);
  if (std::abs(overall - s.kappa) > 1e-3) {
    std::printf("FAILED: the partition's dynamic ratio is %.4f, not %.4f\n", overall, s.kappa);
    return 1;
  }
  return 0;
}
