// The losses (declared in engine/ops/functional.h), with PyTorch's semantics: cross_entropy,
// nll_loss, mse_loss, binary_cross_entropy_with_logits and kl_div.
//
// cross_entropy is one fused op. With log-probabilities lp = log_softmax(x) over the class dim,
// every option combination is the cross-entropy against a target distribution T:
//   loss = -sum_c T_c lp_c,   T_c = (1 - eps) w[t] [c == t] + eps w[c] / C   (0 where t is ignored)
// (eps the label smoothing, w the class weights or ones), and its gradient is
//   dloss/dx_c = softmax(x)_c sum_c' T_c' - T_c,
// which is softmax - T for unweighted targets. The kernel computes the log-sum-exp and the loss in
// one pass over the logits and the gradient in one more, without materialising log_softmax or T.
// The mean reduction divides by the sum of w[t] over the non-ignored positions (their count when
// unweighted), label smoothing included, as PyTorch does. The class weights are constants: no
// gradient flows to them.
//
// binary_cross_entropy_with_logits also has its own node: its forward is the stable
// (1 - t) x + lw softplus(-x) with lw = 1 + (pos_weight - 1) t, and its gradient,
// lw sigmoid(x) - pos_weight t, is exact even at x = 0, where a composed |x| would have a kink.
// nll_loss, mse_loss and kl_div are composed of engine ops, so their gradients come for free.
#include <cmath>

#include "engine/backend.h"
#include "engine/flops.h"
#include "engine/ops/functional.h"
#include "engine/ops/op_helpers.h"

namespace dg {

namespace {

// A raw contiguous version of t for a kernel (no autograd: the caller records the op).
Tensor contiguous_data(const Tensor& t) {
  if (!t.defined() || t.is_contiguous()) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend(t.device()).copy(c, t);
  return c;
}

// A contiguous tensor's data under a new shape with the same number of elements (no autograd).
Tensor reshaped_data(const Tensor& t, const Shape& shape) {
  return make_view(t, shape, contiguous_strides(shape), t.offset());
}

Tensor reduce_loss(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return mean(loss);
  }
  fail("loss: unknown reduction {}", static_cast<int>(reduction));
}

void check_same_shape(const Tensor& a, const Tensor& b, std::string_view a_name,
                      std::string_view b_name, std::string_view op) {
  check(a.shape() == b.shape(), "{}: {} {} and {} {} must have the same shape", op, a_name,
        a.shape(), b_name, b.shape());
}

// Whether `from` broadcasts to `to` without changing it (NumPy rules).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const int lead = to.size() - from.size();
  for (int i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

// ---------------------------------------------------------------- class-index targets

// A class-index loss's input [N, C, d1, ...] seen as [N, C, S] (S = d1 * ...; a 1-D [C] input is
// one sample), and what its reduction needs.
struct ClassLayout {
  int64_t N = 1, C = 1, S = 1;
  Shape loss_shape;       // the target's shape: the shape of an unreduced loss
  double weight_sum = 0;  // sum of w[t] over non-ignored positions: the mean's divisor
};

// The values of an i64 tensor, read on the host without a copy when it is a contiguous CPU tensor.
// (For a device tensor this costs a copy and a sync, as the index ops' bounds checks do.)
template <class F>
void scan_host_i64(const Tensor& t, F&& f) {
  if (t.device().is_cpu() && t.is_contiguous()) {
    const int64_t* p = t.data<int64_t>();
    for (int64_t i = 0; i < t.numel(); ++i) f(p[i]);
    return;
  }
  for (int64_t v : t.to_vector<int64_t>()) f(v);
}

// Checks input [C] or [N, C, d1, ...], its i64 target [] or [N, d1, ...] and the options, and
// scans the target once: every value must be a class or ignore_index.
ClassLayout check_class_target(const Tensor& input, const Tensor& target,
                               const CrossEntropyOptions& options, std::string_view op,
                               std::string_view input_name) {
  detail::check_floating(input, op);
  check(input.dim() >= 1, "{}: {} must be [C] or [N, C, d1, ...], got a 0-dim tensor", op,
        input_name);
  detail::check_defined(target, op);
  check(target.dtype() == DType::i64,
        "{}: target {} has dtype {}, expected i64 class indices (class probabilities are not "
        "supported)",
        op, target.shape(), target.dtype());
  check(target.device() == input.device(), "{}: target is on {} but {} are on {}", op,
        target.device(), input_name, input.device());

  ClassLayout L;
  const bool batched = input.dim() >= 2;
  L.C = input.shape()[batched ? 1 : 0];
  L.N = batched ? input.shape()[0] : 1;
  for (int d = 2; d < input.dim(); ++d) L.S *= input.shape()[d];
  L.loss_shape = input.shape();
  L.loss_shape.erase(batched ? 1 : 0);
  if (!(target.shape() == L.loss_shape)) {
    check(!(batched && target.dim() == L.loss_shape.size() && target.shape()[0] != L.N),
          "{}: {} {} and target {} disagree on the batch size", op, input_name, input.shape(),
          target.shape());
    fail("{}: {} {} need a target of shape {} (one class index per {}), got {}", op, input_name,
         input.shape(), L.loss_shape, batched ? "position" : "input", target.shape());
  }
  check(L.C > 0, "{}: {} {} have no classes", op, input_name, input.shape());

  std::vector<double> w;
  if (options.weight.defined()) {
    detail::check_same(input, options.weight, op);
    check(options.weight.dim() == 1 && options.weight.shape()[0] == L.C,
          "{}: weight {} must have one entry per class (C = {})", op, options.weight.shape(), L.C);
    w = options.weight.to_vector<double>();
  }
  const int64_t C = L.C, ignore = options.ignore_index;
  double weight_sum = 0;
  scan_host_i64(target, [&](int64_t t) {
    if (t == ignore) return;
    if (t < 0 || t >= C)
      fail("{}: target {} is out of range for {} classes (expected 0..{}, or ignore_index {})", op,
           t, C, C - 1, ignore);
    weight_sum += w.empty() ? 1.0 : w[t];
  });
  L.weight_sum = weight_sum;
  return L;
}

// The reduction of per-position losses [N, S] (no autograd: the caller records the op).
Tensor reduce_class_loss(const Tensor& loss, const ClassLayout& L, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return reshaped_data(loss, L.loss_shape);
    case Reduction::sum: return sum(loss);
    // 0 / 0 = NaN when every target is ignored, as in PyTorch.
    case Reduction::mean: return sum(loss) / L.weight_sum;
  }
  fail("loss: unknown reduction {}", static_cast<int>(reduction));
}

// The target distribution T of the header comment as a [N, C, S] tensor, from engine ops; the
// cross_entropy backward uses it only when its gradient is itself recorded.
Tensor target_distribution(const Tensor& target, const Tensor& weight, int64_t ignore_index,
                           double smoothing, const ClassLayout& L, DType dtype) {
  const Tensor keep = ne(target, static_cast<double>(ignore_index));
  const Tensor safe_target = where(keep, target, 0.0);  // ignored positions point at class 0
  Tensor mass = to_dtype(keep, dtype) * (1.0 - smoothing);
  if (weight.defined())
    mass = mass * reshape(index_select(weight, 0, reshape(safe_target, {-1})), {L.N, L.S});
  const Tensor on_target = permute(to_dtype(one_hot(safe_target, L.C), dtype), {0, 2, 1});
  Tensor T = on_target * unsqueeze(mass, 1);
  if (smoothing != 0) {
    Tensor spread = unsqueeze(to_dtype(keep, dtype), 1) * (smoothing / static_cast<double>(L.C));
    if (weight.defined()) spread = spread * reshape(weight, {1, L.C, 1});
    T = T + spread;
  }
  return T;
}

}  // namespace

// ---------------------------------------------------------------- cross_entropy

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  const ClassLayout L = check_class_target(logits, target, options, "cross_entropy", "logits");
  check(options.label_smoothing >= 0 && options.label_smoothing <= 1,
        "cross_entropy: label_smoothing must be in [0, 1], got {}", options.label_smoothing);
  const int64_t N = L.N, C = L.C, S = L.S;
  Backend::CrossEntropyTarget spec;
  spec.target = reshaped_data(contiguous_data(target), {N, S});
  spec.weight = options.weight.defined() ? contiguous_data(options.weight.detach()) : Tensor();
  spec.ignore_index = options.ignore_index;
  spec.label_smoothing = options.label_smoothing;

  const Tensor x = reshaped_data(contiguous_data(logits), {N, C, S});
  Tensor loss = Tensor::empty({N, S}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({2, N, S}, logits.dtype(), logits.device());
  if (x.numel() > 0) backend(x.device()).cross_entropy(loss, lse, x, spec);
  flops::add(4 * x.numel());  // max, shifted exp, sum and the smoothing or pick per element
  Tensor out = reduce_class_loss(loss, L, options.reduction);

  if (needs_grad(logits)) {
    const Reduction reduction = options.reduction;
    const Shape logits_shape = logits.shape();
    // (An undefined weight is not saved: the engine's saved-tensor check needs defined tensors.)
    std::vector<Tensor> saved{logits, spec.target, lse};
    if (spec.weight.defined()) saved.push_back(spec.weight);
    record(OpId::cross_entropy, out, {logits}, saved,
           [L, reduction, logits_shape, ignore = spec.ignore_index,
            smoothing = spec.label_smoothing](const BackwardArgs& a) -> Grads {
             const Tensor& logits = a.saved[0];
             const Tensor& target = a.saved[1];
             const Tensor weight = a.saved.size() > 3 ? a.saved[3] : Tensor();
             const int64_t N = L.N, C = L.C, S = L.S;
             // The gradient reaching each position's loss, [N, S].
             Tensor g = reduction == Reduction::mean ? a.grad / L.weight_sum : a.grad;
             g = reduction == Reduction::none ? reshape(g, {N, S})
                                              : expand(reshape(g, {1, 1}), {N, S});
             if (!grad_enabled()) {
               Backend::CrossEntropyTarget spec{target, weight, ignore, smoothing};
               Tensor grad = Tensor::empty({N, C, S}, g.dtype(), g.device());
               const Tensor x = reshaped_data(contiguous_data(logits), {N, C, S});
               if (x.numel() > 0)
                 backend(g.device()).cross_entropy_backward(grad, g, x, a.saved[2], spec);
               flops::add(3 * x.numel());
               return {reshaped_data(grad, logits_shape)};
             }
             // Recording the gradient (create_graph): the same formula from differentiable ops.
             const Tensor T = target_distribution(target, weight, ignore, smoothing, L, g.dtype());
             const Tensor p = softmax(reshape(logits, {N, C, S}), 1);
             const Tensor grad = (p * sum(T, {1}, /*keepdim=*/true) - T) * unsqueeze(g, 1);
             return {reshape(grad, logits_shape)};
           });
  }
  return out;
}

// ---------------------------------------------------------------- nll_loss

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const CrossEntropyOptions& options) {
  check(options.label_smoothing == 0,
        "nll_loss: label_smoothing {} is not an nll_loss option (smoothing needs every class's "
        "log-probability; use cross_entropy on the logits)",
        options.label_smoothing);
  const ClassLayout L = check_class_target(log_probs, target, options, "nll_loss", "log_probs");
  // loss = -w[t] log_probs[n, t, s]: a gather along the class dim, with ignored targets pointed at
  // class 0 and given weight 0.
  const Tensor t = reshape(target, {L.N, 1, L.S});
  const Tensor keep = ne(t, static_cast<double>(options.ignore_index));
  const Tensor safe_target = where(keep, t, 0.0);
  Tensor w = to_dtype(keep, log_probs.dtype());
  if (options.weight.defined())
    w = w * reshape(index_select(options.weight.detach(), 0, reshape(safe_target, {-1})),
                    {L.N, 1, L.S});
  const Tensor picked = gather(reshape(log_probs, {L.N, L.C, L.S}), 1, safe_target);
  const Tensor loss = reshape(neg(picked * w), L.loss_shape);
  switch (options.reduction) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return sum(loss) / L.weight_sum;
  }
  fail("nll_loss: unknown reduction {}", static_cast<int>(options.reduction));
}

// ---------------------------------------------------------------- mse_loss

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  detail::check_floating(input, "mse_loss");
  detail::check_same(input, target, "mse_loss");
  check_same_shape(input, target, "input", "target", "mse_loss");
  const Tensor diff = input - target;
  return reduce_loss(diff * diff, reduction);
}

// ---------------------------------------------------------------- binary_cross_entropy_with_logits

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& pos_weight, Reduction reduction) {
  constexpr std::string_view op = "binary_cross_entropy_with_logits";
  detail::check_floating(logits, op);
  detail::check_same(logits, target, op);
  check_same_shape(logits, target, "logits", "target", op);
  if (pos_weight.defined()) {
    detail::check_same(logits, pos_weight, op);
    check(broadcasts_to(pos_weight.shape(), logits.shape()),
          "{}: pos_weight {} does not broadcast to logits {}", op, pos_weight.shape(),
          logits.shape());
  }
  Tensor loss;
  {
    NoGradGuard no_grad;  // the forward's steps are not the op's gradient; it has its own node
    const Tensor x = logits.detach(), t = target.detach();
    // softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|)): exp never overflows.
    const Tensor softplus_neg = relu(neg(x)) + log1p(exp(neg(abs(x))));
    const Tensor pos_term = pos_weight.defined()
                                ? ((pos_weight.detach() - 1.0) * t + 1.0) * softplus_neg
                                : softplus_neg;
    loss = (1.0 - t) * x + pos_term;
  }
  if (needs_grad(logits, target)) {
    std::vector<Tensor> saved{logits, target};
    if (pos_weight.defined()) saved.push_back(pos_weight.detach());
    record(OpId::binary_cross_entropy_with_logits, loss, {logits, target}, saved,
           [](const BackwardArgs& a) -> Grads {
             const Tensor& x = a.saved[0];
             const Tensor& t = a.saved[1];
             const Tensor pw = a.saved.size() > 2 ? a.saved[2] : Tensor();
             Tensor grad_x, grad_t;
             // d/dx = lw sigmoid(x) - pw t; d/dt = (pw - 1) softplus(-x) - x (pw = 1 without it).
             if (a.needs(0))
               grad_x = a.grad * (pw.defined() ? ((pw - 1.0) * t + 1.0) * sigmoid(x) - pw * t
                                               : sigmoid(x) - t);
             if (a.needs(1))
               grad_t = a.grad * (pw.defined() ? (pw - 1.0) * softplus(neg(x)) - x : neg(x));
             return {grad_x, grad_t};
           });
  }
  return reduce_loss(loss, reduction);
}

// ---------------------------------------------------------------- kl_div

Tensor kl_div(const Tensor& input, const Tensor& target, KlReduction reduction, bool log_target) {
  detail::check_floating(input, "kl_div");
  detail::check_same(input, target, "kl_div");
  check_same_shape(input, target, "input", "target", "kl_div");
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // target * (log(target) - input) with 0 log 0 = 0 (the limit, PyTorch's xlogy): zero targets
    // take log(1) instead, which also keeps their gradient finite.
    const Tensor safe = where(eq(target, 0.0), 1.0, target);
    loss = target * (log(safe) - input);
  }
  switch (reduction) {
    case KlReduction::none: return loss;
    case KlReduction::sum: return sum(loss);
    case KlReduction::mean: return mean(loss);
    case KlReduction::batchmean:
      return input.dim() == 0 ? sum(loss) : sum(loss) / static_cast<double>(input.shape()[0]);
  }
  fail("kl_div: unknown reduction {}", static_cast<int>(reduction));
}

}  // namespace dg
