// The multi-exit losses and training schemes.
#include "dynamic/early_exit/training.h"

#include "engine/error.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"

namespace dg::dynamic::early_exit {

Tensor sum_of_cross_entropies(const std::vector<ExitOutput>& outputs, const Tensor& target,
                              int64_t first, int64_t last) {
  const auto n = static_cast<int64_t>(outputs.size());
  if (last < 0) last = n;
  check(0 <= first && first < last && last <= n,
        "sum_of_cross_entropies: exits [{}, {}) of {}", first, last, n);
  Tensor total;
  for (int64_t i = first; i < last; ++i) {
    const Tensor ce = cross_entropy(outputs[static_cast<size_t>(i)].logits, target);
    total = total.defined() ? total + ce : ce;
  }
  return total;
}

Tensor index_weighted_cross_entropy(const std::vector<ExitOutput>& outputs, const Tensor& target) {
  check(!outputs.empty(), "index_weighted_cross_entropy: no exits");
  Tensor total;
  double weights = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const double w = static_cast<double>(i + 1);
    const Tensor term = cross_entropy(outputs[i].logits, target) * w;
    total = total.defined() ? total + term : term;
    weights += w;
  }
  return total / weights;
}

Tensor self_distillation_loss(const std::vector<ExitOutput>& outputs, double temperature,
                              DistillationDirection direction) {
  check(outputs.size() >= 2, "self_distillation_loss: needs an internal exit and a final one, got {} exits",
        outputs.size());
  check(temperature > 0, "self_distillation_loss: temperature {} must be positive", temperature);
  const Tensor teacher_log = log_softmax(outputs.back().logits.detach() / temperature, 1);
  const Tensor teacher = exp(teacher_log);
  const auto batch = static_cast<double>(outputs.back().logits.size(0));
  Tensor total;
  for (size_t i = 0; i + 1 < outputs.size(); ++i) {
    const Tensor student_log = log_softmax(outputs[i].logits / temperature, 1);
    const Tensor kl = direction == DistillationDirection::student_teacher
                          ? sum(exp(student_log) * (student_log - teacher_log))
                          : sum(teacher * (teacher_log - student_log));
    total = total.defined() ? total + kl : kl;
  }
  return total / batch;
}

Tensor learned_exit_loss(const MultiExitModel& model, const std::vector<ExitOutput>& outputs,
                         const Tensor& target) {
  check(model.exit_score() != nullptr,
        "learned_exit_loss: the model has no LearnedExitScore (build it with learned_exit_score)");
  Tensor total;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ExitOutput& out = outputs[i];
    const Tensor correct = eq(argmax(out.logits.detach(), 1), target).to(out.logits.dtype());
    const Tensor u = model.exit_score()->forward(static_cast<int64_t>(i), out.features.detach());
    const Tensor term = mse_loss(u, correct);
    total = total.defined() ? total + term : term;
  }
  return total;
}

std::string scheme_name(TrainingScheme scheme) {
  switch (scheme) {
    case TrainingScheme::joint: return "joint";
    case TrainingScheme::weighted_joint: return "weighted_joint";
    case TrainingScheme::two_stage: return "two_stage";
    case TrainingScheme::self_distillation: return "self_distillation";
    case TrainingScheme::alternating: return "alternating";
  }
  return "?";
}

TrainingScheme parse_scheme(const std::string& name) {
  for (const TrainingScheme s : {TrainingScheme::joint, TrainingScheme::weighted_joint,
                                 TrainingScheme::two_stage, TrainingScheme::self_distillation,
                                 TrainingScheme::alternating})
    if (scheme_name(s) == name) return s;
  throw Error(fmt::format("unknown training scheme '{}' (joint, weighted_joint, two_stage, "
                          "self_distillation, alternating)", name));
}

SchemeStep scheme_step(MultiExitModel& model, const SchemeOptions& o, int64_t step,
                       const Tensor& input, const Tensor& mask, const Tensor& target) {
  check(step >= 0, "scheme_step: step {} is negative", step);
  const int64_t n = model.num_exits();
  const bool staged = o.scheme == TrainingScheme::two_stage || o.scheme == TrainingScheme::self_distillation;
  check(!staged || n >= 2 || step < o.first_stage_steps,
        "scheme_step: {} trains internal exits, and the model has only one", scheme_name(o.scheme));
  SchemeStep out;
  switch (o.scheme) {
    case TrainingScheme::joint:
      out.outputs = model.forward_all(input, mask);
      out.loss = sum_of_cross_entropies(out.outputs, target);
      break;
    case TrainingScheme::weighted_joint:
      out.outputs = model.forward_all(input, mask);
      out.loss = index_weighted_cross_entropy(out.outputs, target);
      break;
    case TrainingScheme::two_stage:
    case TrainingScheme::self_distillation:
      if (step < o.first_stage_steps) {
        out.outputs = model.forward_all(input, mask);
        out.loss = sum_of_cross_entropies(out.outputs, target, n - 1, n);
      } else {
        out.outputs = model.forward_all_frozen_backbone(input, mask);
        out.backbone_frozen = true;
        out.loss = o.scheme == TrainingScheme::two_stage
                       ? sum_of_cross_entropies(out.outputs, target, 0, n - 1)
                       : self_distillation_loss(out.outputs, o.distillation_temperature,
                                                o.distillation_direction);
      }
      break;
    case TrainingScheme::alternating:
      if ((step + 1) % 2 == 1 || n == 1) {
        out.outputs = model.forward_all(input, mask);
        out.loss = sum_of_cross_entropies(out.outputs, target);
      } else {
        out.outputs = model.forward_all_frozen_backbone(input, mask);
        out.backbone_frozen = true;
        out.loss = sum_of_cross_entropies(out.outputs, target, 0, n - 1);
      }
      break;
  }
  if (o.train_exit_score) out.loss = out.loss + learned_exit_loss(model, out.outputs, target);
  return out;
}

}  // namespace dg::dynamic::early_exit
