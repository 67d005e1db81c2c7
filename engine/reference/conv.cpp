// Reference kernels for 2-D convolution: the forward, its two adjoints (the gradients in the input
// and in the weight) and the kernel-mixture convolution of dynamic convolution. All four are the
// same seven nested loops of the definition,
//   out[n, co, oh, ow] = bias[co] + sum_{ci, i, j} input[n, c, ih, iw] weight[co, ci, i, j],
//   with c = the group's first input channel + ci, ih = oh stride_h - pad_h + i dilation_h
//   (and iw likewise), positions outside the input reading zero padding,
// differing only in which of the three operands each product is accumulated into. Sums accumulate
// in double. Operands are contiguous (the table's contract), so flat offsets address them.
#include <vector>

#include "engine/flops.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

namespace {

using Geometry = Backend::Conv2dGeometry;

// Calls visit(n, out_offset, input_offset, weight_offset) for every (output, input, weight)
// triple the convolution multiplies together, by their flat offsets in the contiguous
// [batch, out_channels, out_h, out_w], [batch, in_channels, in_h, in_w] and
// [out_channels, in_channels / groups, kernel_h, kernel_w] tensors.
template <class Visit>
void for_each_product(const Geometry& g, Visit&& visit) {
  const int64_t in_per_group = g.in_channels / g.groups;
  const int64_t out_per_group = g.out_channels / g.groups;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t co = 0; co < g.out_channels; ++co)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow)
          for (int64_t ci = 0; ci < in_per_group; ++ci)
            for (int64_t i = 0; i < g.kernel_h; ++i)
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
                const int64_t iw = ow * g.stride_w - g.pad_w + j * g.dilation_w;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;  // padding
                const int64_t c = (co / out_per_group) * in_per_group + ci;
                visit(n, ((n * g.out_channels + co) * g.out_h + oh) * g.out_w + ow,
                      ((n * g.in_channels + c) * g.in_h + ih) * g.in_w + iw,
                      ((co * in_per_group + ci) * g.kernel_h + i) * g.kernel_w + j);
              }
}

// The channel of output element `offset` of a [batch, out_channels, out_h, out_w] tensor.
int64_t out_channel(const Geometry& g, int64_t offset) {
  return offset / (g.out_h * g.out_w) % g.out_channels;
}

template <class T>
void store(const Tensor& t, const std::vector<double>& values) {
  T* data = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) data[i] = static_cast<T>(values[i]);
}

}  // namespace

void ReferenceBackend::conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                              const Tensor& bias, const Conv2dGeometry& g) {
  visit_floating(out.dtype(), "conv2d", [&]<class T>() {
    const T* x = input.data<T>();
    const T* w = weight.data<T>();
    std::vector<double> y(out.numel(), 0.0);
    if (bias.defined())
      for (int64_t k = 0; k < out.numel(); ++k) y[k] = bias.data<T>()[out_channel(g, k)];
    for_each_product(g, [&](int64_t, int64_t yi, int64_t xi, int64_t wi) {
      y[yi] += static_cast<double>(x[xi]) * static_cast<double>(w[wi]);
    });
    store<T>(out, y);
  });
}

void ReferenceBackend::conv2d_input_grad(const Tensor& grad_input, const Tensor& grad_out,
                                         const Tensor& weight, const Conv2dGeometry& g) {
  visit_floating(grad_input.dtype(), "conv2d_input_grad", [&]<class T>() {
    const T* gy = grad_out.data<T>();
    const T* w = weight.data<T>();
    std::vector<double> gx(grad_input.numel(), 0.0);
    for_each_product(g, [&](int64_t, int64_t yi, int64_t xi, int64_t wi) {
      gx[xi] += static_cast<double>(gy[yi]) * static_cast<double>(w[wi]);
    });
    store<T>(grad_input, gx);
  });
}

void ReferenceBackend::conv2d_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                                          const Tensor& input, const Conv2dGeometry& g) {
  visit_floating(grad_weight.dtype(), "conv2d_weight_grad", [&]<class T>() {
    const T* gy = grad_out.data<T>();
    const T* x = input.data<T>();
    std::vector<double> gw(grad_weight.numel(), 0.0);
    for_each_product(g, [&](int64_t, int64_t yi, int64_t xi, int64_t wi) {
      gw[wi] += static_cast<double>(gy[yi]) * static_cast<double>(x[xi]);
    });
    store<T>(grad_weight, gw);
  });
}

// Sample n's kernel is built first (as the comment on Backend::kernel_mixture_conv2d states),
// then the sample is convolved with it.
bool ReferenceBackend::kernel_mixture_conv2d(const Tensor& out, const Tensor& input,
                                             const Tensor& mixing, const Tensor& factors,
                                             const Tensor& biases, const Tensor& base_kernel,
                                             const Tensor& positions, const Conv2dGeometry& g) {
  visit_floating(out.dtype(), "kernel_mixture_conv2d", [&]<class T>() {
    const int64_t kernel_size =
        g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
    const int64_t K = mixing.shape()[1];
    const T* a = mixing.data<T>();
    const T* f = factors.data<T>();
    // kernels[n * kernel_size + e]: element e of sample n's kernel W_n. `executed` counts the
    // multiply-adds as they run (the fused op's FLOPs are the backend's count).
    std::vector<double> kernels(g.batch * kernel_size, 0.0);
    int64_t executed = 0;
    for (int64_t n = 0; n < g.batch; ++n) {
      double* W = kernels.data() + n * kernel_size;
      if (!base_kernel.defined()) {
        for (int64_t e = 0; e < kernel_size; ++e)
          for (int64_t k = 0; k < K; ++k)
            W[e] += static_cast<double>(a[n * K + k]) * static_cast<double>(f[k * kernel_size + e]),
                ++executed;
      } else {
        const int64_t D = positions.numel();
        for (int64_t e = 0; e < kernel_size; ++e) W[e] = base_kernel.data<T>()[e];
        for (int64_t i = 0; i < D; ++i) {
          double mixed = 0;
          for (int64_t k = 0; k < K; ++k)
            mixed += static_cast<double>(a[n * K + k]) * static_cast<double>(f[k * D + i]),
                ++executed;
          W[positions.data<int64_t>()[i]] = mixed;
        }
      }
    }
    const T* x = input.data<T>();
    std::vector<double> y(out.numel(), 0.0);
    if (biases.defined())
      for (int64_t k = 0; k < out.numel(); ++k) {
        const int64_t n = k / (g.out_channels * g.out_h * g.out_w);
        y[k] = biases.data<T>()[n * g.out_channels + out_channel(g, k)];
      }
    for_each_product(g, [&](int64_t n, int64_t yi, int64_t xi, int64_t wi) {
      y[yi] += static_cast<double>(x[xi]) * kernels[n * kernel_size + wi];
      ++executed;
    });
    store<T>(out, y);
    flops::add(executed);
  });
  return true;
}

}  // namespace dg::reference
