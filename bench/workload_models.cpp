// The benchmark workloads' models (see workload_models.h), each the line-by-line counterpart of
// its PyTorch twin in torch_reference.py.
#include "bench/workload_models.h"

#include "dynamic/dyconv.h"

#include <algorithm>
#include <cmath>

namespace dg::bench {

// ---------------------------------------------------------------- mlp

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(784, 256), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(256, 256), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(256, 10)});
}

// ---------------------------------------------------------------- cnn

ConvMaker static_conv() {
  return [](int64_t in, int64_t out, int64_t kernel, int64_t padding) {
    return std::make_shared<nn::Conv2d>(in, out, kernel,
                                        Conv2dOptions{.padding = {padding, padding}});
  };
}

Cnn::Cnn(const ConvMaker& conv) {
  c1 = register_module("c1", conv(1, 32, 3, 1));
  c2 = register_module("c2", conv(32, 64, 3, 1));
  f1 = register_module("f1", std::make_shared<nn::Linear>(64 * 7 * 7, 128));
  f2 = register_module("f2", std::make_shared<nn::Linear>(128, 10));
}

Tensor Cnn::forward(const Tensor& x) {
  const Pool2dOptions pool{.kernel = {2, 2}};
  Tensor h = max_pool2d(relu(c1->forward(x)), pool);
  h = max_pool2d(relu(c2->forward(h)), pool);
  h = relu(f1->forward(flatten(h, 1)));
  return f2->forward(h);
}

// ---------------------------------------------------------------- dyconv

ConvMaker dynamic_conv() {
  return [](int64_t in, int64_t out, int64_t kernel, int64_t padding) {
    // The library's DY-Conv; its defaults are the reference's (K = 4 kernels and biases,
    // temperature 30, attention hidden size max(C_in / 4, 4)).
    return std::make_shared<dynamic::DynamicConv2d>(
        in, out, kernel, Conv2dOptions{.padding = {padding, padding}});
  };
}

// ---------------------------------------------------------------- recurrent

LstmNet::LstmNet() {
  lstm = register_module("lstm", std::make_shared<nn::LSTM>(28, 128));
  fc = register_module("fc", std::make_shared<nn::Linear>(128, 10));
}

Tensor LstmNet::forward(const Tensor& x) {
  const nn::LSTMOutput out = lstm->forward(x);
  return fc->forward(select(out.final.h, 0, -1 + out.final.h.size(0)));  // h[-1]
}

LstmCellNet::LstmCellNet() {
  cell = register_module("cell", std::make_shared<nn::LSTMCell>(28, 128));
  fc = register_module("fc", std::make_shared<nn::Linear>(128, 10));
}

Tensor LstmCellNet::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1);
  // Explicit zero states, as the reference passes them (not the cell's undefined-means-zero
  // shortcut, which would skip the first step's recurrent product).
  nn::LSTMState state{zeros({B, 128}), zeros({B, 128})};
  for (int64_t t = 0; t < T; ++t) state = cell->forward(select(x, 1, t), state);
  return fc->forward(state.h);
}

// ---------------------------------------------------------------- moe

// Children are named w1_0, w1_1, ... (PyTorch's ModuleList gives w1.0; module names here cannot
// contain a '.').
MoE::MoE(int64_t d, int64_t d_ff, int64_t num_experts, int64_t k) : num_experts(num_experts), k(k) {
  gate = register_module("gate", std::make_shared<nn::Linear>(d, num_experts));
  for (int64_t e = 0; e < num_experts; ++e)
    w1.push_back(register_module("w1_" + std::to_string(e), std::make_shared<nn::Linear>(d, d_ff)));
  for (int64_t e = 0; e < num_experts; ++e)
    w2.push_back(register_module("w2_" + std::to_string(e), std::make_shared<nn::Linear>(d_ff, d)));
}

Tensor MoE::forward(const Tensor& x) {
  const int64_t N = x.size(0);
  const Tensor probs = softmax(gate->forward(x), -1);  // [N, E]
  auto [topv, topi] = topk(probs, k, -1);              // [N, k]
  topv = topv / sum(topv, {-1}, true);                 // renormalise
  const Tensor topv_flat = reshape(topv, {N * k});

  // The routing is read on the host from the top-k indices (the engine has no nonzero op): for
  // each expert, its tokens and the flat [N, k] slot each came through, in row-major order as
  // PyTorch's (topi == e).nonzero() lists them.
  const std::vector<int64_t> routed = topi.to_vector<int64_t>();
  std::vector<std::vector<int64_t>> tokens(num_experts), slots(num_experts);
  for (int64_t i = 0; i < N * k; ++i) {
    tokens[routed[i]].push_back(i / k);
    slots[routed[i]].push_back(i);
  }

  Tensor out = zeros_like(x);
  for (int64_t e = 0; e < num_experts; ++e) {
    if (tokens[e].empty()) continue;
    const Tensor tok = from_vector(tokens[e]);
    const Tensor xe = index_select(x, 0, tok);
    Tensor ye = w2[e]->forward(relu(w1[e]->forward(xe)));
    ye = ye * unsqueeze(index_select(topv_flat, 0, from_vector(slots[e])), 1);
    out = index_add(out, 0, tok, ye);
  }

  const Tensor counts =
      index_add(zeros({num_experts}), 0, reshape(topi, {-1}), ones({N * k}));
  const Tensor f = counts / static_cast<double>(N * k);
  const Tensor P = mean(probs, {0});
  aux = static_cast<double>(num_experts) * sum(f * P);
  return out;
}

// ---------------------------------------------------------------- transformer

TransformerClf::TransformerClf(int64_t d, int64_t heads, int64_t d_ff, int64_t num_layers) {
  const nn::TransformerLayerOptions options{
      .dim_feedforward = d_ff, .dropout = 0.0, .norm_first = true};
  for (int64_t l = 0; l < num_layers; ++l)
    layers.push_back(register_module(
        "layer_" + std::to_string(l), std::make_shared<nn::TransformerEncoderLayer>(d, heads, options)));
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(d));
  fc = register_module("fc", std::make_shared<nn::Linear>(d, 2));
}

Tensor TransformerClf::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& layer : layers) h = layer->forward(h);
  return fc->forward(mean(norm->forward(h), {1}));
}

}  // namespace dg::bench
