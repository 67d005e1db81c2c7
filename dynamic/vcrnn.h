// Variable Computation RNN (Jernite, Grave, Joulin and Mikolov 2017): an Elman RNN whose step
// updates only a leading part of the hidden state, the size chosen per step and per sample. A
// scheduler m_t = sigmoid(v . [x_t; h_{t-1}] + c) in (0, 1) sets a soft mask over the D units,
//   e_i = thres(sigmoid(lambda (m_t D - i))),  i = 1 .. D,   thres: < eps -> 0, > 1 - eps -> 1,
// and h_t = e * tanh(W x_t + U h_{t-1} + b) + (1 - e) * h_{t-1}. The mask falls with i, so the units
// with e_i > 0 are a prefix of k_t units; only those rows of W, U and b are used (the rest of the
// step is the copy of h_{t-1}). The penalty on the mean m_t (vcrnn_penalty) trades accuracy for
// computation. Batched, the samples are grouped by their prefix (rounded up to a multiple of
// `unit_block` units, which changes no value since units past k_t have e = 0) and each group runs
// its narrowed product, so a sample's cost follows its own k_t.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/linear.h"
#include "nn/module.h"

namespace dg::dynamic {

struct VCRNNOptions {
  double sharpness = 5.0;   // lambda
  double epsilon = 0.01;    // thres's band
  int64_t unit_block = 8;   // prefixes are rounded up to a multiple of this
  bool return_sequence = false;
};

struct VCRNNOutput {
  Tensor output;            // [B, T, D] if requested
  Tensor h;                 // [B, D]
  Tensor m;                 // [B, T]: the scheduler's m_t (differentiable)
  int64_t unit_rows = 0;    // sum over steps and samples of the units computed (rounded prefixes)
};

class VCRNN : public nn::Module {
 public:
  VCRNN(int64_t input_size, int64_t hidden_size, const VCRNNOptions& options = {},
        const nn::ParamOptions& param = {});

  VCRNNOutput forward(const Tensor& x);  // x [B, T, input_size]

  std::string type_name() const override { return "VCRNN"; }

  const int64_t input_size, hidden_size;
  const VCRNNOptions options;
  Tensor weight_ih, weight_hh, bias;        // [D, I], [D, D], [D]
  std::shared_ptr<nn::Linear> scheduler;    // [x; h] -> 1
};

// The mask e [B, D] for m [B, 1] (exposed for its test).
Tensor vcrnn_mask(const Tensor& m, int64_t hidden_size, double sharpness, double epsilon);

// gamma * mean(m).
Tensor vcrnn_penalty(const Tensor& m, double gamma);

}  // namespace dg::dynamic
