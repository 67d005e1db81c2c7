// A convolutional network on real Fashion-MNIST: the repository's main example. Two blocks of
// 3x3 convolution, batch norm, ReLU and 2x2 max pooling (1 -> 32 -> 64 channels, 28x28 -> 7x7),
// then 3136 -> 128 -> 10 fully connected with dropout, trained with Adam under a cosine learning-
// rate schedule. With the defaults (4 epochs) it reaches about 91% test accuracy in a few minutes
// on two CPU cores. Built from the library's pieces: the IDX reader and DataLoader of datasets/,
// nn::Conv2d, nn::BatchNorm2d, nn::Linear and nn::Dropout in a Module, cross-entropy from the
// functional API, nn::Adam with an nn::LrScheduler, a progress bar per epoch, and a CSV log of the
// run with its plots. The data: 60000 training and 10000 test images of clothing (28x28 grey, 10
// classes) from the Debian package dataset-fashion-mnist.
//
//   fmnist_cnn [--epochs N] [--seed S] [--out DIR] [--data DIR] [--quiet] [--smoke]
//
// Writes DIR/fmnist_cnn.csv (one row per epoch) and the plots DIR/fmnist_cnn_loss.png and
// DIR/fmnist_cnn_accuracy.png (DIR is runs/ by default). --smoke trains on 1024 images for a few
// dozen steps (seconds); the test suite runs it that way. Exits 1 if the training loss did not go
// down, 77 (the test suite's "skipped") if the data set is not installed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/idx.h"
#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"
#include "examples/common/command_line.h"
#include "examples/common/evaluate.h"
#include "examples/common/fashion_mnist.h"
#include "examples/common/plot.h"
#include "examples/common/result_figures.h"
#include "nn/basic.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"
#include "nn/normalization.h"
#include "nn/optim.h"
#include "nn/train/loss_trend.h"
#include "nn/train/progress.h"
#include "nn/train/run_log.h"

using namespace dg;
using dg::experiment::classification_accuracy;

// --------------------------------------------------------------------------- settings

struct Settings {
  int64_t epochs = 4;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  uint64_t seed = 0;
  std::string out_dir = "runs";
  std::string data_dir;  // empty: the Debian package's directory
  bool quiet = false;
  int64_t train_subset = 0;  // 0: the whole training set
  int64_t test_subset = 0;   // 0: the whole test set
};

Settings parse_args(int argc, char** argv) {
  Settings s;
  bool smoke = false;
  CLI::App app{"Trains a convolutional network on Fashion-MNIST (the main example)."};
  app.add_option("--epochs", s.epochs, "training epochs")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the initial weights, dropout and batch order")
      ->check(experiment::non_negative())
      ->capture_default_str();
  app.add_option("--out", s.out_dir, "where the CSV and the plots go")->capture_default_str();
  app.add_option("--data", s.data_dir,
                 "where Fashion-MNIST is (default: the Debian package's folder)");
  app.add_flag("--quiet", s.quiet, "no progress bars");
  app.add_flag(
      "--smoke", smoke,
      "a seconds-long run on 1024 training and 500 test images (2 epochs unless --epochs)");
  experiment::parse_command_line(app, argc, argv);
  if (smoke) {
    s.train_subset = 1024;
    s.test_subset = 500;
    if (!experiment::given(app, "--epochs")) s.epochs = 2;
  }
  return s;
}

// --------------------------------------------------------------------------- the model
//
// Each block keeps the spatial size through its padded 3x3 convolution and halves it by pooling;
// batch norm after each convolution (which therefore needs no bias) lets Adam take large steps
// from the start. Dropout before each fully connected layer keeps the 400k-weight first one from
// memorising the training set. The layers start from PyTorch's default initialisation, drawn from
// a Generator seeded with --seed.

class FashionCnn : public nn::UnaryModule {
 public:
  explicit FashionCnn(Generator& gen)
      : conv1(register_module(
            "conv1", std::make_shared<nn::Conv2d>(1, 32, 3, Conv2dOptions{.padding = {1, 1}}, false,
                                                  nn::ParamOptions{.generator = &gen}))),
        bn1(register_module("bn1", std::make_shared<nn::BatchNorm2d>(32))),
        conv2(register_module(
            "conv2", std::make_shared<nn::Conv2d>(32, 64, 3, Conv2dOptions{.padding = {1, 1}},
                                                  false, nn::ParamOptions{.generator = &gen}))),
        bn2(register_module("bn2", std::make_shared<nn::BatchNorm2d>(64))),
        drop1(register_module("drop1", std::make_shared<nn::Dropout>(0.25, &gen))),
        fc1(register_module("fc1",
                            std::make_shared<nn::Linear>(64 * 7 * 7, 128, true,
                                                         nn::ParamOptions{.generator = &gen}))),
        drop2(register_module("drop2", std::make_shared<nn::Dropout>(0.25, &gen))),
        fc2(register_module("fc2", std::make_shared<nn::Linear>(
                                       128, 10, true, nn::ParamOptions{.generator = &gen}))) {}

  // x [N, 1, 28, 28] -> logits [N, 10].
  Tensor forward(const Tensor& x) override {
    const Pool2dOptions halve{.kernel = {2, 2}};
    Tensor h = max_pool2d(relu((*bn1)((*conv1)(x))), halve);  // [N, 32, 14, 14]
    h = max_pool2d(relu((*bn2)((*conv2)(h))), halve);         // [N, 64, 7, 7]
    h = flatten(h, 1);                                        // [N, 3136]
    h = relu((*fc1)((*drop1)(h)));                            // [N, 128]
    return (*fc2)((*drop2)(h));                               // [N, 10]
  }
  std::string type_name() const override { return "FashionCnn"; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  std::shared_ptr<nn::Dropout> drop1;
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Dropout> drop2;
  std::shared_ptr<nn::Linear> fc2;
};

// --------------------------------------------------------------------------- training

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // show each epoch as it ends, even through a pipe
  const Settings s = parse_args(argc, argv);
  // The first images of each split (every class is present), standardised with the training set's
  // mean and std; nothing (exit 77, "skipped") without the data set.
  const auto splits = experiment::load_fashion_mnist(s.data_dir, s.train_subset, s.test_subset);
  if (!splits) return 77;
  const auto& [train_set, test_set] = *splits;

  Generator gen(s.seed);
  auto model = std::make_shared<FashionCnn>(gen);
  nn::Adam optimizer(model->parameters(), {.lr = s.learning_rate});
  data::DataLoader loader(train_set, {.batch_size = s.batch_size, .shuffle = true, .seed = s.seed});
  // The learning rate follows half a cosine from its start down to zero over the whole run.
  nn::LrScheduler scheduler(optimizer, nn::warmup_cosine(0, s.epochs * loader.num_batches()));
  train::RunLog log(s.out_dir + "/fmnist_cnn.csv",
                    {"epoch", "train_loss", "train_acc", "test_acc", "seconds"});

  std::printf(
      "CNN (%lld parameters) on Fashion-MNIST: %lld training and %lld test images, %lld "
      "epochs of %lld batches of %lld, Adam lr %g with cosine decay, seed %llu\n",
      (long long)model->num_parameters(), (long long)train_set->size(), (long long)test_set->size(),
      (long long)s.epochs, (long long)loader.num_batches(), (long long)s.batch_size,
      s.learning_rate, (unsigned long long)s.seed);

  std::vector<double> step_losses;
  double train_seconds = 0;
  int64_t train_flops = 0;  // of the training steps only, not the evaluations
  for (int64_t epoch = 1; epoch <= s.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const FlopScope epoch_flops;
    train::ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(s.epochs),
                           loader.num_batches(), s.quiet);
    double loss_sum = 0, correct = 0;
    for (const data::Batch& batch : loader.epoch(epoch)) {
      Tensor logits = (*model)(batch.input);
      Tensor loss = cross_entropy(logits, batch.target);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      scheduler.step();

      const double value = loss.item<double>();
      step_losses.push_back(value);
      loss_sum += value * batch.size();
      correct += sum(eq(argmax(logits.detach(), 1), batch.target)).item<double>();
      bar.step(value);
    }
    bar.finish();
    train_flops += epoch_flops.count();
    train_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const double n = static_cast<double>(train_set->size());
    const double test_acc = classification_accuracy(*model, test_set);
    log.add({double(epoch), loss_sum / n, correct / n, test_acc, train_seconds});
    std::printf("epoch %2lld  train loss %.4f  train acc %5.2f%%  test acc %5.2f%%  %6.1f s\n",
                (long long)epoch, loss_sum / n, 100 * correct / n, 100 * test_acc, train_seconds);
  }
  const double train_gflop = static_cast<double>(train_flops) * 1e-9;

  // --------------------------------------------------------------------------- results

  const FlopScope eval_flops;
  const double test_acc = classification_accuracy(*model, test_set);
  const double forward_mflop_per_image =
      static_cast<double>(eval_flops.count()) * 1e-6 / static_cast<double>(test_set->size());
  plot::write_line_chart(
      s.out_dir + "/fmnist_cnn_loss.png",
      plot::curves_chart(log, "epoch", {"train_loss"}, "Fashion-MNIST CNN: training loss"));
  plot::write_line_chart(
      s.out_dir + "/fmnist_cnn_accuracy.png",
      plot::curves_chart(log, "epoch", {"train_acc", "test_acc"}, "Fashion-MNIST CNN: accuracy"));
  std::printf("test accuracy %.2f%%\n", 100 * test_acc);
  std::printf(
      "training took %.1f s (%.1f GFLOP measured by the engine); a forward pass "
      "costs %.3f MFLOP per image\n",
      train_seconds, train_gflop, forward_mflop_per_image);
  experiment::print_written(
      {log.path(), s.out_dir + "/fmnist_cnn_loss.png", s.out_dir + "/fmnist_cnn_accuracy.png"});

  // The check the test suite relies on: the loss of the last steps is well below that of the first.
  return train::report_loss_trend(train::loss_trend(step_losses), 0.8) ? 0 : 1;
}
