// The models of the benchmark workloads shared with the PyTorch reference script
// (../shared/bench/torch_reference.py, described in workloads.md): each class here is the dyngrad
// twin of a class or builder there, with the same layers, shapes and forward computation, written
// with the public nn/ layers and functional ops exactly as a user would. bench/workloads.cpp times
// training steps and batch-1 inference of them.
//
//   make_mlp        Linear 784-256, ReLU, 256-256, ReLU, 256-10
//   Cnn             two 3x3 convolutions (ReLU, max pool 2 after each), Linear 3136-128, 128-10;
//                   the convolution is pluggable so the dyconv workload reuses the same network
//   dynamic_conv    the library's DY-Conv (dynamic/dyconv.h) for the cnn's convolutions
//   LstmNet         nn::LSTM 28->128 over the sequence, last hidden -> Linear 128-10
//   LstmCellNet     the same network with an explicit loop over nn::LSTMCell
//   MoE             token-level top-2 mixture of 8 FFN experts with a load-balance aux loss
//   TransformerClf  4 pre-LN encoder layers, final LayerNorm, mean-pool, Linear 128-2
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "nn/nn.h"

namespace dg::bench {

// ---------------------------------------------------------------- mlp

std::shared_ptr<nn::Sequential> make_mlp();

// ---------------------------------------------------------------- cnn and dyconv

// A 3x3-style convolution with `padding` on both sides: (in_channels, out_channels, kernel, padding).
using ConvMaker =
    std::function<std::shared_ptr<nn::UnaryModule>(int64_t, int64_t, int64_t, int64_t)>;

// nn::Conv2d with the given padding (the cnn workload's convolution).
ConvMaker static_conv();

class Cnn : public nn::UnaryModule {
 public:
  explicit Cnn(const ConvMaker& conv = static_conv());
  // x [B, 1, 28, 28] -> logits [B, 10].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Cnn"; }

  std::shared_ptr<nn::UnaryModule> c1, c2;
  std::shared_ptr<nn::Linear> f1, f2;
};

// DY-Conv (Chen et al. 2020) as torch_reference.py's DynamicConv2d: the library's
// dynamic::DynamicConv2d (dynamic/dyconv.h), whose defaults are the reference's.
ConvMaker dynamic_conv();

// ---------------------------------------------------------------- recurrent

class LstmNet : public nn::UnaryModule {
 public:
  LstmNet();
  // x [B, 28, 28] (batch first) -> logits [B, 10] from the last step's hidden state.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LstmNet"; }

  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> fc;
};

class LstmCellNet : public nn::UnaryModule {
 public:
  LstmCellNet();
  // x [B, T, 28] -> logits [B, 10]; one explicit LSTMCell call per step, from zero states.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LstmCellNet"; }

  std::shared_ptr<nn::LSTMCell> cell;
  std::shared_ptr<nn::Linear> fc;
};

// ---------------------------------------------------------------- moe

// Token-level top-k of E FFN experts (Linear d-d_ff, ReLU, Linear d_ff-d). The gate's softmax
// probabilities are cut to the top k per token and renormalised; each expert runs only on the
// tokens routed to it (index_select), its output weighted by the token's gate value and added back
// at the tokens' rows (index_add). forward() also sets `aux`, the Switch-style load-balance loss
// E * sum_e f_e P_e (f_e: fraction of routed slots that chose e, P_e: mean gate probability of e).
class MoE : public nn::UnaryModule {
 public:
  MoE(int64_t d = 256, int64_t d_ff = 512, int64_t num_experts = 8, int64_t k = 2);
  // x [N, d] -> [N, d].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MoE"; }

  const int64_t num_experts, k;
  std::shared_ptr<nn::Linear> gate;
  std::vector<std::shared_ptr<nn::Linear>> w1, w2;
  Tensor aux;  // set by forward()
};

// ---------------------------------------------------------------- transformer

class TransformerClf : public nn::UnaryModule {
 public:
  TransformerClf(int64_t d = 128, int64_t heads = 4, int64_t d_ff = 512, int64_t layers = 4);
  // x [B, S, d] -> logits [B, 2].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "TransformerClf"; }

  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> layers;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace dg::bench
