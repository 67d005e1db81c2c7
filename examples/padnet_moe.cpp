// PAD-Net's language half (Tables 1, 3 and 5 of He et al. 2023) on a real pretrained encoder:
// all-MiniLM-L6-v2 (scripts/fetch-model.sh) fine-tuned on text tasks, its feed-forward blocks
//   Static      the pretrained dense FFN, fine-tuned;
//   MoE         an MoE of 8 experts, top-2, upcycled from the FFN (every expert a copy, the
//               router fresh; Section 5.1);
//   PAD-Net k%  the MoE made partially dynamic at the start of the second epoch by the iterative
//               mode partition at dynamic ratio kappa (70, 50, 30, 10% by default; Table 3), the
//               static weights the pretrained FFN's, deployed compacted;
//   MoE-P       the MoE pruned by SNIP at the start of the second epoch to PAD-Net 50%'s parameter
//               count (Table 5), kept pruned after every step;
// each over seeds, with the paired difference of every comparison the paper makes and a verdict
// worded from its 95% interval.
//
// Tasks (datasets/text_task.h): the three WordNet 3.0 tasks by default (gloss supersense
// classification, hypernymy of two glosses, the path similarity of two glosses scaled to [0, 5]),
// or GLUE folders ("glue:DIR:TASK") for users who have GLUE.
//
// Scale (see examples/common/bert_finetune.h): the lower --frozen layers run once per task and only
// the top layers are tuned, their FFNs being what the methods change; --train and --test
// examples per task; sequences cut to --max-length tokens. The results page states each choice.
//
//   padnet_moe [--model DIR] [--tasks a,b,...] [--seeds N] [--epochs N] [--train N] [--test N]
//              [--max-length N] [--frozen N] [--kappas 0.7,0.5,...] [--imp-rounds N]
//              [--partition-batches N] [--batch N] [--lr X] [--out DIR] [--quiet] [--smoke]
//
// Writes DIR/padnet_moe.md and DIR/padnet_moe.csv. Exits 1 if a training loss or a metric is not
// finite or a compacted PAD-Net does not reproduce its uncompacted predictions, 77 without the
// model or WordNet.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "datasets/text_task.h"
#include "examples/common/bert_finetune.h"
#include "examples/common/command_line.h"
#include "examples/common/result_figures.h"
#include "examples/common/results_page.h"
#include "examples/common/statistics.h"
#include "nn/bert.h"
#include "nn/train/progress.h"
#include "nn/train/run_log.h"
#include "partition/mode_partition.h"
#include "partition/moe_report.h"

using namespace dg;
using namespace dg::experiment;

// --------------------------------------------------------------------------- settings

struct Settings {
  std::string model_dir = nn::default_model_dir();
  std::vector<std::string> tasks = data::wordnet_task_names();
  int64_t seeds = 5;
  std::vector<double> kappas = {0.7, 0.5, 0.3, 0.1};
  int64_t imp_rounds = 3;
  int64_t partition_batches = 10;
  TaskScale scale;
  FinetuneSettings finetune;
  MoESettings moe;
  std::string out_dir = "docs/results";
  bool quiet = false;
  bool smoke = false;
  std::string command_line;
};

Settings parse_settings(int argc, char** argv) {
  Settings s;
  CLI::App app{"PAD-Net Tables 1, 3 and 5 (MoE) on a pretrained BERT-family encoder: Static, MoE, "
               "PAD-Net at each kappa and MoE-P, over seeds, with paired verdicts."};
  app.add_option("--model", s.model_dir, "BERT-format folder (config.json, model.safetensors, vocab.txt)");
  app.add_option("--tasks", s.tasks, "text tasks (wordnet-supersense, wordnet-hypernym-pair, "
                                     "wordnet-path-similarity, glue:DIR:TASK)")->delimiter(',');
  app.add_option("--seeds", s.seeds, "seeds 0..N-1")->check(positive());
  app.add_option("--epochs", s.finetune.epochs, "epochs (the partition runs at the start of the "
                                                "second; at least 2)")->check(CLI::Range(2, 1000));
  app.add_option("--train", s.scale.max_train_examples, "training examples per task")->check(positive());
  app.add_option("--test", s.scale.max_test_examples, "test examples per task")->check(positive());
  app.add_option("--max-length", s.scale.max_length, "tokens per example")->check(CLI::Range(3, 512));
  app.add_option("--frozen", s.scale.frozen_layers, "lower layers frozen (run once per task)")
      ->check(non_negative());
  app.add_option("--kappas", s.kappas, "PAD-Net dynamic ratios")->delimiter(',')
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--imp-rounds", s.imp_rounds, "iterative mode partition rounds")->check(positive());
  app.add_option("--partition-batches", s.partition_batches, "scoring batches per round")
      ->check(positive());
  app.add_option("--batch", s.finetune.batch_size, "batch size")->check(positive());
  app.add_option("--lr", s.finetune.lr, "peak learning rate (AdamW)")->check(positive());
  app.add_option("--out", s.out_dir, "folder for padnet_moe.md and padnet_moe.csv");
  app.add_flag("--quiet", s.quiet, "no progress lines");
  app.add_flag("--smoke", s.smoke, "a few examples, one seed, kappa 50% only (seconds; flags given "
                                   "explicitly win; --out defaults to out/padnet_moe_smoke)");
  parse_command_line(app, argc, argv);
  if (s.smoke) {
    if (!given(app, "--seeds")) s.seeds = 1;
    if (!given(app, "--epochs")) s.finetune.epochs = 2;
    if (!given(app, "--train")) s.scale.max_train_examples = 48;
    if (!given(app, "--test")) s.scale.max_test_examples = 32;
    if (!given(app, "--max-length")) s.scale.max_length = 24;
    if (!given(app, "--kappas")) s.kappas = {0.5};
    if (!given(app, "--imp-rounds")) s.imp_rounds = 2;
    if (!given(app, "--partition-batches")) s.partition_batches = 2;
    if (!given(app, "--out")) s.out_dir = "out/padnet_moe_smoke";
  }
  s.command_line = joined_arguments(argc, argv);
  return s;
}

std::string kappa_name(double kappa) { return fmt::format("PAD-Net {:.0f}%", 100 * kappa); }

// --------------------------------------------------------------------------- one seed of one task

struct MethodResult {
  std::string method;
  double metric = 0.0;         // headline metric
  int64_t parameters = 0;      // the whole deployed model: frozen part + tuned top (compacted)
  int64_t ffn_bytes = 0;       // what the tuned feed-forward blocks store
  double dynamic_ratio = 1.0;  // of the partitioned weights (1 for MoE, Static has none)
  double flops_per_token = 0;  // measured, the tuned top per token position
  std::vector<double> epoch_losses;
};

int64_t ffn_bytes(TunedTop& top) {
  int64_t bytes = 0;
  for (auto& layer : top.layers) {
    if (layer->has_dense_feed_forward()) {
      bytes += partition::stored_bytes(layer->intermediate_dense()) +
               partition::stored_bytes(layer->output_dense());
    } else {
      bytes += partition::stored_bytes(*layer->feed_forward_module());
    }
  }
  return bytes;
}

// Parameters of the tuned top with every MoE layer counted as PAD-Net's tables do (after
// compaction; SNIP's zeros not counted), the rest as stored.
int64_t counted_parameters(TunedTop& top) {
  int64_t moe_stored = 0, moe_counted = 0;
  for (const auto& row : partition::moe_parameter_report(top)) moe_counted += row.parameters();
  for (auto& layer : top.layers)
    if (!layer->has_dense_feed_forward()) moe_stored += layer->feed_forward_module()->num_parameters();
  return top.num_parameters() - moe_stored + moe_counted;
}

struct SeedRun {
  std::vector<MethodResult> results;
  bool compaction_exact = true;
  bool finite = true;
};

SeedRun run_seed(const Settings& s, PretrainedEncoder& encoder, const TaskFeatures& features,
                 uint64_t seed, int64_t frozen_parameters, train::SweepProgress& sweep) {
  const data::TextTask& task = features.task;
  const int64_t labels = task.regression ? 1 : task.num_classes();
  const int64_t first = s.scale.frozen_layers;
  const int64_t epochs = s.finetune.epochs;
  SeedRun run;
  auto finish = [&](const std::string& method, TunedTop& top, std::vector<double> losses,
                    double ratio) {
    const Evaluation e = evaluate(top, features);
    MethodResult r{method, e.headline(), frozen_parameters + counted_parameters(top),
                   ffn_bytes(top), ratio, e.flops_per_token, std::move(losses)};
    for (double l : r.epoch_losses) run.finite = run.finite && std::isfinite(l);
    run.finite = run.finite && std::isfinite(r.metric);
    if (!s.quiet)
      std::printf("  %-13s seed %llu  loss %.3f -> %.3f  %s %.4f  %lld params  %.3g FLOPs/token\n",
                  method.c_str(), (unsigned long long)seed, r.epoch_losses.front(),
                  r.epoch_losses.back(), task.metrics.front().c_str(), r.metric,
                  (long long)r.parameters, r.flops_per_token);
    run.results.push_back(std::move(r));
    sweep.run_done(method + " seed " + std::to_string(seed));
  };
  auto append = [](std::vector<double> a, const std::vector<double>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  auto fresh_top = [&] {
    return std::make_shared<TunedTop>(*encoder.model, encoder.pretrained_state, first, labels, seed);
  };
  auto loss_of = [&](TunedTop& top) {
    return [&, top_ptr = &top](int64_t b) {
      return batch_loss(*top_ptr, features.train, task, s.finetune.batch_size, seed, b);
    };
  };

  // ------------------------------------------------------------------- Static
  {
    auto top = fresh_top();
    auto losses = finetune_epochs(*top, features.train, task, s.finetune, seed, 0, 1);
    losses = append(losses, finetune_epochs(*top, features.train, task, s.finetune, seed, 1, epochs));
    finish("Static", *top, losses, 0.0);
  }

  // ------------------------------------------------------------------- the MoE's first epoch,
  // shared by MoE, PAD-Net and MoE-P
  auto moe_top = fresh_top();
  replace_feed_forwards(*moe_top, FeedForwardKind::moe, s.moe, seed);
  const std::vector<double> first_epoch =
      finetune_epochs(*moe_top, features.train, task, s.finetune, seed, 0, 1);
  const nn::StateDict after_first_epoch = snapshot(*moe_top);
  auto branch = [&] {
    auto top = fresh_top();
    replace_feed_forwards(*top, FeedForwardKind::moe, s.moe, seed);
    top->load_state_dict(after_first_epoch);
    return top;
  };

  // ------------------------------------------------------------------- MoE
  finish("MoE", *moe_top,
         append(first_epoch, finetune_epochs(*moe_top, features.train, task, s.finetune, seed, 1, epochs)),
         1.0);

  // ------------------------------------------------------------------- PAD-Net at each kappa:
  // IMP at the start of epoch 2, the rest of the epochs, then compaction
  int64_t padnet50_kept = -1;
  for (double kappa : s.kappas) {
    auto top = branch();
    wrap_moe_in_padnet(*top, encoder.pretrained_state, first, partition::ScaleFactors::both_constrained);
    top->train();
    partition::mode_partition(*top, loss_of(*top),
                              {.dynamic_ratio = kappa,
                               .rounds = s.imp_rounds,
                               .num_batches = s.partition_batches,
                               .scope = partition::PartitionScope::global});
    if (std::abs(kappa - 0.5) < 1e-9) padnet50_kept = partition::partitioned_kernel_parameters(*top);
    auto losses = append(first_epoch, finetune_epochs(*top, features.train, task, s.finetune, seed, 1, epochs));
    // The deployed form must predict what the trained one does.
    const Evaluation uncompacted = evaluate(*top, features);
    double ratio = 0.0;
    for (auto& layer : partition::partitioned_layers(*top)) ratio += layer.layer->dynamic_ratio_all();
    ratio /= static_cast<double>(top->layers.size());
    compact_padnet(*top);
    const Evaluation compacted = evaluate(*top, features);
    const double change = max(abs(compacted.outputs - uncompacted.outputs)).item<float>();
    if (!(change <= 1e-3)) {
      std::printf("compaction changed %s's outputs by up to %.3g\n", kappa_name(kappa).c_str(), change);
      run.compaction_exact = false;
    }
    finish(kappa_name(kappa), *top, losses, ratio);
  }

  // ------------------------------------------------------------------- MoE-P: SNIP on the MoE
  // (every mask one, no scale factors: exactly the MoE) at PAD-Net 50%'s count
  if (padnet50_kept > 0) {
    auto top = branch();
    wrap_moe_in_padnet(*top, encoder.pretrained_state, first, partition::ScaleFactors::none);
    top->train();
    const partition::SnipPruning pruning =
        partition::snip_prune(*top, loss_of(*top), s.partition_batches, padnet50_kept);
    auto losses = append(first_epoch, finetune_epochs(*top, features.train, task, s.finetune, seed,
                                                      1, epochs, [&pruning] { pruning.apply(); }));
    finish("MoE-P", *top, losses, 1.0);
  }
  return run;
}

// --------------------------------------------------------------------------- the experiment

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_settings(argc, argv);
  const bool needs_wordnet = std::any_of(s.tasks.begin(), s.tasks.end(), [](const std::string& t) {
    return t.starts_with("wordnet");
  });
  auto encoder = load_pretrained_encoder(s.model_dir, needs_wordnet);
  if (!encoder) return 77;
  const nn::BertConfig& config = encoder->model->config;
  const int64_t tuned = config.num_hidden_layers - s.scale.frozen_layers;
  // The deployed model's frozen part: embeddings and the frozen layers (the pooler is unused).
  int64_t frozen_parameters = encoder->model->embeddings->num_parameters();
  for (int64_t l = 0; l < s.scale.frozen_layers; ++l)
    frozen_parameters += encoder->model->encoder->layers[static_cast<size_t>(l)]->num_parameters();

  const std::string csv_path = s.out_dir + "/padnet_moe.csv";
  train::RunLog log(csv_path, {"task", "method", "seed", "metric", "params", "ffn_bytes",
                               "dynamic_ratio", "flops_per_token"});
  const int64_t methods = 3 + static_cast<int64_t>(s.kappas.size());
  train::SweepProgress sweep("padnet_moe", static_cast<int64_t>(s.tasks.size()) * s.seeds * methods,
                             s.quiet);
  bool finite = true, compaction_exact = true;
  std::vector<std::string> sections, scales;
  std::vector<Verdict> verdicts;
  const auto start = std::chrono::steady_clock::now();

  for (const std::string& task_name : s.tasks) {
    data::TextTaskOptions options;
    options.wordnet.max_train_examples = s.scale.max_train_examples;
    options.wordnet.max_test_examples = s.scale.max_test_examples;
    const data::TextTaskData data = data::load_text_task(task_name, options);
    const TaskFeatures features = prepare_task(*encoder, data, s.scale);
    const std::string metric = features.task.metrics.front();
    std::printf("%s: %lld training / %lld test examples, %lld positions, %lld truncated, metric %s\n",
                task_name.c_str(), (long long)features.train.size(), (long long)features.test.size(),
                (long long)features.positions, (long long)features.truncated, metric.c_str());
    scales.push_back(fmt::format("{} ({} train / {} test, {} cut to {} tokens)", task_name,
                                 features.train.size(), features.test.size(), features.truncated,
                                 s.scale.max_length));

    SeedResults scores;
    std::map<std::string, MethodResult> last;  // parameters etc. (the same for every seed)
    std::map<std::string, std::vector<double>> flops, ratios;
    for (int64_t seed = 0; seed < s.seeds; ++seed) {
      const SeedRun run = run_seed(s, *encoder, features, static_cast<uint64_t>(seed),
                                   frozen_parameters, sweep);
      finite = finite && run.finite;
      compaction_exact = compaction_exact && run.compaction_exact;
      for (const MethodResult& r : run.results) {
        scores.add(r.method, seed, 100 * r.metric);
        flops[r.method].push_back(r.flops_per_token);
        ratios[r.method].push_back(r.dynamic_ratio);
        last[r.method] = r;
        log.add({task_name, r.method, seed, r.metric, r.parameters, r.ffn_bytes, r.dynamic_ratio,
                 r.flops_per_token});
      }
    }

    // ----------------------------------------------------------------- the task's table
    MarkdownTable table{.header = {"Method", "Params", "FFN bytes", "Dynamic ratio",
                                   "FLOPs / token (tuned top)", metric + " x100 (mean +- std)",
                                   "per seed"},
                        .right_aligned = {false, true, true, true, true, true, false},
                        .rows = {}};
    for (const std::string& method : scores.methods()) {
      const MeanStd m = scores.stats(method);
      std::string per_seed;
      for (double v : scores.values(method)) per_seed += fmt::format("{}{:.2f}", per_seed.empty() ? "" : ", ", v);
      const MethodResult& r = last.at(method);
      table.add({method, fmt::format("{:.2f}M", r.parameters / 1e6), std::to_string(r.ffn_bytes),
                 method == "Static" ? "-" : fmt::format("{:.3f}", mean_std(ratios.at(method)).mean),
                 fmt::format("{:.4g}", mean_std(flops.at(method)).mean),
                 fmt::format("{:.2f} +- {:.2f}", m.mean, m.std), per_seed});
    }
    std::printf("\n%s\n", table.str().c_str());
    sections.push_back(fmt::format("### {}\n\n{}", task_name, table.str()));

    // ----------------------------------------------------------------- the paper's comparisons
    auto verdict = [&](const std::string& text, const std::string& a, const std::string& b,
                       ClaimedSign sign) {
      if (!scores.contains(a) || !scores.contains(b)) return;
      verdicts.push_back({fmt::format("{}: {} ({} - {})", task_name, text, a, b),
                          paired_verdict(scores.paired_differences(a, b), sign).describe("points")});
    };
    verdict("the upcycled MoE above the dense model (the premise)", "MoE", "Static", ClaimedSign::positive);
    for (double kappa : s.kappas)
      verdict("PAD-Net above MoE (Tables 1, 3)", kappa_name(kappa), "MoE", ClaimedSign::positive);
    verdict("MoE-P below MoE (Table 5)", "MoE-P", "MoE", ClaimedSign::negative);
    verdict("PAD-Net 50% above MoE-P at the same parameter count (Table 5)", kappa_name(0.5),
            "MoE-P", ClaimedSign::positive);
  }
  const double minutes =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0;

  // --------------------------------------------------------------------------- the results file
  std::string kappas;
  for (double k : s.kappas) kappas += fmt::format("{}{:.0f}%", kappas.empty() ? "" : ", ", 100 * k);
  std::string body;
  for (const auto& section : sections) body += section + "\n";
  const std::string md_path = s.out_dir + "/padnet_moe.md";
  write_results_page(
      md_path,
      {.title = "PAD-Net Tables 1, 3 and 5 (MoE) on all-MiniLM-L6-v2",
       .program = "padnet_moe",
       .command_line = s.command_line,
       .scale = fmt::format(
           "Scale: {} ({} layers, width {}); the lower {} layers frozen and run once per task, the "
           "top {} tuned, their FFNs replaced as the method says (MoE: {} experts, top-{}, "
           "upcycled, load-balancing loss {}); mean pooling + linear head. Tasks: {}. {} epochs, "
           "batch {}, AdamW (beta2 {}, weight decay {} on matrices only), peak lr {} with {:.0f}% "
           "warmup and linear decay; seeds 0..{} (per seed the same data order, head and dropout "
           "stream for every method; the MoE methods share their first epoch, and every method "
           "restarts AdamW's moments at the start of epoch 2). PAD-Net: kappa {}, IMP in {} "
           "rounds on {} batches at the start of epoch 2 (global scope over both FFN matrices of "
           "every tuned layer), lambda_s + lambda_d = 2; evaluated compacted. MoE-P: SNIP at "
           "PAD-Net 50%'s parameter count. Metrics on the test split, x100 ('points'). Padded "
           "positions pass through every FFN (batches are cut to their longest example). Ran in "
           "{:.1f} min.",
           s.model_dir, config.num_hidden_layers, config.hidden_size, s.scale.frozen_layers, tuned,
           s.moe.experts, s.moe.top_k, s.moe.load_balancing, fmt::join(scales, "; "),
           s.finetune.epochs, s.finetune.batch_size, s.finetune.beta2, s.finetune.weight_decay,
           s.finetune.lr, 100 * s.finetune.warmup_fraction, s.seeds - 1, kappas, s.imp_rounds,
           s.partition_batches, minutes),
       .table = body,
       .figures = {},
       .claims_heading = "The paper's comparisons, paired by seed (95% t interval)",
       .verdicts = verdicts,
       .claims = {},
       .notes = {"Params count the deployed model: embeddings, frozen layers and the tuned top, "
                 "each MoE layer as PAD-Net's tables count it (partition/moe_report.h: dynamic "
                 "values per expert, static values once, biases, router; SNIP's zeros not "
                 "counted). FFN bytes are what the tuned FFN blocks store (compacted PAD-Net: "
                 "values and packed bitmasks). FLOPs per token are the engine's measured count "
                 "for the tuned top's test pass divided by the token positions it processed."}});
  print_written({md_path, csv_path});
  if (!finite) {
    std::printf("FAILED: a training loss or a metric is not finite\n");
    return 1;
  }
  if (!compaction_exact) {
    std::printf("FAILED: a compacted PAD-Net did not reproduce its predictions\n");
    return 1;
  }
  return 0;
}
