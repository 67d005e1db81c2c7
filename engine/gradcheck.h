// Finite-difference gradient checking in float64. The function's output is projected on a fixed
// random vector v (L = sum(v * f(x))); the analytical dL/dx from backward is compared, element by
// element, with the central difference (L(x + eps) - L(x - eps)) / 2 eps.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dg {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  uint64_t seed = 0;  // of the projection vector
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch, or a summary
};

using DifferentiableFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs that require grad must be f64 leaves (on any one device); the others are passed through.
GradcheckResult gradcheck(const DifferentiableFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// Checks the gradient of the gradient: gradcheck of x -> dL/dx computed with create_graph.
GradcheckResult gradgradcheck(const DifferentiableFn& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

}  // namespace dg
