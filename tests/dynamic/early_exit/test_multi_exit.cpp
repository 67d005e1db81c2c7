// The multi-exit models: one head per block, the full pass equal to running the blocks by hand,
// padding not reaching a sample's logits, parameter groups that cover the model, and clear errors.
#include <catch2/catch.hpp>

#include <set>

#include "dynamic/early_exit/learned_exit.h"
#include "engine/autograd.h"
#include "engine/ops/functional.h"
#include "tests/dynamic/early_exit/exit_test_util.h"

using namespace dg;
using namespace dg::dynamic::early_exit;
using namespace dg::exit_test;

TEST_CASE("MultiExitTransformer: an exit after every layer, each on that layer's output", "[early_exit][model]") {
  Generator init(1);
  auto model = small_transformer(init);
  CHECK(model->num_exits() == 4);
  CHECK(model->num_classes() == 5);
  const TokenBatch batch = token_batch(3, 10, 2);
  NoGradGuard no_grad;
  const std::vector<ExitOutput> outputs = model->forward_all(batch.ids, batch.mask);
  REQUIRE(outputs.size() == 4);
  // Exit i's logits are head i on the masked mean of layer i's output, computed here by hand.
  Tensor x = model->token_embedding->forward(batch.ids) + model->position_embedding->forward(arange(10));
  const nn::AttentionMasks masks{.key_padding_mask = logical_not(batch.mask)};
  const Tensor weights = batch.mask.to(DType::f64).unsqueeze(2);
  for (int64_t i = 0; i < 4; ++i) {
    x = model->layers[static_cast<size_t>(i)]->forward(x, masks);
    const Tensor pooled = sum(x * weights, {1}) / sum(weights, {1});
    CHECK(test::max_abs_diff(outputs[static_cast<size_t>(i)].features, pooled) < 1e-12);
    const Tensor logits = model->head(i).classifier->forward(tanh(model->head(i).pooler->forward(pooled)));
    CHECK(test::max_abs_diff(outputs[static_cast<size_t>(i)].logits, logits) < 1e-12);
    CHECK(outputs[static_cast<size_t>(i)].logits.shape() == Shape{3, 5});
  }
}

TEST_CASE("MultiExitTransformer: a sample's logits do not depend on its batch's padding", "[early_exit][model]") {
  Generator init(3);
  auto model = small_transformer(init);
  const TokenBatch batch = token_batch(4, 11, 5);
  NoGradGuard no_grad;
  const auto together = model->forward_all(batch.ids, batch.mask);
  for (int64_t b = 0; b < 4; ++b) {
    const auto alone = model->forward_all(narrow(batch.ids, 0, b, 1), narrow(batch.mask, 0, b, 1));
    for (size_t i = 0; i < alone.size(); ++i)
      CHECK(test::max_abs_diff(alone[i].logits, narrow(together[i].logits, 0, b, 1)) < 1e-12);
  }
}

TEST_CASE("MultiExitCnn: BranchyNet stages, a global-average-pool branch after each", "[early_exit][model]") {
  Generator init(4);
  MultiExitCnn model({.in_channels = 1, .classes = 3, .stages = {{4, true}, {6, false}, {8, true}}},
                     nn::ParamOptions{.generator = &init, .dtype = DType::f64});
  model.eval();
  CHECK(model.num_exits() == 3);
  const Tensor images = test::uniform_f64({2, 1, 8, 8}, 6);
  NoGradGuard no_grad;
  const auto outputs = model.forward_all(images);
  CHECK(outputs[0].features.shape() == Shape{2, 4});
  CHECK(outputs[1].features.shape() == Shape{2, 6});
  CHECK(outputs[2].features.shape() == Shape{2, 8});
  Tensor h = max_pool2d(relu(model.norms[0]->forward(model.convs[0]->forward(images))), {.kernel = {2, 2}});
  h = relu(model.norms[1]->forward(model.convs[1]->forward(h)));
  CHECK(test::max_abs_diff(outputs[1].logits, model.head(1).forward(mean(h, {2, 3}))) < 1e-12);
  CHECK_THROWS_AS(model.forward_all(images, ones({2, 8}, DType::b8)), Error);  // no mask for images
  CHECK_THROWS_AS(model.forward_all(test::uniform_f64({2, 3, 8, 8}, 1)), Error);
}

TEST_CASE("parameter groups: backbone, final head, internal heads and LTE cover the model once",
          "[early_exit][model]") {
  Generator init(5);
  auto model = small_transformer(init, 5, /*lte=*/true);
  std::set<TensorImpl*> seen;
  size_t count = 0;
  for (const auto& group : {model->backbone_parameters(), model->final_head_parameters(),
                            model->internal_head_parameters(), model->exit_score_parameters()})
    for (const Tensor& p : group) {
      seen.insert(p.impl());
      ++count;
    }
  CHECK(count == seen.size());
  CHECK(count == model->parameters().size());
  CHECK(model->exit_score() != nullptr);
}

TEST_CASE("the frozen-backbone pass gives gradients to the heads only", "[early_exit][model]") {
  Generator init(6);
  auto model = small_transformer(init);
  model->train();
  const TokenBatch batch = token_batch(3, 8, 7);
  const auto outputs = model->forward_all_frozen_backbone(batch.ids, batch.mask);
  Tensor loss = cross_entropy(outputs[0].logits, tensor_i64({0, 1, 2})) +
                cross_entropy(outputs[3].logits, tensor_i64({0, 1, 2}));
  loss.backward();
  for (const Tensor& p : model->backbone_parameters()) CHECK_FALSE(p.grad().defined());
  for (const Tensor& p : model->head(0).parameters()) CHECK(p.grad().defined());
  for (const Tensor& p : model->head(1).parameters()) CHECK_FALSE(p.grad().defined());
  for (const Tensor& p : model->final_head_parameters()) CHECK(p.grad().defined());
}

TEST_CASE("multi-exit models refuse bad input with clear errors", "[early_exit][model]") {
  Generator init(7);
  auto model = small_transformer(init);
  const TokenBatch batch = token_batch(2, 8, 1);
  CHECK_THROWS_WITH(model->forward_all(batch.ids.to(DType::f64), batch.mask),
                    Catch::Contains("MultiExitTransformer") && Catch::Contains("i64"));
  CHECK_THROWS_WITH(model->forward_all(token_batch(2, 13, 1).ids, Tensor()),
                    Catch::Contains("max_length"));
  CHECK_THROWS_WITH(model->forward_all(batch.ids, ones({2, 7}, DType::b8)), Catch::Contains("mask"));
  CHECK_THROWS_AS(model->head(4), Error);
  CHECK_THROWS_AS(ExitHead(8, 1), Error);
  CHECK_THROWS_AS(LearnedExit(0.5, nullptr), Error);
}
