// The benchmark workloads shared with the PyTorch reference (../shared/bench/workloads.md and
// torch_reference.py), timed the same way and printed in the same format, so that
// bench/compare_torch.py can run both sides and put them in one table.
//
// Training workloads time one full step (zero_grad + forward + loss + backward + optimizer step):
// 5 warm-up steps, then the median, min and max of --iters timed steps (default 30, at least 20).
// Batch-1 inference workloads run the model in eval mode under NoGradGuard: 20 warm-ups, 200 timed
// calls. float32, seeded random inputs and weights, 2 threads (the reference's
// torch.set_num_threads(2)). Output, one line per workload, then the process's peak RSS:
//
//   name median_ms min_ms max_ms
//   # peak_rss_MiB X
//
// Usage: bench_workloads [--only name1,name2] [--iters N] [--threads T]
// (--threads: engine and OpenBLAS threads, default 2 as in the reference; other values are for
// experiments, not for the comparison.)
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/workload_models.h"
#include "engine/autograd.h"
#include "engine/cpu/parallel.h"
#include "engine/random.h"

using namespace dg;
using dg::bench::Cnn;

namespace {

// ---------------------------------------------------------------- timing

struct Stats {
  double median_ms, min_ms, max_ms;
};

// `warmup` untimed calls, then `iters` timed ones.
Stats time_fn(const std::function<void()>& fn, int warmup, int iters) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto start = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  return {median, ms.front(), ms.back()};
}

void report(const std::string& name, const Stats& s) {
  fmt::print("{} {:.3f} {:.3f} {:.3f}\n", name, s.median_ms, s.min_ms, s.max_ms);
  std::fflush(stdout);
}

// ---------------------------------------------------------------- training steps

using LossFn = std::function<Tensor(const Tensor&)>;

// One full training step of `model` on the fixed input x. The model and optimizer are kept alive
// by the returned closure.
std::function<void()> make_train_step(std::shared_ptr<nn::UnaryModule> model,
                                      std::shared_ptr<nn::Optimizer> opt, Tensor x, LossFn loss_fn) {
  return [model, opt, x, loss_fn] {
    opt->zero_grad(/*set_to_none=*/true);
    const Tensor out = model->forward(x);
    const Tensor loss = loss_fn(out);
    loss.backward();
    opt->step();
  };
}

std::shared_ptr<nn::Optimizer> sgd(const nn::Module& model) {
  return std::make_shared<nn::SGD>(model.parameters(), nn::SGDOptions{.lr = 0.01, .momentum = 0.9});
}

std::shared_ptr<nn::Optimizer> adam(const nn::Module& model) {
  return std::make_shared<nn::Adam>(model.parameters(), nn::AdamOptions{.lr = 1e-3});
}

// A classifier trained with cross-entropy on fixed random labels.
std::function<void()> classifier_step(std::shared_ptr<nn::UnaryModule> model,
                                      std::shared_ptr<nn::Optimizer> opt, const Shape& input_shape,
                                      int64_t classes) {
  const Tensor x = randn(input_shape);
  const Tensor y = randint(0, classes, {input_shape[0]});
  return make_train_step(std::move(model), std::move(opt), x,
                         [y](const Tensor& out) { return cross_entropy(out, y); });
}

std::function<void()> wl_mlp() {
  auto m = bench::make_mlp();
  return classifier_step(m, sgd(*m), {128, 784}, 10);
}

std::function<void()> wl_cnn() {
  auto m = std::make_shared<Cnn>();
  return classifier_step(m, sgd(*m), {64, 1, 28, 28}, 10);
}

std::function<void()> wl_dyconv() {
  auto m = std::make_shared<Cnn>(bench::dynamic_conv());
  return classifier_step(m, sgd(*m), {64, 1, 28, 28}, 10);
}

std::function<void()> wl_lstm() {
  auto m = std::make_shared<bench::LstmNet>();
  return classifier_step(m, adam(*m), {64, 28, 28}, 10);
}

std::function<void()> wl_lstm_cell_loop() {
  auto m = std::make_shared<bench::LstmCellNet>();
  return classifier_step(m, adam(*m), {64, 28, 28}, 10);
}

std::function<void()> wl_moe() {
  auto m = std::make_shared<bench::MoE>();
  const Tensor x = randn({32 * 64, 256}), target = randn({32 * 64, 256});
  bench::MoE* moe = m.get();
  return make_train_step(m, adam(*m), x, [target, moe](const Tensor& out) {
    return mse_loss(out, target) + 0.01 * moe->aux;
  });
}

std::function<void()> wl_transformer() {
  auto m = std::make_shared<bench::TransformerClf>();
  return classifier_step(m, adam(*m), {32, 64, 128}, 2);
}

// ---------------------------------------------------------------- batch-1 inference

std::function<void()> infer_fn(std::shared_ptr<nn::UnaryModule> model, const Shape& input_shape) {
  model->eval();
  const Tensor x = randn(input_shape);
  return [model, x] {
    NoGradGuard no_grad;
    model->forward(x);
  };
}

// ---------------------------------------------------------------- the table

struct Workload {
  std::string name;
  std::function<std::function<void()>()> make;
  bool inference;
};

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"mlp", wl_mlp, false},
      {"cnn", wl_cnn, false},
      {"dyconv", wl_dyconv, false},
      {"lstm", wl_lstm, false},
      {"lstm_cell_loop", wl_lstm_cell_loop, false},
      {"moe", wl_moe, false},
      {"transformer", wl_transformer, false},
      {"infer_b1_mlp", [] { return infer_fn(bench::make_mlp(), {1, 784}); }, true},
      {"infer_b1_cnn", [] { return infer_fn(std::make_shared<Cnn>(), {1, 1, 28, 28}); }, true},
      {"infer_b1_transformer",
       [] { return infer_fn(std::make_shared<bench::TransformerClf>(), {1, 64, 128}); }, true},
  };
  return all;
}

[[noreturn]] void usage(const char* argv0, int status) {
  std::string names;
  for (const auto& w : workloads()) names += " " + w.name;
  std::fprintf(status ? stderr : stdout,
               "usage: %s [--only name1,name2] [--iters N (>= 20, default 30)] [--threads T (default 2)]\n"
               "workloads:%s\n",
               argv0, names.c_str());
  std::exit(status);
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> only;
  int iters = 30;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string name; std::getline(list, name, ',');)
        if (!name.empty()) only.insert(name);
    } else if (arg == "--iters" && i + 1 < argc) {
      iters = std::atoi(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else {
      usage(argv[0], arg == "--help" || arg == "-h" ? 0 : 2);
    }
  }
  for (const auto& name : only) {
    const bool known = std::any_of(workloads().begin(), workloads().end(),
                                   [&](const Workload& w) { return w.name == name; });
    if (!known) {
      std::fprintf(stderr, "unknown workload '%s'\n", name.c_str());
      usage(argv[0], 2);
    }
  }

  set_num_threads(threads);
  fmt::print("# dyngrad  threads: {}\n# name median_ms min_ms max_ms\n", num_threads());
  for (const auto& w : workloads()) {
    if (!only.empty() && !only.count(w.name)) continue;
    manual_seed(0);
    const auto fn = w.make();
    report(w.name, w.inference ? time_fn(fn, 20, 200) : time_fn(fn, 5, std::max(20, iters)));
  }

  rusage usage_now{};
  getrusage(RUSAGE_SELF, &usage_now);  // ru_maxrss is in KiB on Linux
  fmt::print("# peak_rss_MiB {:.1f}\n", usage_now.ru_maxrss / 1024.0);
  return 0;
}
