// ParamOptions: where a layer's parameters come from. Every layer with parameters takes one as its
// last constructor argument (PyTorch's factory keyword arguments): the Generator its default
// initialisation draws from, so a seed fixes a model's starting point, and the dtype of its
// parameters and buffers (f32 normally; f64 for gradient checks and tight comparisons with PyTorch).
#pragma once

#include "engine/dtype.h"
#include "engine/random.h"

namespace dg::nn {

struct ParamOptions {
  Generator* generator = nullptr;  // null: the default generator
  DType dtype = DType::f32;
};

}  // namespace dg::nn
