// Top-1 accuracy of a classifier over a data set: the evaluation every classification example
// ends its epochs with. Eval mode (dropout off, batch norm on its running statistics) and no graph;
// the module's mode is restored afterwards.
#pragma once

#include <cstdint>
#include <memory>

#include "datasets/dataset.h"
#include "nn/module.h"

namespace dg::experiment {

// The fraction of `dataset` (inputs -> class-id targets) whose argmax logit is the target.
double classification_accuracy(nn::UnaryModule& model, std::shared_ptr<const data::Dataset> dataset,
                               int64_t batch_size = 500);

}  // namespace dg::experiment
