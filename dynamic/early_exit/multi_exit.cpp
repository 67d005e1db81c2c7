// The multi-exit frame: exit heads, the LTE module, the full pass and the parameter groups.
#include "dynamic/early_exit/multi_exit.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::dynamic::early_exit {

// ---------------------------------------------------------------- heads

ExitHead::ExitHead(int64_t in_features, int64_t classes, const ExitHeadOptions& options,
                   const nn::ParamOptions& param)
    : in_features(in_features), classes(classes) {
  check(in_features >= 1 && classes >= 2,
        "ExitHead: needs in_features >= 1 and classes >= 2, got {} and {}", in_features, classes);
  check(options.pooler_features >= 0, "ExitHead: pooler_features {} is negative",
        options.pooler_features);
  if (options.layer_norm)
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(in_features, 1e-5, true, param));
  int64_t features = in_features;
  if (options.pooler_features > 0) {
    pooler = register_module("pooler", std::make_shared<nn::Linear>(
                                           in_features, options.pooler_features, true, param));
    features = options.pooler_features;
  }
  classifier = register_module("classifier",
                               std::make_shared<nn::Linear>(features, classes, true, param));
}

Tensor ExitHead::forward(const Tensor& pooled) {
  check(pooled.dim() == 2 && pooled.size(1) == in_features,
        "ExitHead: input of shape {}, expected [B, {}]", pooled.shape(), in_features);
  Tensor h = norm ? norm->forward(pooled) : pooled;
  if (pooler) h = tanh(pooler->forward(h));
  return classifier->forward(h);
}

LearnedExitScore::LearnedExitScore(const std::vector<int64_t>& exit_features,
                                   const nn::ParamOptions& param) {
  check(!exit_features.empty(), "LearnedExitScore: no exits");
  bool same = true;
  for (const int64_t d : exit_features) same = same && d == exit_features.front();
  const size_t count = same ? 1 : exit_features.size();
  for (size_t i = 0; i < count; ++i)
    linears.push_back(register_module(same ? "linear" : "linear" + std::to_string(i),
                                      std::make_shared<nn::Linear>(exit_features[i], 1, true, param)));
}

Tensor LearnedExitScore::forward(int64_t exit, const Tensor& pooled) {
  check(exit >= 0 && (shared() || exit < static_cast<int64_t>(linears.size())),
        "LearnedExitScore: exit {} of {}", exit, linears.size());
  const auto& linear = linears[shared() ? 0 : static_cast<size_t>(exit)];
  check(pooled.dim() == 2 && pooled.size(1) == linear->in_features,
        "LearnedExitScore: input of shape {} at exit {}, expected [B, {}]", pooled.shape(), exit,
        linear->in_features);
  return sigmoid(linear->forward(pooled)).squeeze(1);
}

namespace {
// The heads as one child, so their parameters read "exits.3.classifier.weight".
class HeadList : public nn::Module {
 public:
  void add(const std::shared_ptr<ExitHead>& head, int64_t index) {
    register_module(std::to_string(index), head);
  }
  std::string type_name() const override { return "ExitHeads"; }
};

void append(std::vector<Tensor>& to, const std::vector<Tensor>& from) {
  to.insert(to.end(), from.begin(), from.end());
}
}  // namespace

void MultiExitModel::add_heads(const std::vector<int64_t>& in_features, int64_t classes,
                               const ExitHeadOptions& options, bool learned_exit_score,
                               const nn::ParamOptions& param) {
  check(heads_.empty(), "MultiExitModel: heads added twice");
  check(!in_features.empty(), "MultiExitModel: a model needs at least one exit");
  auto list = register_module("exits", std::make_shared<HeadList>());
  for (size_t i = 0; i < in_features.size(); ++i) {
    heads_.push_back(std::make_shared<ExitHead>(in_features[i], classes, options, param));
    list->add(heads_.back(), static_cast<int64_t>(i));
  }
  if (learned_exit_score)
    exit_score_ = register_module("exit_score", std::make_shared<LearnedExitScore>(in_features, param));
}

ExitHead& MultiExitModel::head(int64_t index) const {
  check(index >= 0 && index < num_exits(), "MultiExitModel: exit {} of {}", index, num_exits());
  return *heads_[static_cast<size_t>(index)];
}

// ---------------------------------------------------------------- passes

ExitOutput MultiExitModel::run_exit(int64_t index, const ExitState& state) {
  Tensor features = pool(index, state);
  Tensor logits = head(index).forward(features);
  return {std::move(features), std::move(logits)};
}

std::vector<ExitOutput> MultiExitModel::forward_all(const Tensor& input, const Tensor& mask) {
  std::vector<ExitOutput> outputs;
  ExitState state = begin(input, mask);
  for (int64_t i = 0; i < num_exits(); ++i) {
    state = run_block(i, state);
    outputs.push_back(run_exit(i, state));
  }
  return outputs;
}

std::vector<ExitOutput> MultiExitModel::forward_all_frozen_backbone(const Tensor& input,
                                                                    const Tensor& mask) {
  std::vector<ExitState> states;
  {
    NoGradGuard frozen;
    ExitState state = begin(input, mask);
    for (int64_t i = 0; i < num_exits(); ++i) {
      state = run_block(i, state);
      states.push_back(state);
    }
  }
  std::vector<ExitOutput> outputs;
  for (int64_t i = 0; i < num_exits(); ++i) outputs.push_back(run_exit(i, states[static_cast<size_t>(i)]));
  return outputs;
}

// ---------------------------------------------------------------- parameter groups

std::vector<Tensor> MultiExitModel::final_head_parameters() const {
  return heads_.back()->parameters();
}

std::vector<Tensor> MultiExitModel::internal_head_parameters() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i + 1 < heads_.size(); ++i) append(out, heads_[i]->parameters());
  return out;
}

std::vector<Tensor> MultiExitModel::exit_score_parameters() const {
  return exit_score_ ? exit_score_->parameters() : std::vector<Tensor>{};
}

}  // namespace dg::dynamic::early_exit
