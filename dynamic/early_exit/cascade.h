// CascadeBERT (Li et al. 2021; survey Section 4, "Cascading"): early exit at the model level.
// Complete models of increasing depth run one after another, smallest first; a sample stops at the
// first model whose temperature-calibrated maximum class probability reaches theta, and the
// largest model answers for whatever is left. Between models the stopped samples leave the batch
// (compaction of the inputs, dynamic/routing.h), so a larger model never runs on them. Each model
// is a MultiExitModel used through its final exit only; its temperature comes from
// fit_temperature (confidence_exit.h) on validation data, as the paper calibrates each model.
// The result reads like early_exit's, with "exit" meaning "model of the cascade".
#pragma once

#include <vector>

#include "dynamic/early_exit/batched_exit.h"

namespace dg::dynamic::early_exit {

struct CascadeStage {
  MultiExitModel* model = nullptr;
  double temperature = 1.0;
};

// Runs under NoGradGuard; every model in eval mode and with the same number of classes.
EarlyExitResult cascade(const std::vector<CascadeStage>& stages, double theta, const Tensor& input,
                        const Tensor& mask = Tensor());

}  // namespace dg::dynamic::early_exit
