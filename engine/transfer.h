// Moving a tensor between devices (the CPU and, in a build with the CUDA backend, cuda:0):
// copy_to_device returns a contiguous copy of x on `device` (x itself when it is already there),
// through the backends' copy_to_host / copy_from_host entries. The copy is not recorded in the
// autograd graph: move leaves (a model's parameters, each batch) and build the graph on their
// device; moving a tensor that needs a gradient while gradients are being recorded is a dg::Error
// rather than a copy whose gradient would silently stop.
#pragma once

#include "engine/tensor.h"

namespace dg {

Tensor copy_to_device(const Tensor& x, Device device);

}  // namespace dg
