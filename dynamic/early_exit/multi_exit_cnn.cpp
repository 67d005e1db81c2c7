// MultiExitCnn: convolution stages with a global-average-pool branch after each.
#include "dynamic/early_exit/multi_exit_cnn.h"

#include "engine/error.h"
#include "engine/ops/functional.h"
#include "engine/ops/ops.h"

namespace dg::dynamic::early_exit {

namespace {
// One stage's convolution and batch norm as a child "stages.i" (conv, bn).
class Stage : public nn::Module {
 public:
  Stage(std::shared_ptr<nn::Conv2d> conv, std::shared_ptr<nn::BatchNorm2d> bn) {
    register_module("conv", std::move(conv));
    register_module("bn", std::move(bn));
  }
  std::string type_name() const override { return "CnnStage"; }
};
class StageList : public nn::Module {
 public:
  void add(std::shared_ptr<Stage> stage, int64_t index) {
    register_module(std::to_string(index), std::move(stage));
  }
  std::string type_name() const override { return "CnnStages"; }
};
}  // namespace

MultiExitCnn::MultiExitCnn(const MultiExitCnnOptions& o, const nn::ParamOptions& param) : options(o) {
  check(!o.stages.empty() && o.in_channels >= 1 && o.classes >= 2,
        "MultiExitCnn: needs at least one stage, in_channels >= 1 and classes >= 2 (got {} stages, "
        "{}, {})",
        o.stages.size(), o.in_channels, o.classes);
  auto list = register_module("stages", std::make_shared<StageList>());
  std::vector<int64_t> head_inputs;
  int64_t channels = o.in_channels;
  for (size_t i = 0; i < o.stages.size(); ++i) {
    const int64_t out = o.stages[i].channels;
    check(out >= 1, "MultiExitCnn: stage {} has {} channels", i, out);
    convs.push_back(std::make_shared<nn::Conv2d>(channels, out, 3, Conv2dOptions{.padding = {1, 1}},
                                                 false, param));
    norms.push_back(std::make_shared<nn::BatchNorm2d>(out, nn::BatchNormOptions{}, param));
    list->add(std::make_shared<Stage>(convs.back(), norms.back()), static_cast<int64_t>(i));
    head_inputs.push_back(out);
    channels = out;
  }
  add_heads(head_inputs, o.classes, {.pooler_features = o.pooler_features},
            o.learned_exit_score, param);
}

ExitState MultiExitCnn::begin(const Tensor& images, const Tensor& mask) {
  check(images.defined() && !mask.defined(), "MultiExitCnn: takes images and no mask");
  check(images.dim() == 4 && images.size(1) == options.in_channels,
        "MultiExitCnn: images of shape {}, expected [B, {}, H, W]", images.shape(),
        options.in_channels);
  return {images, Tensor()};
}

ExitState MultiExitCnn::run_block(int64_t index, const ExitState& state) {
  check(index >= 0 && index < num_exits(), "MultiExitCnn: block {} of {}", index, num_exits());
  const auto i = static_cast<size_t>(index);
  Tensor h = relu(norms[i]->forward(convs[i]->forward(state.hidden)));
  if (options.stages[i].halve) h = max_pool2d(h, Pool2dOptions{.kernel = {2, 2}});
  return {h, Tensor()};
}

Tensor MultiExitCnn::pool(int64_t, const ExitState& state) {
  return mean(state.hidden, {2, 3});  // [B, C]
}

std::vector<Tensor> MultiExitCnn::backbone_parameters() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < convs.size(); ++i) {
    for (const Tensor& p : convs[i]->parameters()) out.push_back(p);
    for (const Tensor& p : norms[i]->parameters()) out.push_back(p);
  }
  return out;
}

}  // namespace dg::dynamic::early_exit
