// PAD-Net's Figure 5 (He et al. 2023, Section 5.4): the computation of a PAD-Net MoE layer per
// token against its dynamic ratio kappa, measured, beside the paper's n kappa c + (1 - kappa) c
// (n selected experts, c one expert's cost: the dense FFN's).
//
// The layer: the feed-forward block of the last layer of all-MiniLM-L6-v2 (d 384, d_ff 1536)
// upcycled into 8 experts, top-2 (every expert the pretrained FFN plus N(0, 0.01^2) noise so the
// experts differ), the static weights the pretrained FFN's. Its input: the real hidden states that
// reach that layer for the test glosses of the WordNet supersense task (the lower layers run once).
// For each kappa the masks are a random partition at that ratio (the cost depends on how many
// positions are dynamic, not which), the layer is compacted (partition/compact_moe.h) and its
// inference forward is measured: the engine's FLOP counter and the wall time (median of --repeats).
// The compacted layer's inference path multiplies only what the partition kept: each routed token
// meets its experts' dynamic values, and the static values once per token (shared by the experts,
// since sum_e g_e h_e W_s = (sum_e g_e h_e) W_s), so its multiply-adds are n kappa c + (1 - kappa) c
// plus the router's. The Static row is the dense FFN, the MoE row the uncompacted 8-expert layer.
//
//   padnet_moe_compute [--model DIR] [--tokens N] [--kappas 1,0.9,...] [--repeats N] [--out DIR]
//                      [--smoke]
//
// Writes DIR/padnet_moe_compute.md and DIR/padnet_moe_compute_{flops,time}.png (with their CSVs).
// Exits 1 if the measured counts do not fall with kappa at the formula's slope, (n - 1) c per unit
// (within 1%), 77 without the model or WordNet.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "datasets/text_task.h"
#include "dynamic/moe/moe_layer.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/random.h"
#include "examples/common/bert_finetune.h"
#include "examples/common/command_line.h"
#include "examples/common/plot.h"
#include "examples/common/result_figures.h"
#include "examples/common/results_page.h"
#include "nn/bert.h"
#include "partition/compact_moe.h"
#include "partition/mode_partition.h"
#include "partition/moe_report.h"
#include "partition/partially_dynamic_moe.h"

using namespace dg;
using namespace dg::experiment;

struct Settings {
  std::string model_dir = nn::default_model_dir();
  int64_t tokens = 4096;  // token rows the layer is measured on
  std::vector<double> kappas = {1.0, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0};
  int64_t repeats = 7;
  int64_t experts = 8, top_k = 2;
  std::string out_dir = "docs/results";
  bool smoke = false;
  std::string command_line;
};

Settings parse_settings(int argc, char** argv) {
  Settings s;
  CLI::App app{"PAD-Net Figure 5: measured computation per token of a PAD-Net MoE layer against "
               "its dynamic ratio, beside n kappa c + (1 - kappa) c."};
  app.add_option("--model", s.model_dir, "BERT-format folder (config.json, model.safetensors, vocab.txt)");
  app.add_option("--tokens", s.tokens, "token rows the layer runs on")->check(positive());
  app.add_option("--kappas", s.kappas, "dynamic ratios")->delimiter(',')->check(CLI::Range(0.0, 1.0));
  app.add_option("--repeats", s.repeats, "timed forwards per setting (the median is reported)")
      ->check(positive());
  app.add_option("--out", s.out_dir, "folder for the results page and figures");
  app.add_flag("--smoke", s.smoke, "256 tokens, 3 kappas, 2 repeats (seconds; flags given "
                                   "explicitly win; --out defaults to out/padnet_moe_compute_smoke)");
  parse_command_line(app, argc, argv);
  if (s.smoke) {
    if (!given(app, "--tokens")) s.tokens = 256;
    if (!given(app, "--kappas")) s.kappas = {1.0, 0.5, 0.0};
    if (!given(app, "--repeats")) s.repeats = 2;
    if (!given(app, "--out")) s.out_dir = "out/padnet_moe_compute_smoke";
  }
  s.command_line = joined_arguments(argc, argv);
  return s;
}

// The engine's FLOPs per token of one forward and its median wall time per token (microseconds).
struct Cost {
  double flops_per_token = 0.0, microseconds_per_token = 0.0;
};
Cost measure(const std::function<Tensor()>& forward, int64_t tokens, int64_t repeats) {
  NoGradGuard no_grad;
  Cost cost;
  cost.flops_per_token = partition::measured_flops_per_token([&] { forward(); }, tokens);
  std::vector<double> seconds;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    forward();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(seconds.begin(), seconds.begin() + static_cast<long>(seconds.size() / 2), seconds.end());
  cost.microseconds_per_token = 1e6 * seconds[seconds.size() / 2] / static_cast<double>(tokens);
  return cost;
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Settings s = parse_settings(argc, argv);
  auto encoder = load_pretrained_encoder(s.model_dir);
  if (!encoder) return 77;
  const nn::BertConfig& config = encoder->model->config;
  const int64_t last = config.num_hidden_layers - 1;

  // ------------------------------------------------------------------ the tokens: real hidden
  // states entering the last layer's FFN (the attention output of that layer)
  data::TextTaskOptions options;
  options.wordnet.max_test_examples = std::max<int64_t>(s.tokens / 8, 16);
  const data::TextTaskData data = data::load_text_task("wordnet-supersense", options);
  const TaskFeatures features =
      prepare_task(*encoder, data, {.max_length = 32, .frozen_layers = last,
                                    .max_train_examples = 1, .max_test_examples = options.wordnet.max_test_examples});
  Tensor tokens;
  {
    NoGradGuard no_grad;
    nn::BertLayer& layer = *encoder->model->encoder->layers[static_cast<size_t>(last)];
    const Tensor attended = layer.attention->forward(features.test.hidden, features.test.padding);
    const Tensor padding = features.test.padding.reshape({-1}).contiguous();
    std::vector<int64_t> real;  // the token positions, padding left out
    for (int64_t i = 0; i < padding.numel(); ++i)
      if (!padding.data<bool>()[i]) real.push_back(i);
    const Tensor rows = attended.reshape({-1, config.hidden_size});
    tokens = index_select(rows, 0, from_vector(real));
    tokens = tokens.narrow(0, 0, std::min<int64_t>(s.tokens, tokens.shape()[0])).contiguous();
  }
  const int64_t n_tokens = tokens.shape()[0];
  std::printf("Figure 5: layer %lld's FFN of %s, %lld tokens, %lld experts top-%lld\n",
              (long long)last, s.model_dir.c_str(), (long long)n_tokens, (long long)s.experts,
              (long long)s.top_k);

  nn::BertLayer& layer = *encoder->model->encoder->layers[static_cast<size_t>(last)];
  nn::Linear& fc1 = layer.intermediate_dense();
  nn::Linear& fc2 = layer.output_dense();
  const dynamic::MoEOptions moe_options{.activation = dynamic::ExpertActivation::gelu};
  auto make_gate = [&] {
    Generator generator(7);
    return std::make_shared<dynamic::SoftmaxTopKGate>(config.hidden_size, s.experts, s.top_k,
                                                      dynamic::SoftmaxTopKOptions{},
                                                      nn::ParamOptions{.generator = &generator});
  };

  // ------------------------------------------------------------------ Static and MoE
  const Cost dense = measure([&] { return fc2.forward(gelu(fc1.forward(tokens))); }, n_tokens, s.repeats);
  Generator noise(11);
  auto moe = dynamic::MoE::upcycle(fc1, fc2, make_gate(), moe_options, 0.01,
                                   nn::ParamOptions{.generator = &noise});
  moe->eval();
  const Cost full_moe = measure([&] { return moe->forward(tokens); }, n_tokens, s.repeats);
  const double c = dense.flops_per_token;  // one expert's cost: the dense FFN's
  const double n = static_cast<double>(s.top_k);
  std::printf("Static %.4g FLOPs/token %.3f us/token; MoE %.4g FLOPs/token %.3f us/token\n", c,
              dense.microseconds_per_token, full_moe.flops_per_token, full_moe.microseconds_per_token);

  // ------------------------------------------------------------------ PAD-Net at each kappa
  MarkdownTable table{.header = {"Layer", "kappa", "measured FLOPs / token", "n kappa c + (1 - kappa) c",
                                 "measured / formula", "us / token (median)", "stored bytes"},
                      .right_aligned = {false, true, true, true, true, true, true},
                      .rows = {}};
  table.add({"Static (dense FFN)", "-", fmt::format("{:.4g}", c), "c", "-",
             fmt::format("{:.3f}", dense.microseconds_per_token), "-"});
  table.add({"MoE (uncompacted)", "1", fmt::format("{:.4g}", full_moe.flops_per_token),
             fmt::format("{:.4g}", n * c), fmt::format("{:.3f}", full_moe.flops_per_token / (n * c)),
             fmt::format("{:.3f}", full_moe.microseconds_per_token),
             std::to_string(partition::stored_bytes(*moe))});
  plot::Series measured_flops{"measured (compacted PAD-Net)", {}, {}}, formula{"n kappa c + (1 - kappa) c", {}, {}};
  plot::Series time{"compacted PAD-Net", {}, {}}, moe_time{"MoE (uncompacted)", {}, {}},
      dense_time{"Static (dense FFN)", {}, {}};
  std::vector<double> kappa_points, measured_points;  // for the slope
  for (double kappa : s.kappas) {
    Generator noise_k(11);
    auto padnet = partition::PartiallyDynamicMoE::upcycle(fc1, fc2, make_gate(), moe_options, {}, 0.01,
                                                          nn::ParamOptions{.generator = &noise_k});
    partition::random_partition(*padnet, kappa, 1234);
    partition::CompactPartiallyDynamicMoE compact(*padnet);
    compact.eval();
    const Cost cost = measure([&] { return compact.forward(tokens); }, n_tokens, s.repeats);
    const double predicted = n * kappa * c + (1.0 - kappa) * c;
    kappa_points.push_back(kappa);
    measured_points.push_back(cost.flops_per_token);
    table.add({"PAD-Net (compacted)", fmt::format("{:.2f}", kappa), fmt::format("{:.4g}", cost.flops_per_token),
               fmt::format("{:.4g}", predicted), fmt::format("{:.3f}", cost.flops_per_token / predicted),
               fmt::format("{:.3f}", cost.microseconds_per_token),
               std::to_string(partition::stored_bytes(compact))});
    measured_flops.x.push_back(kappa);
    measured_flops.y.push_back(cost.flops_per_token / c);
    formula.x.push_back(kappa);
    formula.y.push_back(predicted / c);
    time.x.push_back(kappa);
    time.y.push_back(cost.microseconds_per_token);
    moe_time.x.push_back(kappa);
    moe_time.y.push_back(full_moe.microseconds_per_token);
    dense_time.x.push_back(kappa);
    dense_time.y.push_back(dense.microseconds_per_token);
    std::printf("kappa %.2f: %.4g FLOPs/token (formula %.4g), %.3f us/token\n", kappa,
                cost.flops_per_token, predicted, cost.microseconds_per_token);
  }
  std::printf("\n%s", table.str().c_str());

  const std::string flops_png = s.out_dir + "/padnet_moe_compute_flops.png";
  const std::string time_png = s.out_dir + "/padnet_moe_compute_time.png";
  plot::write_line_chart(flops_png, {.title = "Figure 5: computation per token (units of c)",
                                     .x_label = "dynamic ratio kappa",
                                     .y_label = "FLOPs per token / c",
                                     .series = {measured_flops, formula}});
  plot::write_line_chart(time_png, {.title = "Figure 5: wall time per token",
                                    .x_label = "dynamic ratio kappa",
                                    .y_label = "microseconds per token",
                                    .series = {time, moe_time, dense_time}});

  // The formula's content is the slope: each unit of kappa costs (n - 1) c per token, since the
  // routed tokens' dynamic products grow by n c and the shared static product shrinks by c. The
  // intercept carries what the formula leaves out (router, activations, combines), the same at
  // every kappa. Least-squares slope of the measured counts against kappa:
  double slope = 0.0;
  if (kappa_points.size() >= 2) {
    double mk = 0.0, mf = 0.0;
    for (size_t i = 0; i < kappa_points.size(); ++i) mk += kappa_points[i], mf += measured_points[i];
    mk /= static_cast<double>(kappa_points.size());
    mf /= static_cast<double>(kappa_points.size());
    double sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < kappa_points.size(); ++i) {
      sxy += (kappa_points[i] - mk) * (measured_points[i] - mf);
      sxx += (kappa_points[i] - mk) * (kappa_points[i] - mk);
    }
    slope = sxx > 0.0 ? sxy / sxx : 0.0;
  }
  const double slope_error = std::abs(slope / ((n - 1.0) * c) - 1.0);
  const bool slope_holds = kappa_points.size() >= 2 && slope_error < 0.01;
  const std::string md_path = s.out_dir + "/padnet_moe_compute.md";
  write_results_page(
      md_path,
      {.title = "PAD-Net Figure 5: computation of a PAD-Net MoE layer per token",
       .program = "padnet_moe_compute",
       .command_line = s.command_line,
       .scale = fmt::format(
           "Scale: the FFN of layer {} of {} (d {}, d_ff {}), upcycled to {} experts, top-{} "
           "(expert noise 0.01), on {} real token states (WordNet supersense test glosses); "
           "random masks at each kappa (seed 1234), compacted; median wall time of {} forwards "
           "on this machine's 2 cores, inference (no graph). c = the dense FFN's measured FLOPs "
           "per token.",
           last, s.model_dir, config.hidden_size, config.intermediate_size, s.experts, s.top_k,
           n_tokens, s.repeats),
       .table = table.str(),
       .figures = figures_in({flops_png, time_png}),
       .claims = {{fmt::format("The measured FLOPs per token fall with kappa at the slope of n kappa c + "
                               "(1 - kappa) c, (n - 1) c per unit of kappa (measured slope {:.4g}, "
                               "(n - 1) c = {:.4g}, off by {:.2f}%)",
                               slope, (n - 1.0) * c, 100 * slope_error),
                   slope_holds}},
       .notes = {"FLOPs are the engine's count of the multiply-adds the kernels executed "
                 "(engine/flops.h). The compacted layer multiplies by its stored values only "
                 "(sparse rows); its wall time against the dense BLAS products of the MoE and "
                 "Static rows is in the time figure and the table."}});
  print_written({md_path, flops_png, time_png});
  if (kappa_points.size() >= 2 && !slope_holds) {
    std::printf("FAILED: the measured slope %.4g is %.2f%% off (n - 1) c\n", slope, 100 * slope_error);
    return 1;
  }
  return 0;
}
