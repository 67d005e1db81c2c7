// Early exit on two tasks, every exit rule of the survey's Table 3 side by side (Section 4):
// accuracy against measured FLOPs and measured wall time per sample, at batch 1 and batch 64, as
// each rule's threshold is swept (an ELUE-style trade-off curve).
//
//   wordnet   WordNet 3.0 noun supersenses from their glosses (25 classes; datasets/wordnet.h),
//             a 6-layer pre-LN transformer with an exit after every layer (MultiExitTransformer)
//   fmnist    Fashion-MNIST, a 4-stage BranchyNet-style CNN with a branch after every stage
//             (MultiExitCnn)
//
// One model per task and seed, trained with one scheme (--scheme; default PABEE's index-weighted
// joint loss) plus BERxiT's learning-to-exit loss, so every rule runs on the same trained model:
// entropy (DeeBERT), normalised entropy (FastBERT), calibrated max probability (RightTool; one
// temperature per exit fitted on the validation split), patience (PABEE), votes (Sun et al.) and
// the learned score (BERxiT). Inference is dynamic/early_exit/batched_exit.h: at batch 64 stopped
// samples leave the batch, so the FLOPs and the time are what really ran.
//
//   early_exit [--task wordnet|fmnist|both] [--scheme NAME] [--seeds N] [--epochs N]
//              [--train N] [--test N] [--b1-samples N] [--out DIR] [--smoke]
//
// NAME: joint, weighted_joint (the default), two_stage, self_distillation or alternating.
//
// Writes DIR/early_exit.csv (DIR is out/early_exit by default): one row per task, seed, rule and
// threshold with accuracy, mean exit, FLOPs per sample, and microseconds per sample at batch 64 and
// at batch 1 (the batch-1 time on the first --b1-samples test samples). --smoke trains tiny models
// on small subsets for a few steps (seconds; flags given explicitly win); the test suite runs it
// that way. Exits 1 if the training loss did not go down or if a never-exiting threshold does not
// reproduce the full model; 77 (skipped) if neither data set is installed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/idx.h"
#include "datasets/tokenizer.h"
#include "datasets/wordnet.h"
#include "dynamic/early_exit/batched_exit.h"
#include "dynamic/early_exit/confidence_exit.h"
#include "dynamic/early_exit/ensemble_exit.h"
#include "dynamic/early_exit/learned_exit.h"
#include "dynamic/early_exit/multi_exit_cnn.h"
#include "dynamic/early_exit/multi_exit_transformer.h"
#include "dynamic/early_exit/training.h"
#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/command_line.h"
#include "nn/clip.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"

using namespace dg;
using namespace dg::dynamic::early_exit;

// --------------------------------------------------------------------------- settings

struct Settings {
  std::string task = "both";
  TrainingScheme scheme = TrainingScheme::weighted_joint;
  int64_t seeds = 1;
  int64_t epochs = 3;
  int64_t train_subset = 20000, test_subset = 2000, validation_subset = 1000;
  int64_t b1_samples = 200;  // samples timed at batch 1
  std::string out_dir = "out/early_exit";
  bool smoke = false;
};

Settings parse_args(int argc, char** argv) {
  Settings s;
  std::string scheme = scheme_name(s.scheme);
  CLI::App app{"Early exit: every exit rule's accuracy against measured FLOPs and time."};
  app.add_option("--task", s.task, "wordnet, fmnist or both")
      ->check(CLI::IsMember({"wordnet", "fmnist", "both"}))
      ->capture_default_str();
  app.add_option("--scheme", scheme, "training scheme (plus BERxiT's learning-to-exit loss)")
      ->check(CLI::IsMember(
          {"joint", "weighted_joint", "two_stage", "self_distillation", "alternating"}))
      ->capture_default_str();
  app.add_option("--seeds", s.seeds, "models per task (seeds 0 .. N-1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--epochs", s.epochs, "training epochs per model")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--train", s.train_subset, "training examples (the first N)")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--test", s.test_subset, "test examples (the first N)")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--b1-samples", s.b1_samples, "test samples timed at batch 1")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--out", s.out_dir, "where early_exit.csv goes")->capture_default_str();
  app.add_flag("--smoke", s.smoke,
               "a seconds-long run: tiny models, 600/128 examples, 2 epochs, 16 batch-1 samples "
               "(flags given explicitly win; --out defaults to out/early_exit_smoke)");
  experiment::parse_command_line(app, argc, argv);
  s.scheme = parse_scheme(scheme);
  if (s.smoke) {
    using experiment::given;
    if (!given(app, "--epochs")) s.epochs = 2;
    if (!given(app, "--train")) s.train_subset = 600;
    if (!given(app, "--test")) s.test_subset = 128;
    s.validation_subset = 128;
    if (!given(app, "--b1-samples")) s.b1_samples = 16;
    if (!given(app, "--out")) s.out_dir = "out/early_exit_smoke";
  }
  return s;
}

// --------------------------------------------------------------------------- the data
//
// Both tasks end as three DataLoaders; text batches carry a padding mask, image batches none.

struct TaskData {
  std::string name;
  std::shared_ptr<const data::Dataset> train, validation, test;
  int64_t classes = 0, vocab_size = 0;
};

std::shared_ptr<const data::Dataset> first_n(std::shared_ptr<const data::Dataset> all, int64_t n) {
  if (n <= 0 || n >= all->size()) return all;
  std::vector<int64_t> indices(static_cast<size_t>(n));
  std::iota(indices.begin(), indices.end(), 0);
  return std::make_shared<data::Subset>(std::move(all), std::move(indices));
}

TaskData wordnet_data(const Settings& s) {
  data::WordNetOptions options;
  options.include_tops = false;  // the 25 supersenses
  const data::TextSplits splits = data::wordnet_gloss_splits(options);
  data::TokenizerOptions tokenizer_options;
  tokenizer_options.kind = data::TokenizerKind::word;
  tokenizer_options.min_freq = 2;
  const data::Tokenizer tokenizer = data::Tokenizer::build(splits.train.all_texts(), tokenizer_options);
  data::TokenizedOptions encode;
  encode.max_length = 32;
  auto tokenized = [&](const data::TextDataset& d) {
    return std::make_shared<const data::TokenizedDataset>(d, tokenizer, encode);
  };
  return {"wordnet", first_n(tokenized(splits.train), s.train_subset),
          first_n(tokenized(splits.validation), s.validation_subset),
          first_n(tokenized(splits.test), s.test_subset), splits.train.num_classes(),
          tokenizer.vocab().size()};
}

TaskData fmnist_data(const Settings& s) {
  auto load = [](data::Split split) {
    return std::make_shared<data::TensorDataset>(data::FashionMnist::load(split, /*normalize=*/true));
  };
  const auto train_all = load(data::Split::train);
  // The validation images are the last of the training file (never trained on).
  std::vector<int64_t> tail(static_cast<size_t>(s.validation_subset));
  std::iota(tail.begin(), tail.end(), train_all->size() - s.validation_subset);
  return {"fmnist", first_n(train_all, std::min(s.train_subset, train_all->size() - s.validation_subset)),
          std::make_shared<data::Subset>(train_all, tail), first_n(load(data::Split::test), s.test_subset),
          data::FashionMnist::kNumClasses, 0};
}

// --------------------------------------------------------------------------- the models

std::shared_ptr<MultiExitModel> build_model(const TaskData& d, const Settings& s, Generator& init,
                                            Generator& dropout) {
  const nn::ParamOptions param{.generator = &init};
  if (d.name == "wordnet")
    return std::make_shared<MultiExitTransformer>(
        MultiExitTransformerOptions{.vocab_size = d.vocab_size,
                                    .max_length = 32,
                                    .d_model = s.smoke ? 32 : 64,
                                    .heads = s.smoke ? 2 : 4,
                                    .layers = s.smoke ? 3 : 6,
                                    .dim_feedforward = s.smoke ? 64 : 128,
                                    .classes = d.classes,
                                    .dropout = 0.1,
                                    .norm_first = true,
                                    .pad_id = data::Vocabulary::kPadId,
                                    .learned_exit_score = true,
                                    .dropout_generator = &dropout},
        param);
  MultiExitCnnOptions o{.classes = d.classes, .learned_exit_score = true};
  if (s.smoke) o.stages = {{8, true}, {16, true}, {16, false}};
  return std::make_shared<MultiExitCnn>(o, param);
}

// Trains with the scheme (plus the LTE loss); returns the mean loss of the first and last epochs.
std::pair<double, double> train(MultiExitModel& model, const TaskData& d, const Settings& s, uint64_t seed) {
  const data::DataLoader loader(d.train, {.batch_size = 64, .shuffle = true, .seed = seed});
  nn::AdamW optimizer(model.parameters(), {.lr = 2e-3, .weight_decay = 0.01});
  const int64_t total = s.epochs * loader.num_batches();
  nn::LrScheduler scheduler(optimizer, nn::warmup_cosine(total / 20, total));
  const SchemeOptions scheme{.scheme = s.scheme,
                             .first_stage_steps = total / 2,
                             .train_exit_score = true};
  model.train();
  double first = 0, last = 0;
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < s.epochs; ++epoch) {
    double sum = 0;
    int64_t seen = 0;
    for (const data::Batch& batch : loader.epoch(epoch)) {
      SchemeStep out = scheme_step(model, scheme, step++, batch.input, batch.mask, batch.target);
      optimizer.zero_grad();
      out.loss.backward();
      nn::clip_grad_norm_(model.parameters(), 1.0);
      optimizer.step();
      scheduler.step();
      sum += out.loss.item<double>() * batch.size();
      seen += batch.size();
    }
    (epoch == 0 ? first : last) = sum / static_cast<double>(seen);
    if (s.epochs == 1) last = first;
    std::printf("  epoch %lld  loss %.4f\n", (long long)epoch + 1, sum / static_cast<double>(seen));
  }
  model.eval();
  return {first, last};
}

// RightTool's calibration: one temperature per exit, fitted on the validation split.
std::vector<double> calibrate(MultiExitModel& model, const TaskData& d) {
  NoGradGuard no_grad;
  const data::DataLoader loader(d.validation, {.batch_size = 256});
  std::vector<std::vector<double>> logits(static_cast<size_t>(model.num_exits()));
  std::vector<int64_t> labels;
  for (const data::Batch& batch : loader.epoch(0)) {
    const auto outputs = model.forward_all(batch.input, batch.mask);
    for (size_t i = 0; i < outputs.size(); ++i) {
      const auto v = outputs[i].logits.to_vector<double>();
      logits[i].insert(logits[i].end(), v.begin(), v.end());
    }
    const auto t = batch.target.to_vector<int64_t>();
    labels.insert(labels.end(), t.begin(), t.end());
  }
  std::vector<double> temperatures;
  for (const auto& l : logits) temperatures.push_back(fit_temperature(l, labels, model.num_classes()));
  return temperatures;
}

// --------------------------------------------------------------------------- the sweep

struct SweepPoint {
  double accuracy = 0, mean_exit = 0, flops_per_sample = 0, us_b64 = 0, us_b1 = 0;
};

SweepPoint evaluate(MultiExitModel& model, ExitRule& rule, const TaskData& d, int64_t b1_samples) {
  SweepPoint p;
  int64_t correct = 0, n = 0;
  double flops = 0, exits = 0, seconds = 0;
  const data::DataLoader loader(d.test, {.batch_size = 64, .background = false});
  for (const data::Batch& batch : loader.epoch(0)) {
    const EarlyExitResult r = early_exit(model, rule, batch.input, batch.mask);
    const auto labels = batch.target.to_vector<int64_t>();
    for (int64_t b = 0; b < r.batch(); ++b) {
      correct += r.prediction[static_cast<size_t>(b)] == labels[static_cast<size_t>(b)];
      flops += static_cast<double>(r.flops[static_cast<size_t>(b)]);
      exits += static_cast<double>(r.exit_index[static_cast<size_t>(b)] + 1);
    }
    n += r.batch();
    seconds += r.seconds;
  }
  p.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  p.mean_exit = exits / static_cast<double>(n);
  p.flops_per_sample = flops / static_cast<double>(n);
  p.us_b64 = 1e6 * seconds / static_cast<double>(n);
  const data::DataLoader single(first_n(d.test, b1_samples), {.batch_size = 1, .background = false});
  double b1_seconds = 0;
  int64_t b1_n = 0;
  for (const data::Batch& batch : single.epoch(0)) {
    b1_seconds += early_exit(model, rule, batch.input, batch.mask).seconds;
    ++b1_n;
  }
  p.us_b1 = 1e6 * b1_seconds / static_cast<double>(b1_n);
  return p;
}

// Each rule with its thresholds, from "never stops before the last exit" to "always stops at the
// first".
struct RuleSweep {
  std::shared_ptr<ExitRule> rule;
  std::vector<double> thresholds;
};

std::vector<RuleSweep> rules(MultiExitModel& model, const std::vector<double>& temperatures) {
  const double log_c = std::log(static_cast<double>(model.num_classes()));
  const auto n = static_cast<double>(model.num_exits());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> fractions{0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 1.01};
  std::vector<double> entropy;
  for (const double f : fractions) entropy.push_back(f * log_c);
  entropy.back() = inf;
  std::vector<double> patience, votes;
  for (double k = n - 1; k >= 0; --k) patience.push_back(k);
  for (double k = n; k >= 0; --k) votes.push_back(k);
  return {
      {std::make_shared<EntropyExit>(0.0), entropy},
      {std::make_shared<NormalizedEntropyExit>(0.0), fractions},
      {std::make_shared<CalibratedMaxProbExit>(1.0, temperatures), {1.01, 0.99, 0.95, 0.9, 0.8, 0.7, 0.5, 0.0}},
      {std::make_shared<PatienceExit>(0), patience},
      {std::make_shared<VotingExit>(0), votes},
      {std::make_shared<LearnedExit>(1.0, model.exit_score()), {1.01, 0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.0}},
  };
}

// --------------------------------------------------------------------------- main

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_args(argc, argv);
  std::vector<std::string> tasks;
  if ((s.task == "wordnet" || s.task == "both") && data::wordnet_available()) tasks.push_back("wordnet");
  if ((s.task == "fmnist" || s.task == "both") && data::FashionMnist::available())
    tasks.push_back("fmnist");
  if (tasks.empty()) {
    std::printf("no data: install wordnet-base and/or dataset-fashion-mnist\n");
    return 77;
  }
  std::filesystem::create_directories(s.out_dir);
  const std::string csv_path = s.out_dir + "/early_exit.csv";
  std::FILE* csv = std::fopen(csv_path.c_str(), "w");
  check(csv != nullptr, "early_exit: cannot write {}", csv_path);
  std::fprintf(csv, "task,seed,scheme,rule,threshold,accuracy,mean_exit,flops_per_sample,"
                    "full_flops_per_sample,us_per_sample_b64,us_per_sample_b1\n");
  bool ok = true;
  for (const std::string& task : tasks) {
    const TaskData d = task == "wordnet" ? wordnet_data(s) : fmnist_data(s);
    for (int64_t seed = 0; seed < s.seeds; ++seed) {
      Generator init(static_cast<uint64_t>(seed)), dropout(static_cast<uint64_t>(seed) + 1000);
      auto model = build_model(d, s, init, dropout);
      std::printf("%s, seed %lld: %lld exits, %lld parameters, scheme %s + LTE, %lld training examples\n",
                  task.c_str(), (long long)seed, (long long)model->num_exits(),
                  (long long)model->num_parameters(), scheme_name(s.scheme).c_str(),
                  (long long)d.train->size());
      const auto [first, last] = train(*model, d, s, static_cast<uint64_t>(seed));
      if (!(last < first)) {
        std::printf("FAILED: the training loss did not go down (%.4f -> %.4f)\n", first, last);
        ok = false;
      }
      const std::vector<double> temperatures = calibrate(*model, d);
      std::printf("  calibrated temperatures:");
      for (const double t : temperatures) std::printf(" %.2f", t);
      std::printf("\n");
      double full_accuracy = -1, full_flops = 0;
      for (RuleSweep& sweep : rules(*model, temperatures)) {
        for (const double threshold : sweep.thresholds) {
          sweep.rule->set_threshold(threshold);
          const SweepPoint p = evaluate(*model, *sweep.rule, d, s.b1_samples);
          if (full_accuracy < 0) {  // the first point: entropy that never stops early
            full_accuracy = p.accuracy;
            full_flops = p.flops_per_sample;
          }
          std::fprintf(csv, "%s,%lld,%s,%s,%g,%.6f,%.4f,%.1f,%.1f,%.2f,%.2f\n", task.c_str(),
                       (long long)seed, scheme_name(s.scheme).c_str(), sweep.rule->name().c_str(),
                       threshold, p.accuracy, p.mean_exit, p.flops_per_sample, full_flops, p.us_b64,
                       p.us_b1);
          std::fflush(csv);
          std::printf("  %-19s %-6g acc %6.2f%%  exit %.2f  %5.1f%% FLOPs  %7.1f us/sample b64  %7.1f us b1\n",
                      sweep.rule->name().c_str(), threshold, 100 * p.accuracy, p.mean_exit,
                      100 * p.flops_per_sample / full_flops, p.us_b64, p.us_b1);
          // A threshold that never stops early must reproduce the full model (voting excepted: its
          // last exit predicts by the vote, not by the last head).
          if (sweep.rule->name() != "voting" && p.mean_exit == static_cast<double>(model->num_exits()) &&
              p.accuracy != full_accuracy) {
            std::printf("FAILED: %s at %g runs every block but differs from the full model\n",
                        sweep.rule->name().c_str(), threshold);
            ok = false;
          }
        }
      }
    }
  }
  std::fclose(csv);
  std::printf("results in %s\n", csv_path.c_str());
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "early_exit: %s\n", e.what());
  return 1;
}
