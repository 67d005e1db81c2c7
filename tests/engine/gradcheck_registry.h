// The gradient-check table: one GradcheckCase per line, registered at static-initialisation time
// from the gradcheck_cases_*.cpp files (one per op family), ggml-style, each as
//   RegisterGradcheck some_name{{OpId::op, "function description", inputs, fn[, second_order]}};
// test_gradcheck.cpp runs every case in float64, checks that the graph of each case really holds a
// node of the op it is filed under, and fails if any op of engine/ops/ops.def or composite of
// engine/ops/composite_ops.def has no case (a composite is covered by a case whose name holds the
// composite's name as a word).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/gradcheck.h"

namespace dg::test {

struct GradcheckCase {
  OpId op;                                   // the op this case exercises (for coverage)
  std::string name;                          // shown on failure, e.g. "add [3,1] + [4]"
  std::function<std::vector<Tensor>()> inputs;  // fresh f64 inputs (leaves that require grad)
  DifferentiableFn fn;
  bool second_order = false;                 // also run gradgradcheck
  GradcheckOptions options = {};
};

std::vector<GradcheckCase>& gradcheck_registry();

struct RegisterGradcheck {
  explicit RegisterGradcheck(GradcheckCase c) { gradcheck_registry().push_back(std::move(c)); }
};

}  // namespace dg::test
