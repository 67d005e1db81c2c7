// VCRNN: see vcrnn.h.
#include "dynamic/vcrnn.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "nn/init.h"

namespace dg::dynamic {

VCRNN::VCRNN(int64_t input_size, int64_t hidden_size, const VCRNNOptions& options,
             const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), options(options) {
  check(input_size > 0 && hidden_size > 0 && options.sharpness > 0 && options.epsilon >= 0 &&
            options.epsilon < 0.5 && options.unit_block >= 1,
        "VCRNN: need positive sizes and sharpness, epsilon in [0, 0.5), unit_block >= 1; got {}, {}, "
        "{}, {}, {}", input_size, hidden_size, options.sharpness, options.epsilon, options.unit_block);
  weight_ih = register_parameter("weight_ih", Tensor::empty({hidden_size, input_size}, param.dtype));
  weight_hh = register_parameter("weight_hh", Tensor::empty({hidden_size, hidden_size}, param.dtype));
  bias = register_parameter("bias", Tensor::empty({hidden_size}, param.dtype));
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor& p : {std::ref(weight_ih), std::ref(weight_hh), std::ref(bias)})
    nn::init::uniform_(p, -bound, bound, param.generator);
  scheduler = register_module("scheduler",
                              std::make_shared<nn::Linear>(input_size + hidden_size, 1, true, param));
}

Tensor vcrnn_mask(const Tensor& m, int64_t hidden_size, double sharpness, double epsilon) {
  const Tensor i = reshape(arange(1.0, static_cast<double>(hidden_size) + 1.0, 1.0, m.dtype()),
                           {1, hidden_size});
  const Tensor e = sigmoid((m * static_cast<double>(hidden_size) - i) * sharpness);
  // thres: the band's edges become exact 0 and 1 (where the gradient is then 0).
  Tensor hard_zero, hard_one;
  {
    NoGradGuard no_grad;
    hard_zero = lt(e.detach(), epsilon);
    hard_one = gt(e.detach(), 1.0 - epsilon);
  }
  return where(hard_zero, 0.0, where(hard_one, 1.0, e));
}

Tensor vcrnn_penalty(const Tensor& m, double gamma) {
  check(m.defined() && m.numel() > 0 && gamma >= 0, "vcrnn_penalty: need a non-empty m and gamma >= 0");
  return mean(m) * gamma;
}

VCRNNOutput VCRNN::forward(const Tensor& x) {
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size && x.dtype() == bias.dtype(),
        "VCRNN: expected a batch-first input [B, T, {}] of dtype {}, got {} {}", input_size,
        bias.dtype(), x.defined() ? x.shape() : Shape{}, x.defined() ? x.dtype() : bias.dtype());
  const int64_t B = x.shape()[0], T = x.shape()[1], D = hidden_size;
  Tensor h = zeros({B, D}, x.dtype(), x.device());
  VCRNNOutput out;
  std::vector<Tensor> ms, outputs;
  for (int64_t t = 0; t < T; ++t) {
    const Tensor x_t = select(x, 1, t);
    const Tensor m = sigmoid(scheduler->forward(cat({x_t, h}, 1)));  // [B, 1]
    const Tensor e = vcrnn_mask(m, D, options.sharpness, options.epsilon);
    // Each sample's prefix: the units with e > 0, rounded up to a whole block.
    std::map<int64_t, std::vector<int64_t>> by_prefix;
    {
      const std::vector<double> ev = e.to_vector<double>();
      for (int64_t b = 0; b < B; ++b) {
        int64_t k = 0;
        while (k < D && ev[b * D + k] > 0.0) ++k;
        if (k == 0) continue;  // nothing to compute: the state is copied
        k = std::min(D, (k + options.unit_block - 1) / options.unit_block * options.unit_block);
        by_prefix[k].push_back(b);
      }
    }
    Tensor candidate = zeros({B, D}, x.dtype(), x.device());  // where e = 0 it is never used
    for (const auto& [k, rows] : by_prefix) {
      const ActiveRows group(rows, B);
      const Tensor pre = linear(compact(x_t, group), narrow(weight_ih, 0, 0, k), narrow(bias, 0, 0, k)) +
                         linear(compact(h, group), narrow(weight_hh, 0, 0, k));
      const Tensor part = tanh(pre);
      const Tensor full_width = k == D ? part : pad(part, {0, D - k});
      candidate = write_back(candidate, full_width, group);
      out.unit_rows += k * group.count();
    }
    h = e * candidate + (1.0 - e) * h;
    ms.push_back(m);
    if (options.return_sequence) outputs.push_back(h);
  }
  out.h = h;
  if (T > 0) {
    out.m = cat(ms, 1);
    if (options.return_sequence) out.output = stack(outputs, 1);
  }
  return out;
}

}  // namespace dg::dynamic
