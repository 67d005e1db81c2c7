// A multi-exit convolutional image classifier in BranchyNet's style (Teerapittayanon et al. 2016):
// a stack of convolution stages (3x3 convolution, batch norm, ReLU, and a 2x2 max pool where the
// stage halves the resolution), each followed by a side branch: a global average pool of the
// stage's feature map and an ExitHead. The last branch is the network's own classifier.
//
// Batch norm couples the samples of a batch in training mode only; in eval mode (where early exit
// runs) every sample is computed on its own, so removing exited samples from the batch changes no
// other sample's result.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dynamic/early_exit/multi_exit.h"
#include "nn/basic.h"
#include "nn/conv.h"
#include "nn/normalization.h"

namespace dg::dynamic::early_exit {

struct CnnStage {
  int64_t channels = 16;
  bool halve = false;  // 2x2 max pool after the activation
};

struct MultiExitCnnOptions {
  int64_t in_channels = 1;
  int64_t classes = 10;
  // Fashion-MNIST default: 28x28 -> 14x14 -> 7x7 -> 7x7.
  std::vector<CnnStage> stages{{16, true}, {32, true}, {64, false}, {64, false}};
  int64_t pooler_features = 0;
  bool learned_exit_score = false;
};

class MultiExitCnn : public MultiExitModel {
 public:
  explicit MultiExitCnn(const MultiExitCnnOptions& options = {}, const nn::ParamOptions& param = {});

  // images [B, in_channels, H, W]; mask must be undefined.
  ExitState begin(const Tensor& images, const Tensor& mask) override;
  ExitState run_block(int64_t index, const ExitState& state) override;
  Tensor pool(int64_t index, const ExitState& state) override;
  std::vector<Tensor> backbone_parameters() const override;
  std::string type_name() const override { return "MultiExitCnn"; }

  const MultiExitCnnOptions options;
  std::vector<std::shared_ptr<nn::Conv2d>> convs;
  std::vector<std::shared_ptr<nn::BatchNorm2d>> norms;
};

}  // namespace dg::dynamic::early_exit
