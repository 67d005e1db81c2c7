// Reference kernels for 2-D pooling over `planes` independent [in_h, in_w] planes: max pooling
// (the largest value of each window and where it is) and average pooling, with their adjoints.
// Windows come from Pool2dGeometry (fixed kernels with stride and padding, or PyTorch's adaptive
// bins); padding is never read. Operands are contiguous, so plane p's element (h, w) is at
// p * in_h * in_w + h * in_w + w.
#include <cmath>
#include <vector>

#include "engine/reference/reference_backend.h"

namespace dg::reference {

void ReferenceBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& input,
                                  const Pool2dGeometry& g) {
  visit_floating(input.dtype(), "max_pool2d", [&]<class T>() {
    const T* x = input.data<T>();
    for (int64_t p = 0; p < g.planes; ++p)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          // The first maximum in row-major order; a NaN beats every number and the first NaN stays.
          T best = T(0);
          int64_t best_at = -1;
          for (int64_t h = g.row_begin(oh); h < g.row_end(oh); ++h)
            for (int64_t w = g.col_begin(ow); w < g.col_end(ow); ++w) {
              const T v = x[(p * g.in_h + h) * g.in_w + w];
              const bool better = best_at < 0 || (!std::isnan(best) && (std::isnan(v) || v > best));
              if (better) {
                best = v;
                best_at = h * g.in_w + w;
              }
            }
          const int64_t o = (p * g.out_h + oh) * g.out_w + ow;
          out.data<T>()[o] = best;
          if (indices.defined()) indices.data<int64_t>()[o] = best_at;
        }
  });
}

void ReferenceBackend::max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                           const Tensor& indices, const Pool2dGeometry& g) {
  visit_floating(grad_input.dtype(), "max_pool2d_backward", [&]<class T>() {
    std::vector<double> gx(grad_input.numel(), 0.0);
    const int64_t outputs = g.out_h * g.out_w, inputs = g.in_h * g.in_w;
    for (int64_t p = 0; p < g.planes; ++p)
      for (int64_t o = 0; o < outputs; ++o)
        gx[p * inputs + indices.data<int64_t>()[p * outputs + o]] +=
            static_cast<double>(grad_out.data<T>()[p * outputs + o]);
    for (int64_t i = 0; i < grad_input.numel(); ++i)
      grad_input.data<T>()[i] = static_cast<T>(gx[i]);
  });
}

void ReferenceBackend::avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dGeometry& g) {
  visit_floating(input.dtype(), "avg_pool2d", [&]<class T>() {
    const T* x = input.data<T>();
    for (int64_t p = 0; p < g.planes; ++p)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          double sum = 0;
          for (int64_t h = g.row_begin(oh); h < g.row_end(oh); ++h)
            for (int64_t w = g.col_begin(ow); w < g.col_end(ow); ++w)
              sum += static_cast<double>(x[(p * g.in_h + h) * g.in_w + w]);
          out.data<T>()[(p * g.out_h + oh) * g.out_w + ow] =
              static_cast<T>(sum / static_cast<double>(g.divisor(oh, ow)));
        }
  });
}

void ReferenceBackend::avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out,
                                           const Pool2dGeometry& g) {
  visit_floating(grad_input.dtype(), "avg_pool2d_backward", [&]<class T>() {
    std::vector<double> gx(grad_input.numel(), 0.0);
    for (int64_t p = 0; p < g.planes; ++p)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const double share =
              static_cast<double>(grad_out.data<T>()[(p * g.out_h + oh) * g.out_w + ow]) /
              static_cast<double>(g.divisor(oh, ow));
          for (int64_t h = g.row_begin(oh); h < g.row_end(oh); ++h)
            for (int64_t w = g.col_begin(ow); w < g.col_end(ow); ++w)
              gx[(p * g.in_h + h) * g.in_w + w] += share;
        }
    for (int64_t i = 0; i < grad_input.numel(); ++i)
      grad_input.data<T>()[i] = static_cast<T>(gx[i]);
  });
}

}  // namespace dg::reference
