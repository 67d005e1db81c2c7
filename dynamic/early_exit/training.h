// Training a multi-exit model (survey Table 3, "internal classifier training"): the losses over the
// exits' logits, and the schemes that say, step by step, which parts train and on which loss.
//
//   joint               sum_i CE_i over every exit, everything trains (RightTool; Voting)
//   weighted_joint      PABEE: sum_i i CE_i / sum_i i (exits numbered from 1: deeper heads weigh
//                       more), everything trains
//   two_stage           DeeBERT: first `first_stage_steps` steps train the backbone and the final
//                       head on the final head's CE; then the backbone and the final head are
//                       frozen and the internal heads train on sum_{i<n} CE_i
//   self_distillation   FastBERT: the same first stage; then, backbone and final head frozen, the
//                       internal heads train on sum_{i<n} KL between their distribution and the
//                       final head's (no labels needed)
//   alternating         BERxiT: iterations counted from 1; odd iterations train everything on the
//                       joint loss, even ones freeze the backbone and the final head and train the
//                       internal heads on sum_{i<n} CE_i
// With train_exit_score (and a model built with BERxiT's LTE module), every step adds the LTE
// loss: sum over exits of mean_b (u_ib - c_ib)^2, c_ib = 1 when exit i classifies sample b
// correctly; the module reads the heads' inputs detached, so it learns to judge the features
// without changing them.
//
// A frozen part is frozen for real: the backbone runs without recording a graph
// (forward_all_frozen_backbone), and a frozen head's output is not in the loss, so neither gets a
// gradient and an optimizer over all parameters leaves them unchanged (optimizers skip
// parameters without a gradient).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dynamic/early_exit/multi_exit.h"

namespace dg::dynamic::early_exit {

// ---------------------------------------------------------------- losses

// sum_i CE(logits_i, target) over the exits in [first, last) (default: all).
Tensor sum_of_cross_entropies(const std::vector<ExitOutput>& outputs, const Tensor& target,
                              int64_t first = 0, int64_t last = -1);
// PABEE's sum_i i CE_i / sum_i i, i = 1 .. n.
Tensor index_weighted_cross_entropy(const std::vector<ExitOutput>& outputs, const Tensor& target);

enum class DistillationDirection {
  student_teacher,  // KL(p_student || p_teacher), as FastBERT writes its loss (default)
  teacher_student,  // KL(p_teacher || p_student), Hinton et al.'s distillation
};
// sum over the internal exits (all but the last) of KL between softmax(z_i / T) and the final
// head's softmax(z_n / T), the final head's detached (the teacher), averaged over the batch.
Tensor self_distillation_loss(const std::vector<ExitOutput>& outputs, double temperature = 1.0,
                              DistillationDirection direction = DistillationDirection::student_teacher);
// BERxiT's LTE loss (see above); the model must have its LearnedExitScore.
Tensor learned_exit_loss(const MultiExitModel& model, const std::vector<ExitOutput>& outputs,
                         const Tensor& target);

// ---------------------------------------------------------------- schemes

enum class TrainingScheme { joint, weighted_joint, two_stage, self_distillation, alternating };
std::string scheme_name(TrainingScheme scheme);
TrainingScheme parse_scheme(const std::string& name);

struct SchemeOptions {
  TrainingScheme scheme = TrainingScheme::joint;
  int64_t first_stage_steps = 0;  // two_stage and self_distillation
  double distillation_temperature = 1.0;
  DistillationDirection distillation_direction = DistillationDirection::student_teacher;
  bool train_exit_score = false;
};

// What a step ran and what it trains on.
struct SchemeStep {
  std::vector<ExitOutput> outputs;  // every exit's output (recorded where the scheme trains it)
  Tensor loss;
  bool backbone_frozen = false;
};

// The forward pass and loss of training step `step` (0-based) under the scheme. The caller runs
// backward on loss and steps an optimizer over model.parameters().
SchemeStep scheme_step(MultiExitModel& model, const SchemeOptions& options, int64_t step,
                       const Tensor& input, const Tensor& mask, const Tensor& target);

}  // namespace dg::dynamic::early_exit
