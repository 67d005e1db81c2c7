// Helpers shared by the nn layer tests: f64 parameter options (tight comparisons) and the key list
// of a state dict.
#pragma once

#include <string>
#include <vector>

#include "nn/layer_options.h"
#include "nn/state_dict.h"

namespace dg::nn_test {

inline const nn::ParamOptions kF64{.generator = nullptr, .dtype = DType::f64};

inline std::vector<std::string> keys(const nn::StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [k, _] : state) out.push_back(k);
  return out;
}

}  // namespace dg::nn_test
