// Device-to-device copies (see transfer.h). Both directions go through the host: a non-CPU
// backend only copies raw bytes to and from host memory, so a tensor is first made contiguous on
// its own device, then its bytes travel.
#include "engine/transfer.h"

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"

namespace dg {

Tensor copy_to_device(const Tensor& x, Device device) {
  check(x.defined(), "copy_to_device: undefined tensor");
  if (x.device() == device) return x;
  check(!(grad_enabled() && x.requires_grad()),
        "copy_to_device: {} tensor of shape {} on {} needs a gradient, and the copy to {} is not "
        "recorded in the graph; move it before building the graph (e.g. a model's parameters "
        "right after creating them), or under NoGradGuard",
        x.dtype(), x.shape(), x.device(), device);
  NoGradGuard no_grad;
  const Tensor dense = contiguous(x);
  const size_t nbytes = static_cast<size_t>(x.numel()) * itemsize(x.dtype());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device, "copy_to_device");
  if (nbytes == 0) return out;
  if (device.is_cpu()) {
    backend(x.device()).copy_to_host(out.raw_data(), dense.raw_data(), nbytes);
  } else if (x.device().is_cpu()) {
    backend(device).copy_from_host(out.raw_data(), dense.raw_data(), nbytes);
  } else {  // between two non-CPU devices: through a host buffer
    const Tensor host = copy_to_device(dense, Device::cpu());
    backend(device).copy_from_host(out.raw_data(), host.raw_data(), nbytes);
  }
  return out;
}

}  // namespace dg
