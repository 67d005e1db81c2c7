// Skim-RNN: see skim_rnn.h.
#include "dynamic/skim_rnn.h"

#include <fmt/format.h>

#include "dynamic/routing.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"

namespace dg::dynamic {

SkimRNN::SkimRNN(int64_t input_size, int64_t hidden_size, const SkimRNNOptions& options,
                 const nn::ParamOptions& param)
    : input_size(input_size), hidden_size(hidden_size), options(options) {
  check(options.small_hidden >= 1 && options.small_hidden < hidden_size,
        "SkimRNN: small_hidden must be in [1, hidden_size) = [1, {}), got {}", hidden_size,
        options.small_hidden);
  check(options.temperature > 0.0, "SkimRNN: temperature must be positive, got {}", options.temperature);
  big = register_module("big", std::make_shared<nn::LSTMCell>(input_size, hidden_size, true, param));
  small = register_module("small", std::make_shared<nn::LSTMCell>(input_size, options.small_hidden, true, param));
  choice = register_module("choice", std::make_shared<nn::Linear>(input_size + hidden_size, 2, true, param));
}

std::string SkimRNN::extra_repr() const {
  return fmt::format("{}, {}, small={}", input_size, hidden_size, options.small_hidden);
}

namespace {

// The skim update of rows (h, c): the small cell on the first d' units, the rest copied.
nn::LSTMState skim_step(nn::LSTMCell& small, const Tensor& x, const Tensor& h, const Tensor& c) {
  const int64_t d = h.shape()[1], ds = small.hidden_size;
  const nn::LSTMState s = small.forward(x, {narrow(h, 1, 0, ds), narrow(c, 1, 0, ds)});
  return {cat({s.h, narrow(h, 1, ds, d - ds)}, 1), cat({s.c, narrow(c, 1, ds, d - ds)}, 1)};
}

}  // namespace

SkimRNNOutput SkimRNN::forward(const Tensor& x, Generator* generator) {
  check(x.defined() && x.dim() == 3 && x.shape()[2] == input_size,
        "SkimRNN: expected a batch-first input [B, T, {}], got {}", input_size,
        x.defined() ? x.shape() : Shape{});
  check(x.dtype() == choice->weight.dtype(), "SkimRNN: input {} has dtype {} but the parameters are {}",
        x.shape(), x.dtype(), choice->weight.dtype());
  const int64_t B = x.shape()[0], T = x.shape()[1], d = hidden_size;
  const bool mix = is_training();
  Tensor h = zeros({B, d}, x.dtype(), x.device()), c = zeros({B, d}, x.dtype(), x.device());
  SkimRNNOutput out;
  std::vector<Tensor> outputs, skim_log_probs, skimmed;
  for (int64_t t = 0; t < T; ++t) {
    const Tensor x_t = select(x, 1, t);
    const Tensor logits = choice->forward(cat({x_t, h}, 1));
    skim_log_probs.push_back(narrow(log_softmax(logits, 1), 1, 1, 1));
    if (mix) {
      const Tensor r = gumbel_softmax(logits, options.temperature, /*hard=*/false, 1, generator);
      const Tensor r_read = narrow(r, 1, 0, 1), r_skim = narrow(r, 1, 1, 1);
      const nn::LSTMState read = big->forward(x_t, {h, c});
      const nn::LSTMState skim = skim_step(*small, x_t, h, c);
      h = r_read * read.h + r_skim * skim.h;
      c = r_read * read.c + r_skim * skim.c;
      skimmed.push_back(to_dtype(gt(r_skim.detach(), r_read.detach()), x.dtype()));
      out.big_rows += B;
      out.small_rows += B;
    } else {
      const std::vector<int64_t> pick = argmax(logits.detach(), 1).to_vector<int64_t>();
      std::vector<int64_t> reading, skimming;
      for (int64_t b = 0; b < B; ++b) (pick[b] == 0 ? reading : skimming).push_back(b);
      const ActiveRows read_rows(reading, B), skim_rows(skimming, B);
      Tensor h_next = h, c_next = c;
      if (!read_rows.none()) {
        const nn::LSTMState s = big->forward(compact(x_t, read_rows), {compact(h, read_rows), compact(c, read_rows)});
        h_next = write_back(h_next, s.h, read_rows);
        c_next = write_back(c_next, s.c, read_rows);
      }
      if (!skim_rows.none()) {
        const nn::LSTMState s = skim_step(*small, compact(x_t, skim_rows), compact(h, skim_rows),
                                          compact(c, skim_rows));
        h_next = write_back(h_next, s.h, skim_rows);
        c_next = write_back(c_next, s.c, skim_rows);
      }
      h = h_next;
      c = c_next;
      std::vector<double> flags(B);
      for (int64_t b = 0; b < B; ++b) flags[b] = pick[b] == 1 ? 1.0 : 0.0;
      skimmed.push_back(to_dtype(from_vector(flags, {B, 1}), x.dtype()));
      out.big_rows += read_rows.count();
      out.small_rows += skim_rows.count();
    }
    if (options.return_sequence) outputs.push_back(h);
  }
  out.h = h;
  out.c = c;
  if (T > 0) {
    out.skim_log_probs = cat(skim_log_probs, 1);
    out.skimmed = cat(skimmed, 1);
    if (options.return_sequence) out.output = stack(outputs, 1);
  }
  return out;
}

Tensor skim_loss(const Tensor& skim_log_probs, double gamma) {
  check(skim_log_probs.defined() && skim_log_probs.numel() > 0,
        "skim_loss: expected a non-empty [B, T] tensor of log p(skim)");
  check(gamma >= 0.0, "skim_loss: gamma must be >= 0, got {}", gamma);
  return -mean(skim_log_probs) * gamma;
}

}  // namespace dg::dynamic
