// Training schemes: each loss against a hand computation, and each scheme training exactly the
// parts it names (a frozen part gets no gradient and an optimizer step leaves it unchanged).
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "dynamic/early_exit/training.h"
#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "nn/optim.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using namespace dg::exit_test;

namespace {
struct Fixture {
  Generator init{9};
  std::shared_ptr<MultiExitTransformer> model = small_transformer(init, 3, false, 3);
  TokenBatch batch = token_batch(5, 7, 4);
  Tensor target = tensor_i64({0, 1, 2, 1, 0});
};

double ce(const Tensor& logits, const Tensor& target) { return cross_entropy(logits, target).item<double>(); }

bool all_have_grad(const std::vector<Tensor>& ps) {
  for (const Tensor& p : ps)
    if (!p.grad().defined()) return false;
  return !ps.empty();
}
bool none_has_grad(const std::vector<Tensor>& ps) {
  for (const Tensor& p : ps)
    if (p.grad().defined()) return false;
  return true;
}
}  // namespace

TEST_CASE("joint losses: the sum of CEs and PABEE's index-weighted average", "[early_exit][training]") {
  Fixture f;
  const auto outputs = f.model->forward_all(f.batch.ids, f.batch.mask);
  const double c0 = ce(outputs[0].logits, f.target), c1 = ce(outputs[1].logits, f.target),
               c2 = ce(outputs[2].logits, f.target);
  CHECK(sum_of_cross_entropies(outputs, f.target).item<double>() == Approx(c0 + c1 + c2).epsilon(1e-13));
  CHECK(sum_of_cross_entropies(outputs, f.target, 0, 2).item<double>() == Approx(c0 + c1).epsilon(1e-13));
  CHECK(index_weighted_cross_entropy(outputs, f.target).item<double>() ==
        Approx((c0 + 2 * c1 + 3 * c2) / 6).epsilon(1e-13));
  CHECK_THROWS_AS(sum_of_cross_entropies(outputs, f.target, 2, 2), Error);
}

TEST_CASE("self-distillation: KL of each internal head to the detached final head", "[early_exit][training]") {
  Fixture f;
  const auto outputs = f.model->forward_all(f.batch.ids, f.batch.mask);
  const double t = 2.0;
  auto probabilities = [&](const Tensor& z) { return softmax(z.detach() / t, 1).to_vector<double>(); };
  const auto teacher = probabilities(outputs[2].logits);
  double student_teacher = 0, teacher_student = 0;
  for (size_t i = 0; i < 2; ++i) {
    const auto student = probabilities(outputs[i].logits);
    for (size_t k = 0; k < student.size(); ++k) {
      student_teacher += student[k] * std::log(student[k] / teacher[k]) / 5.0;
      teacher_student += teacher[k] * std::log(teacher[k] / student[k]) / 5.0;
    }
  }
  CHECK(self_distillation_loss(outputs, t).item<double>() == Approx(student_teacher).epsilon(1e-12));
  const Tensor loss = self_distillation_loss(outputs, t, DistillationDirection::teacher_student);
  CHECK(loss.item<double>() == Approx(teacher_student).epsilon(1e-12));
  loss.backward();
  CHECK(none_has_grad(f.model->final_head_parameters()));  // the teacher is not pulled toward its students
  CHECK(all_have_grad(f.model->internal_head_parameters()));
}

TEST_CASE("two-stage (DeeBERT): stage 1 trains backbone and final head, stage 2 only the internal heads",
          "[early_exit][training]") {
  Fixture f;
  f.model->train();
  const SchemeOptions options{.scheme = TrainingScheme::two_stage, .first_stage_steps = 3};
  SchemeStep first = scheme_step(*f.model, options, 2, f.batch.ids, f.batch.mask, f.target);
  CHECK_FALSE(first.backbone_frozen);
  CHECK(first.loss.item<double>() == Approx(ce(first.outputs[2].logits, f.target)).epsilon(1e-13));
  first.loss.backward();
  CHECK(all_have_grad(f.model->backbone_parameters()));
  CHECK(all_have_grad(f.model->final_head_parameters()));
  CHECK(none_has_grad(f.model->internal_head_parameters()));
  f.model->zero_grad();

  // Stage 2, through an optimizer over every parameter: the frozen parts do not move.
  std::map<std::string, Tensor> before;  // copies: a state dict shares the parameters' storage
  for (const auto& [name, value] : f.model->state_dict()) before[name] = value.clone();
  nn::AdamW optimizer(f.model->parameters(), {.lr = 1e-2, .weight_decay = 0.1});
  SchemeStep second = scheme_step(*f.model, options, 3, f.batch.ids, f.batch.mask, f.target);
  CHECK(second.backbone_frozen);
  CHECK(second.loss.item<double>() ==
        Approx(ce(second.outputs[0].logits, f.target) + ce(second.outputs[1].logits, f.target)).epsilon(1e-13));
  optimizer.zero_grad();
  second.loss.backward();
  optimizer.step();
  const auto after = f.model->state_dict();
  for (const auto& [name, value] : before) {
    const bool internal_head = name.rfind("exits.0.", 0) == 0 || name.rfind("exits.1.", 0) == 0;
    const double change = test::max_abs_diff(value, after.at(name));
    INFO(name);
    if (internal_head && name.find("weight") != std::string::npos) CHECK(change > 0);
    if (!internal_head) CHECK(change == 0);
  }
}

TEST_CASE("self-distillation scheme (FastBERT): second stage needs no labels' gradient on the backbone",
          "[early_exit][training]") {
  Fixture f;
  f.model->train();
  const SchemeOptions options{.scheme = TrainingScheme::self_distillation, .first_stage_steps = 1};
  SchemeStep step = scheme_step(*f.model, options, 1, f.batch.ids, f.batch.mask, f.target);
  CHECK(step.backbone_frozen);
  CHECK(step.loss.item<double>() == Approx(self_distillation_loss(step.outputs).item<double>()).epsilon(1e-13));
  step.loss.backward();
  CHECK(none_has_grad(f.model->backbone_parameters()));
  CHECK(none_has_grad(f.model->final_head_parameters()));
  CHECK(all_have_grad(f.model->internal_head_parameters()));
}

TEST_CASE("alternating (BERxiT): odd iterations joint, even ones frozen backbone and final head",
          "[early_exit][training]") {
  Fixture f;
  f.model->train();
  const SchemeOptions options{.scheme = TrainingScheme::alternating};
  for (int64_t step = 0; step < 4; ++step) {
    f.model->zero_grad();
    SchemeStep s = scheme_step(*f.model, options, step, f.batch.ids, f.batch.mask, f.target);
    s.loss.backward();
    const bool joint = step % 2 == 0;  // iteration step + 1 is odd
    CHECK(s.backbone_frozen == !joint);
    CHECK(all_have_grad(f.model->backbone_parameters()) == joint);
    CHECK(all_have_grad(f.model->final_head_parameters()) == joint);
    CHECK(all_have_grad(f.model->internal_head_parameters()));
  }
}

TEST_CASE("schemes by name, and the LTE loss added on request", "[early_exit][training]") {
  for (const auto s : {TrainingScheme::joint, TrainingScheme::weighted_joint, TrainingScheme::two_stage,
                       TrainingScheme::self_distillation, TrainingScheme::alternating})
    CHECK(parse_scheme(scheme_name(s)) == s);
  CHECK_THROWS_WITH(parse_scheme("sideways"), Catch::Contains("sideways"));

  Generator init(3);
  auto model = small_transformer(init, 3, /*lte=*/true, 2);
  const TokenBatch batch = token_batch(4, 6, 2);
  const Tensor target = tensor_i64({0, 1, 2, 0});
  SchemeStep s = scheme_step(*model, {.scheme = TrainingScheme::weighted_joint, .train_exit_score = true},
                             0, batch.ids, batch.mask, target);
  const double expected = index_weighted_cross_entropy(s.outputs, target).item<double>() +
                          learned_exit_loss(*model, s.outputs, target).item<double>();
  CHECK(s.loss.item<double>() == Approx(expected).epsilon(1e-12));
}
