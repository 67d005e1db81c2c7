// Gradient checks for the softmax family and the losses (engine/ops/softmax.cpp, loss.cpp): the
// primitives with their own node (softmax, log_softmax, cross_entropy,
// binary_cross_entropy_with_logits) along several dims and under every option, and the composed
// ones (nll_loss, mse_loss, kl_div, gumbel_softmax) under the op they mostly exercise. The second
// order cases run the backward formulas written with engine ops (the path taken when a gradient is
// recorded), the first order ones the fused backward kernels.
#include "engine/ops/functional.h"
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

std::function<Inputs()> input(Shape shape, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  return [=] { return Inputs{grad_input(shape, seed, lo, hi)}; };
}

std::function<Inputs()> two_inputs(Shape shape, uint64_t seed, double lo0, double hi0, double lo1,
                                   double hi1) {
  return [=] {
    return Inputs{grad_input(shape, seed, lo0, hi0), grad_input(shape, seed + 100, lo1, hi1)};
  };
}

// Targets for [4, 5] logits, with and without ignored (-100) entries, and class weights.
Tensor targets4() { return tensor_i64({1, 4, 0, 2}); }
Tensor targets4_ignored() { return tensor_i64({1, -100, 0, 4}); }
Tensor weights5() { return tensor_f64({0.5, 1.5, 1.0, 2.0, 0.75}); }

CrossEntropyOptions ce(Reduction reduction, bool weighted = false, double smoothing = 0.0) {
  CrossEntropyOptions o;
  o.reduction = reduction;
  if (weighted) o.weight = weights5();
  o.label_smoothing = smoothing;
  return o;
}

// ---- softmax and log_softmax
RegisterGradcheck softmax_rows{{OpId::softmax, "softmax [3,5] dim 1", input({3, 5}, 1),
                                [](const Inputs& x) { return softmax(x[0], 1); }, true}};
RegisterGradcheck softmax_mid{{OpId::softmax, "softmax [2,3,4] dim 1 (strided columns)",
                               input({2, 3, 4}, 2),
                               [](const Inputs& x) { return softmax(x[0], 1); }}};
RegisterGradcheck softmax_first{{OpId::softmax, "softmax [2,3,4] dim 0", input({2, 3, 4}, 3),
                                 [](const Inputs& x) { return softmax(x[0], 0); }}};
RegisterGradcheck softmax_transposed{
    {OpId::softmax, "softmax of transposed [4,3] dim -1", input({4, 3}, 4),
     [](const Inputs& x) { return softmax(transpose(x[0], 0, 1), -1); }}};
RegisterGradcheck softmax_large{{OpId::softmax, "softmax [2,4] dim 1, values near 500",
                                 input({2, 4}, 5, 500.0, 502.0),
                                 [](const Inputs& x) { return softmax(x[0], 1); }}};
RegisterGradcheck log_softmax_rows{{OpId::log_softmax, "log_softmax [3,5] dim 1", input({3, 5}, 6),
                                    [](const Inputs& x) { return log_softmax(x[0], 1); }, true}};
RegisterGradcheck log_softmax_mid{{OpId::log_softmax, "log_softmax [2,3,4] dim -2 second order",
                                   input({2, 3, 4}, 7),
                                   [](const Inputs& x) { return log_softmax(x[0], -2); }, true}};
RegisterGradcheck log_softmax_first{{OpId::log_softmax, "log_softmax [3,2,2] dim 0",
                                     input({3, 2, 2}, 8),
                                     [](const Inputs& x) { return log_softmax(x[0], 0); }}};
RegisterGradcheck log_softmax_large{{OpId::log_softmax, "log_softmax [2,4] dim 1, values near -900",
                                     input({2, 4}, 9, -902.0, -900.0),
                                     [](const Inputs& x) { return log_softmax(x[0], 1); }}};

// ---- cross_entropy (fused)
RegisterGradcheck ce_mean{{OpId::cross_entropy, "cross_entropy [4,5] mean", input({4, 5}, 11),
                           [](const Inputs& x) { return cross_entropy(x[0], targets4()); }}};
RegisterGradcheck ce_sum{
    {OpId::cross_entropy, "cross_entropy [4,5] sum", input({4, 5}, 12),
     [](const Inputs& x) { return cross_entropy(x[0], targets4(), ce(Reduction::sum)); }}};
RegisterGradcheck ce_none{
    {OpId::cross_entropy, "cross_entropy [4,5] none, ignore", input({4, 5}, 13),
     [](const Inputs& x) { return cross_entropy(x[0], targets4_ignored(), ce(Reduction::none)); }}};
RegisterGradcheck ce_weighted{
    {OpId::cross_entropy, "cross_entropy [4,5] mean weighted", input({4, 5}, 14),
     [](const Inputs& x) { return cross_entropy(x[0], targets4(), ce(Reduction::mean, true)); }}};
RegisterGradcheck ce_smooth{{OpId::cross_entropy, "cross_entropy [4,5] mean smoothing 0.2",
                             input({4, 5}, 15), [](const Inputs& x) {
                               return cross_entropy(x[0], targets4(),
                                                    ce(Reduction::mean, false, 0.2));
                             }}};
RegisterGradcheck ce_all_options{
    {OpId::cross_entropy, "cross_entropy [4,5] mean weighted, ignore, smoothing 0.3",
     input({4, 5}, 16),
     [](const Inputs& x) {
       return cross_entropy(x[0], targets4_ignored(), ce(Reduction::mean, true, 0.3));
     },
     true}};
RegisterGradcheck ce_spatial{
    {OpId::cross_entropy, "cross_entropy [2,5,2,2] none weighted, ignore, smoothing 0.1",
     input({2, 5, 2, 2}, 17),
     [](const Inputs& x) {
       const Tensor t = tensor_i64({0, 4, -100, 2, 3, 1, 1, -100}, {2, 2, 2});
       return cross_entropy(x[0], t, ce(Reduction::none, true, 0.1));
     },
     true}};
RegisterGradcheck ce_spatial_sum{
    {OpId::cross_entropy, "cross_entropy [2,3,4] sum (one spatial dim)", input({2, 3, 4}, 18),
     [](const Inputs& x) {
       return cross_entropy(x[0], tensor_i64({0, 1, 2, 1, 2, 2, 0, 0}, {2, 4}), ce(Reduction::sum));
     }}};
RegisterGradcheck ce_single{{OpId::cross_entropy, "cross_entropy [5] unbatched, smoothing 0.1",
                             input({5}, 19), [](const Inputs& x) {
                               return cross_entropy(x[0], scalar(3, DType::i64),
                                                    ce(Reduction::mean, false, 0.1));
                             }}};
RegisterGradcheck ce_transposed{{OpId::cross_entropy, "cross_entropy of transposed [5,4] logits",
                                 input({5, 4}, 20), [](const Inputs& x) {
                                   return cross_entropy(transpose(x[0], 0, 1), targets4(),
                                                        ce(Reduction::mean, true, 0.1));
                                 }}};

// ---- binary_cross_entropy_with_logits
RegisterGradcheck bce_mean{
    {OpId::binary_cross_entropy_with_logits, "bce_with_logits [3,4] mean, logits and target",
     two_inputs({3, 4}, 31, -4.0, 4.0, 0.0, 1.0),
     [](const Inputs& x) { return binary_cross_entropy_with_logits(x[0], x[1]); }, true}};
RegisterGradcheck bce_pos_weight{
    {OpId::binary_cross_entropy_with_logits, "bce_with_logits [3,4] none, pos_weight [4]",
     two_inputs({3, 4}, 32, -4.0, 4.0, 0.0, 1.0),
     [](const Inputs& x) {
       return binary_cross_entropy_with_logits(x[0], x[1], tensor_f64({0.5, 1.0, 2.0, 3.0}),
                                               Reduction::none);
     },
     true}};
RegisterGradcheck bce_sum_far{
    {OpId::binary_cross_entropy_with_logits, "bce_with_logits [2,3] sum, logits far from 0",
     two_inputs({2, 3}, 33, 15.0, 30.0, 0.0, 1.0), [](const Inputs& x) {
       return binary_cross_entropy_with_logits(cat({x[0], neg(x[0])}), cat({x[1], x[1]}),
                                               tensor_f64({2.0, 0.5, 1.5}), Reduction::sum);
     }}};

// ---- composed losses
RegisterGradcheck nll_mean{
    {OpId::gather, "nll_loss [4,5] mean weighted, ignore", input({4, 5}, 41), [](const Inputs& x) {
       return nll_loss(log_softmax(x[0], 1), targets4_ignored(), ce(Reduction::mean, true));
     }}};
RegisterGradcheck nll_none{
    {OpId::gather, "nll_loss [4,5] none", input({4, 5}, 42),
     [](const Inputs& x) { return nll_loss(x[0], targets4(), ce(Reduction::none)); }}};
RegisterGradcheck nll_spatial{
    {OpId::gather, "nll_loss [2,3,4] sum", input({2, 3, 4}, 43), [](const Inputs& x) {
       return nll_loss(x[0], tensor_i64({2, 1, 0, 1, 0, 2, 2, 1}, {2, 4}), ce(Reduction::sum));
     }}};
RegisterGradcheck mse_mean{{OpId::mul, "mse_loss [3,4] mean, input and target",
                            two_inputs({3, 4}, 51, -1.0, 1.0, -1.0, 1.0),
                            [](const Inputs& x) { return mse_loss(x[0], x[1]); }, true}};
RegisterGradcheck mse_none{{OpId::mul, "mse_loss [3,4] none", two_inputs({3, 4}, 52, -1, 1, -1, 1),
                            [](const Inputs& x) { return mse_loss(x[0], x[1], Reduction::none); }}};
RegisterGradcheck kl_batchmean{
    {OpId::log, "kl_div [3,4] batchmean, input and target",
     two_inputs({3, 4}, 61, -3.0, -0.5, 0.05, 1.0),
     [](const Inputs& x) { return kl_div(x[0], x[1], KlReduction::batchmean); }, true}};
RegisterGradcheck kl_log_target{
    {OpId::exp, "kl_div [3,4] sum, log_target", two_inputs({3, 4}, 62, -3.0, -0.5, -3.0, -0.1),
     [](const Inputs& x) { return kl_div(x[0], x[1], KlReduction::sum, true); }}};
RegisterGradcheck kl_none{{OpId::log, "kl_div [3,4] none",
                           two_inputs({3, 4}, 63, -3, -0.5, 0.05, 1),
                           [](const Inputs& x) { return kl_div(x[0], x[1], KlReduction::none); }}};
// The noise comes from a generator reseeded on every call, so each evaluation sees the same sample.
RegisterGradcheck gumbel_soft{{OpId::softmax, "gumbel_softmax [3,4] tau 0.5 (fixed seed)",
                               input({3, 4}, 71), [](const Inputs& x) {
                                 Generator gen(7);
                                 return gumbel_softmax(x[0], 0.5, false, -1, &gen);
                               }}};
RegisterGradcheck gumbel_dim0{{OpId::softmax, "gumbel_softmax [3,4] dim 0 tau 2 (fixed seed)",
                               input({3, 4}, 72), [](const Inputs& x) {
                                 Generator gen(8);
                                 return gumbel_softmax(x[0], 2.0, false, 0, &gen);
                               }}};

}  // namespace
}  // namespace dg::test
