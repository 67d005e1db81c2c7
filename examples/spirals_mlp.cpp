// Training a neural network from scratch with dyngrad, start to finish, in one file.
//
// The task: three interleaved spirals in the plane, one per class (the classic toy problem no
// straight line can separate). The model: a multilayer perceptron 2 -> 64 -> 64 -> 3 with ReLU.
// The training: full-batch gradient descent with momentum on the cross-entropy loss. Everything is
// written with plain engine ops (matmul, add, relu, logsumexp, gather, mean), autograd computes the
// gradients, and the optimizer is a few in-place updates under NoGradGuard: no layers or
// optimizers from nn/, so you can see every step. The data set and the initial weights come from
// one seeded Generator, so every run with the same --seed starts from bit-identical data and
// weights, on any machine.
//
//   spirals_mlp [--steps N] [--seed S] [--smoke]
//
// --smoke trains a tiny model for a few steps (about a second); the test suite runs it that way.
// The program exits with status 1 if training failed to lower the loss.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/command_line.h"
#include "nn/train/loss_trend.h"

using namespace dg;

// --------------------------------------------------------------------------- settings

struct Settings {
  int64_t points_per_class = 200;  // in the training set; the held-out set has as many
  int64_t hidden = 64;
  int64_t steps = 1500;
  int64_t log_every = 100;
  double learning_rate = 0.05;
  double momentum = 0.9;
  uint64_t seed = 0;
};

constexpr int64_t kClasses = 3;

// The flags, through CLI11 like every example's (examples/common/command_line.h).
Settings parse_args(int argc, char** argv) {
  Settings s;
  bool smoke = false;
  CLI::App app{"Trains a small MLP on three interleaved spirals with nothing but engine ops."};
  app.add_option("--steps", s.steps, "full-batch gradient steps")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the data and the initial weights")
      ->check(dg::experiment::non_negative())
      ->capture_default_str();
  app.add_flag("--smoke", smoke,
               "a second-long run: 40 points per class, 16 hidden units, 60 steps unless --steps");
  dg::experiment::parse_command_line(app, argc, argv);
  if (smoke) {
    s.points_per_class = 40;
    s.hidden = 16;
    if (!dg::experiment::given(app, "--steps")) s.steps = 60;
    s.log_every = 10;
  }
  return s;
}

// --------------------------------------------------------------------------- the data set
//
// Class k is a spiral arm winding one and a half turns: a point at radius r in [0, 1] sits at
// angle 3pi r + k 2pi/3, plus Gaussian noise (standard deviation 0.25) on the angle. Radii are
// drawn uniformly, so the training and held-out sets are two independent samples of the same
// distribution.

struct DataSet {
  Tensor x;       // [N, 2] f32 coordinates
  Tensor labels;  // [N] i64 class indices
};

DataSet make_spirals(int64_t points_per_class, Generator& gen) {
  std::vector<Tensor> xs, labels;
  for (int64_t k = 0; k < kClasses; ++k) {
    Tensor radius = rand({points_per_class}, gen);
    Tensor noise = randn({points_per_class}, gen) * 0.25;
    const double arm_start = k * 2.0 * std::numbers::pi / kClasses;
    Tensor angle = radius * (3.0 * std::numbers::pi) + arm_start + noise;
    xs.push_back(stack({radius * sin(angle), radius * cos(angle)}, 1));
    labels.push_back(full({points_per_class}, static_cast<double>(k), DType::i64));
  }
  return {cat(xs, 0), cat(labels, 0)};
}

// --------------------------------------------------------------------------- the model
//
// The parameters are ordinary tensors that require grad. Weights start with He initialisation
// (normal with variance 2 / fan_in, which keeps the size of the activations steady through ReLU
// layers); biases start at zero.

struct Mlp {
  std::vector<Tensor> weights, biases;

  std::vector<Tensor> parameters() const {
    std::vector<Tensor> all = weights;
    all.insert(all.end(), biases.begin(), biases.end());
    return all;
  }
};

Mlp make_mlp(const std::vector<int64_t>& sizes, Generator& gen) {
  Mlp mlp;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    const double scale = std::sqrt(2.0 / static_cast<double>(sizes[i]));
    mlp.weights.push_back((randn({sizes[i], sizes[i + 1]}, gen) * scale).set_requires_grad());
    mlp.biases.push_back(zeros({sizes[i + 1]}).set_requires_grad());
  }
  return mlp;
}

// x [N, 2] -> logits [N, 3]: an affine map then ReLU for every layer but the last.
Tensor forward(const Mlp& mlp, const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < mlp.weights.size(); ++i) {
    h = matmul(h, mlp.weights[i]) + mlp.biases[i];  // [N, in] @ [in, out] + [out] (broadcast)
    if (i + 1 < mlp.weights.size()) h = relu(h);
  }
  return h;
}

// --------------------------------------------------------------------------- loss and accuracy
//
// Cross-entropy is -log softmax(logits)[label] = logsumexp(logits) - logits[label], averaged over
// the batch. logsumexp is computed stably (the engine subtracts the max), and gather picks each
// row's logit at its label. Autograd differentiates the whole expression.

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  Tensor label_logit = gather(logits, 1, labels.unsqueeze(1)).squeeze(1);  // [N]
  return mean(logsumexp(logits, {1}) - label_logit);
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  Tensor correct = eq(argmax(logits, 1), labels);  // bool [N]
  return sum(correct).item<double>() / static_cast<double>(labels.numel());
}

// --------------------------------------------------------------------------- the optimizer
//
// SGD with momentum: v <- momentum v + grad, p <- p - lr v. The update must not be recorded by
// autograd, so it runs under NoGradGuard, in place (the tensors the model holds are updated, and
// no memory is allocated for new parameters).

struct SgdMomentum {
  std::vector<Tensor> params, velocity;
  double lr, momentum;

  SgdMomentum(std::vector<Tensor> p, double lr, double momentum)
      : params(std::move(p)), lr(lr), momentum(momentum) {
    for (const Tensor& t : params) velocity.push_back(zeros_like(t));
  }

  void step() {
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      velocity[i].mul_(momentum).add_(params[i].grad());
      params[i].add_(velocity[i], -lr);
    }
  }

  void zero_grad() {
    for (Tensor& p : params) p.zero_grad();
  }
};

// --------------------------------------------------------------------------- training

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // show the loss curve as it comes, even through a pipe
  const Settings s = parse_args(argc, argv);
  Generator gen(s.seed);

  const DataSet train = make_spirals(s.points_per_class, gen);
  const DataSet held_out = make_spirals(s.points_per_class, gen);
  Mlp mlp = make_mlp({2, s.hidden, s.hidden, kClasses}, gen);
  SgdMomentum optimizer(mlp.parameters(), s.learning_rate, s.momentum);

  std::printf(
      "MLP 2-%lld-%lld-%lld on %lld-class spirals: %lld training and %lld held-out points, "
      "%lld steps, seed %llu\n",
      (long long)s.hidden, (long long)s.hidden, (long long)kClasses, (long long)kClasses,
      (long long)train.x.size(0), (long long)held_out.x.size(0), (long long)s.steps,
      (unsigned long long)s.seed);

  std::vector<double> step_losses;
  const auto start = std::chrono::steady_clock::now();
  const FlopScope flop_scope;
  for (int64_t step = 0; step < s.steps; ++step) {
    Tensor loss = cross_entropy(forward(mlp, train.x), train.labels);  // builds the graph
    optimizer.zero_grad();
    loss.backward();  // fills .grad of every parameter, then frees the graph
    optimizer.step();

    const double value = loss.item<double>();
    step_losses.push_back(value);
    if (step % s.log_every == 0) std::printf("step %5lld  loss %.4f\n", (long long)step, value);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double gflop = static_cast<double>(flop_scope.count()) * 1e-9;

  // --------------------------------------------------------------------------- evaluation

  NoGradGuard no_grad;  // no graph is needed from here on
  const Tensor train_logits = forward(mlp, train.x);
  const double final_loss = cross_entropy(train_logits, train.labels).item<double>();
  std::printf("step %5lld  loss %.4f\n", (long long)s.steps, final_loss);
  std::printf("train accuracy %.1f%%, held-out accuracy %.1f%%\n",
              100 * accuracy(train_logits, train.labels),
              100 * accuracy(forward(mlp, held_out.x), held_out.labels));
  std::printf("training took %.2f s, %.3f GFLOP measured by the engine's counter\n", seconds,
              gflop);

  // The check the test suite relies on: training must have lowered the loss substantially.
  return dg::train::report_loss_trend(dg::train::loss_trend(step_losses), 0.9) ? 0 : 1;
}
