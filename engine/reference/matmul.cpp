// Reference kernels for matrix products: the batched matmul as the triple loop of its definition,
// out[b, i, j] = sum_k a[b, i, k] b[b, k, j], and the linear layer of inference,
// rows @ weight^T + bias, then relu, then + residual. Sums accumulate in double. Where a fast
// backend may decline inference_linear (it returns an undefined tensor and the op layer composes
// the layer from matmul and add), the reference always computes it, so the registry has a value
// to compare the fast path with.
#include <algorithm>

#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"

namespace dg::reference {

void ReferenceBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  visit_floating(out.dtype(), "matmul", [&]<class T>() {
    for (int64_t batch = 0; batch < B; ++batch)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double sum = 0;
          for (int64_t k = 0; k < K; ++k)
            sum += static_cast<double>(at<T>(a, batch, i, k)) *
                   static_cast<double>(at<T>(b, batch, k, j));
          at<T>(out, batch, i, j) = static_cast<T>(sum);
        }
  });
}

Tensor ReferenceBackend::inference_linear(const Tensor& rows, const Tensor& weight,
                                          const Tensor& bias, bool relu, const Tensor& residual) {
  const int64_t M = rows.shape()[0], K = rows.shape()[1], N = weight.shape()[0];
  Tensor out = Tensor::empty({M, N}, rows.dtype(), rows.device());
  visit_floating(rows.dtype(), "inference_linear", [&]<class T>() {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double sum = bias.defined() ? static_cast<double>(at<T>(bias, j)) : 0.0;
        for (int64_t k = 0; k < K; ++k)
          sum += static_cast<double>(at<T>(rows, i, k)) * static_cast<double>(at<T>(weight, j, k));
        if (relu) sum = std::max(sum, 0.0);
        if (residual.defined()) sum += static_cast<double>(at<T>(residual, i, j));
        at<T>(out, i, j) = static_cast<T>(sum);
      }
  });
  return out;
}

}  // namespace dg::reference
