// A state dict: named tensors (hierarchical names such as "layer1.0.conv1.weight"), the unit that
// Modules export and load, optimizers save, and checkpoints write to disk. Sorted by name, so its
// iteration order (and a checkpoint's bytes) does not depend on construction order.
#pragma once

#include <map>
#include <string>

#include "engine/tensor.h"

namespace dg::nn {

using StateDict = std::map<std::string, Tensor>;

}  // namespace dg::nn
