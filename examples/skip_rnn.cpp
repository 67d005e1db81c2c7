// Skip RNN (Campos et al. 2018) against the plain LSTM on the adding task and on sequential
// Fashion-MNIST, with the skipped steps really skipped.
//
// The task (datasets/synthetic.h): sequences of T steps of (value, marker); values U(-0.5, 0.5),
// two steps marked (one in the first 10%, one in the second half); the target is the sum of the two
// marked values, an L2 loss. Predicting 0 always gives MSE 1/6 ~ 0.167; a model that solves the
// task gets near 0. The models: an LSTM and a Skip RNN with the same LSTM cell size, each with a
// linear head on its final h, trained with Adam on the same data in the same order from the same
// seed. The Skip RNN also pays the budget loss lambda * sum_t u_t per sample. With --task fmnist
// the sequences are Fashion-MNIST images read one pixel per step (784 steps, pixels in [0, 1]),
// the head has 10 outputs, the loss is cross-entropy and the metric test accuracy (the paper's
// sequential MNIST experiment, on the Fashion-MNIST data this machine has).
//
// Reported per seed and as mean +- std over the seeds: test MSE, the fraction of steps at which
// the state was updated, the FLOPs per test sample measured by the engine's counter over the test
// pass, and the wall time of that pass and of a training step. The Skip RNN runs its cell only on
// the samples that update at a step (dynamic/skip_rnn.h), so its measured FLOPs follow its
// fraction of updates.
//
//   skip_rnn [--task adding|fmnist] [--length T] [--steps N] [--seeds 0,1,2] [--hidden H]
//            [--lambda L] [--batch B] [--train N] [--test N] [--threads N] [--reference-gradient]
//            [--smoke]
//
// --reference-gradient trains the Skip RNN with the public reference's estimator (candidates
// computed at skipped steps while training; see skip_rnn.h). --smoke: T = 20, a few dozen steps
// (seconds; flags given explicitly win); the test suite runs it that way. Exits 1 if a model's training loss did not go down
// or the Skip RNN's measured FLOPs do not follow its updates, 77 (skipped) for --task fmnist when
// the data set is not installed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "datasets/idx.h"
#include "datasets/synthetic.h"
#include "dynamic/skip_rnn.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/cpu/parallel.h"
#include "examples/common/command_line.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/rnn.h"

using namespace dg;
using Clock = std::chrono::steady_clock;

// --------------------------------------------------------------------------- settings

struct Settings {
  std::string task = "adding";
  int64_t length = 50;
  int64_t steps = 3000;
  int64_t batch = 64;
  int64_t hidden = 64;
  int64_t train_examples = 20000;
  int64_t test_examples = 1000;
  double lambda = 1e-4;     // budget cost per update and sample
  double learning_rate = 1e-3;
  std::vector<uint64_t> seeds{0, 1, 2};
  int threads = 0;          // 0: the engine's default
  bool reference_gradient = false;
  bool smoke = false;
};

Settings parse_args(int argc, char** argv) {
  Settings s;
  CLI::App app{"Skip RNN against the plain LSTM on the adding task or sequential Fashion-MNIST."};
  app.add_option("--task", s.task, "adding (the synthetic adding task) or fmnist (784 pixel steps)")
      ->check(CLI::IsMember({"adding", "fmnist"}))
      ->capture_default_str();
  app.add_option("--length", s.length, "sequence length T of the adding task")
      ->check(CLI::Range(int64_t{2}, int64_t{1000000}))
      ->capture_default_str();
  app.add_option("--steps", s.steps, "Adam steps per model")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--seeds", s.seeds, "seeds, comma-separated (one run of each model per seed)")
      ->delimiter(',')
      ->check(experiment::non_negative())
      ->capture_default_str();
  app.add_option("--hidden", s.hidden, "LSTM cell size")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--lambda", s.lambda, "the Skip RNN's budget cost per update and sample")
      ->check(experiment::non_negative())
      ->capture_default_str();
  app.add_option("--batch", s.batch, "batch size")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--train", s.train_examples, "training sequences")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--test", s.test_examples, "test sequences")
      ->check(experiment::positive())
      ->capture_default_str();
  app.add_option("--threads", s.threads, "worker threads (default: the engine's)")
      ->check(experiment::positive());
  app.add_flag("--reference-gradient", s.reference_gradient,
               "train the Skip RNN with the public reference's estimator (candidates computed at "
               "skipped steps while training)");
  app.add_flag("--smoke", s.smoke,
               "a seconds-long run: T = 20, 60 steps, hidden 16, 2000/256 sequences, seed 0, "
               "lambda 1e-3 (flags given explicitly win)");
  experiment::parse_command_line(app, argc, argv);
  if (s.smoke) {
    using experiment::given;
    if (!given(app, "--length")) s.length = 20;
    if (!given(app, "--steps")) s.steps = 60;
    if (!given(app, "--hidden")) s.hidden = 16;
    if (!given(app, "--train")) s.train_examples = 2000;
    if (!given(app, "--test")) s.test_examples = 256;
    if (!given(app, "--seeds")) s.seeds = {0};
    if (!given(app, "--lambda")) s.lambda = 1e-3;
    s.learning_rate = 1e-2;
  }
  return s;
}

// --------------------------------------------------------------------------- the two models
//
// Both read x [B, T, F] and predict from their final h with a linear head (1 output for the adding
// task, 10 class logits for Fashion-MNIST). forward() returns the prediction and, for the Skip RNN,
// the update gates [B, T].

struct Model {
  virtual ~Model() = default;
  struct Out {
    Tensor prediction, updates;
  };
  virtual Out forward(const Tensor& x) = 0;
  virtual std::vector<Tensor> parameters() = 0;
};

struct PlainLSTM : Model {
  nn::LSTM lstm;
  nn::Linear head;
  PlainLSTM(int64_t inputs, int64_t hidden, int64_t outputs, Generator& g)
      : lstm(inputs, hidden, {}, {.generator = &g}), head(hidden, outputs, true, {.generator = &g}) {}
  Out forward(const Tensor& x) override { return {head(select(lstm(x).final.h, 0, 0)), Tensor()}; }
  std::vector<Tensor> parameters() override {
    auto p = lstm.parameters();
    for (const Tensor& t : head.parameters()) p.push_back(t);
    return p;
  }
};

struct SkipLSTM : Model {
  dynamic::SkipRNN rnn;
  nn::Linear head;
  SkipLSTM(int64_t inputs, int64_t hidden, int64_t outputs, bool reference_gradient, Generator& g)
      : rnn(inputs, hidden, {.candidates_at_skipped_steps = reference_gradient}, {.generator = &g}),
        head(hidden, outputs, true, {.generator = &g}) {}
  Out forward(const Tensor& x) override {
    const dynamic::SkipRNNOutput out = rnn(x);
    return {head(out.h), out.updates};
  }
  std::vector<Tensor> parameters() override {
    auto p = rnn.parameters();
    for (const Tensor& t : head.parameters()) p.push_back(t);
    return p;
  }
};

// --------------------------------------------------------------------------- the data
//
// Inputs [N, T, F] and targets: the adding task's sums f32 [N, 1] (F = 2), or Fashion-MNIST's
// labels i64 [N] with the image read one pixel per step (T = 784, F = 1; the first --train and
// --test images of each split).

struct Task {
  data::TensorDataset train, test;
  int64_t features, outputs, length;
  bool classification;
};

Task make_task(const Settings& s, uint64_t seed) {
  if (s.task == "adding")
    return {data::make_adding_task(s.train_examples, s.length, seed),
            data::make_adding_task(s.test_examples, s.length, seed + 500), 2, 1, s.length, false};
  const auto pixels = [](const data::TensorDataset& d, int64_t n) {
    n = std::min(n, d.size());
    return data::TensorDataset(reshape(narrow(d.inputs(), 0, 0, n), {n, 784, 1}),
                               narrow(d.targets(), 0, 0, n));
  };
  return {pixels(data::FashionMnist::load(data::Split::train), s.train_examples),
          pixels(data::FashionMnist::load(data::Split::test), s.test_examples), 1, 10, 784, true};
}

// --------------------------------------------------------------------------- training and test

struct Result {
  double first_loss = 0, last_loss = 0;  // mean training loss over the first / last 10% of steps
  double metric = 0;                     // test MSE, or test accuracy for a classification task
  double update_fraction = 1, flops_per_sample = 0, test_ms = 0, train_step_ms = 0;
};

Tensor task_loss(const Task& task, const Tensor& prediction, const Tensor& target) {
  return task.classification ? cross_entropy(prediction, target) : mse_loss(prediction, target);
}

Result run(Model& model, const Settings& s, const Task& task, uint64_t seed) {
  Result r;
  nn::Adam optimizer(model.parameters(), {.lr = s.learning_rate});
  Generator order(seed + 1000);  // the same batch order for both models
  const int64_t window = std::max<int64_t>(1, s.steps / 10);
  const auto start = Clock::now();
  for (int64_t step = 0; step < s.steps; ++step) {
    const Tensor idx = randint(0, task.train.size(), {s.batch}, order);
    const Tensor x = index_select(task.train.inputs(), 0, idx);
    const Tensor y = index_select(task.train.targets(), 0, idx);
    const Model::Out out = model.forward(x);
    const Tensor task_part = task_loss(task, out.prediction, y);
    Tensor loss = task_part;
    if (out.updates.defined()) loss = loss + dynamic::skip_budget_loss(out.updates, s.lambda);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    const double value = task_part.item<double>();
    if (step < window) r.first_loss += value / window;
    if (step >= s.steps - window) r.last_loss += value / window;
  }
  r.train_step_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count() / s.steps;

  NoGradGuard no_grad;
  const data::TensorDataset& test = task.test;
  double total = 0, updates = 0;
  const auto test_start = Clock::now();
  FlopScope flops;
  for (int64_t first = 0; first < test.size(); first += s.batch) {
    const int64_t n = std::min(s.batch, test.size() - first);
    const Model::Out out = model.forward(narrow(test.inputs(), 0, first, n));
    const Tensor target = narrow(test.targets(), 0, first, n);
    total += task.classification ? sum(eq(argmax(out.prediction, 1), target)).item<double>()
                                 : sum(pow(out.prediction - target, 2.0)).item<double>();
    if (out.updates.defined()) updates += sum(out.updates).item<double>();
  }
  r.flops_per_sample = static_cast<double>(flops.count()) / test.size();
  r.test_ms = std::chrono::duration<double, std::milli>(Clock::now() - test_start).count();
  r.metric = total / test.size();
  if (dynamic_cast<SkipLSTM*>(&model)) r.update_fraction = updates / (test.size() * task.length);
  return r;
}

void mean_std(const std::vector<double>& v, double& mean, double& std) {
  mean = 0;
  for (double x : v) mean += x / v.size();
  std = 0;
  for (double x : v) std += (x - mean) * (x - mean);
  std = v.size() > 1 ? std::sqrt(std / (v.size() - 1)) : 0.0;
}

// --------------------------------------------------------------------------- main

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_args(argc, argv);
  if (s.task == "fmnist" && !data::FashionMnist::available()) {
    std::printf("Fashion-MNIST is not installed (Debian package %s); skipping\n",
                data::FashionMnist::kDebianPackage);
    return 77;
  }
  if (s.threads > 0) set_num_threads(s.threads);
  const bool adding = s.task == "adding";
  const char* metric = adding ? "test MSE" : "test acc";
  std::printf("%s, T = %lld, %lld training / %lld test sequences, hidden %lld, batch %lld, "
              "%lld Adam steps (lr %g), lambda %g, %s gradient, %d threads\n",
              adding ? "adding task" : "sequential Fashion-MNIST", (long long)(adding ? s.length : 784),
              (long long)s.train_examples, (long long)s.test_examples, (long long)s.hidden,
              (long long)s.batch, (long long)s.steps, s.learning_rate, s.lambda,
              s.reference_gradient ? "reference" : "skipped-steps-free", num_threads());
  std::printf("%-9s %5s %10s %10s %9s %13s %9s %11s\n", "model", "seed", "train loss", metric,
              "updates", "MFLOP/sample", "test ms", "step ms");
  std::vector<Result> plain_results, skip_results;
  bool ok = true;
  for (uint64_t seed : s.seeds) {
    const Task task = make_task(s, seed);
    for (int which = 0; which < 2; ++which) {
      Generator init(seed);
      std::unique_ptr<Model> model;
      if (which == 0) model = std::make_unique<PlainLSTM>(task.features, s.hidden, task.outputs, init);
      else model = std::make_unique<SkipLSTM>(task.features, s.hidden, task.outputs, s.reference_gradient, init);
      const Result r = run(*model, s, task, seed);
      (which == 0 ? plain_results : skip_results).push_back(r);
      std::printf("%-9s %5llu %10.4f %10.4f %9.3f %13.3f %9.1f %11.2f\n", which ? "skip_lstm" : "lstm",
                  (unsigned long long)seed, r.last_loss, r.metric, r.update_fraction,
                  r.flops_per_sample / 1e6, r.test_ms, r.train_step_ms);
      if (!(r.last_loss < r.first_loss)) {
        std::printf("  training loss did not go down (%.4f -> %.4f)\n", r.first_loss, r.last_loss);
        ok = false;
      }
    }
    // The Skip RNN's cell cost follows its updates: at most the plain LSTM's cost times its
    // fraction of updates, plus the gate's small per-update work.
    const Result& p = plain_results.back();
    const Result& k = skip_results.back();
    if (k.flops_per_sample > p.flops_per_sample * (k.update_fraction + 0.1)) {
      std::printf("  measured FLOPs %.0f do not follow the updates (%.3f of %.0f)\n",
                  k.flops_per_sample, k.update_fraction, p.flops_per_sample);
      ok = false;
    }
  }
  std::printf("\nmean +- std over %zu seed(s)\n", s.seeds.size());
  for (int which = 0; which < 2; ++which) {
    const auto& rs = which ? skip_results : plain_results;
    std::vector<double> values[4];
    for (const Result& r : rs) {
      values[0].push_back(r.metric);
      values[1].push_back(r.update_fraction);
      values[2].push_back(r.flops_per_sample / 1e6);
      values[3].push_back(r.test_ms);
    }
    double m[4], d[4];
    for (int i = 0; i < 4; ++i) mean_std(values[i], m[i], d[i]);
    std::printf("%-9s %s %.4f +- %.4f  updates %.3f +- %.3f  MFLOP/sample %.3f +- %.3f  "
                "test ms %.1f +- %.1f\n",
                which ? "skip_lstm" : "lstm", metric, m[0], d[0], m[1], d[1], m[2], d[2], m[3], d[3]);
  }
  return ok ? 0 : 1;
}
