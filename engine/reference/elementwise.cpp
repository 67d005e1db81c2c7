// Reference kernels for memory and the elementwise family: allocation, fill, copy with dtype
// conversion, unary and binary maps, where, and the Adam step. Each is one loop over the output's
// elements in row-major order; the per-element math is engine/scalar_math.h, the same functors
// every backend applies, so what differs between backends is only how they walk memory.
#include <cmath>
#include <cstring>

#include "engine/allocator.h"
#include "engine/ops/ops.h"
#include "engine/reference/element_access.h"
#include "engine/reference/reference_backend.h"
#include "engine/scalar_math.h"

namespace dg::reference {

ReferenceBackend& reference_backend() {
  static auto* instance = new ReferenceBackend();  // never destroyed: outlives static tensors
  return *instance;
}

// Host memory comes from the CPU allocator, so a tensor made by either backend can be freed by
// the other (HostBackendOverride, engine/backend_override.h, swaps them under a running program).
void* ReferenceBackend::allocate(size_t nbytes) { return CpuAllocator::allocate(nbytes); }
void ReferenceBackend::deallocate(void* ptr, size_t nbytes) {
  CpuAllocator::deallocate(ptr, nbytes);
}
void ReferenceBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}
void ReferenceBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}

void ReferenceBackend::fill(const Tensor& out, double value) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for (int64_t i = 0; i < out.numel(); ++i) element<T>(out, i) = static_cast<T>(value);
  });
}

void ReferenceBackend::copy(const Tensor& dst, const Tensor& src) {
  visit_dtype(dst.dtype(), [&]<class D>() {
    visit_dtype(src.dtype(), [&]<class S>() {
      for (int64_t i = 0; i < dst.numel(); ++i)
        element<D>(dst, i) = static_cast<D>(element<S>(src, i));
    });
  });
}

void ReferenceBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0,
                             double p1) {
  if (op == UnaryOp::logical_not) {
    for (int64_t i = 0; i < out.numel(); ++i) element<bool>(out, i) = !element<bool>(in, i);
    return;
  }
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("unary: op not defined for bool tensors");
    } else {
      math::dispatch_unary(op, p0, p1, [&](auto f) {
        for (int64_t i = 0; i < out.numel(); ++i) element<T>(out, i) = f(element<T>(in, i));
      });
    }
  });
}

void ReferenceBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (math::is_logical(op)) {
    math::dispatch_logical(op, [&](auto f) {
      for (int64_t i = 0; i < out.numel(); ++i)
        element<bool>(out, i) = f(element<bool>(a, i), element<bool>(b, i));
    });
    return;
  }
  visit_dtype(a.dtype(), [&]<class T>() {
    if (math::is_comparison(op)) {
      math::dispatch_comparison(op, [&](auto f) {
        for (int64_t i = 0; i < out.numel(); ++i)
          element<bool>(out, i) = f(element<T>(a, i), element<T>(b, i));
      });
    } else if constexpr (!std::is_same_v<T, bool>) {
      math::dispatch_arithmetic(op, [&](auto f) {
        for (int64_t i = 0; i < out.numel(); ++i)
          element<T>(out, i) = f(element<T>(a, i), element<T>(b, i));
      });
    } else {
      fail("binary: arithmetic is not defined for bool tensors");
    }
  });
}

void ReferenceBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a,
                             const Tensor& b) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for (int64_t i = 0; i < out.numel(); ++i)
      element<T>(out, i) = element<bool>(cond, i) ? element<T>(a, i) : element<T>(b, i);
  });
}

// Adam (Kingma and Ba, algorithm 1) with PyTorch's placement of eps, in T, in the order of the
// chain of in-place ops that adam_step_ fuses:
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   p = p - step_size m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
void ReferenceBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                                 const Tensor& exp_avg_sq, const AdamStep& step) {
  visit_floating(param.dtype(), "adam_step", [&]<class T>() {
    const T beta1 = static_cast<T>(step.beta1), one_minus_beta1 = static_cast<T>(1 - step.beta1);
    const T beta2 = static_cast<T>(step.beta2), one_minus_beta2 = static_cast<T>(1 - step.beta2);
    const T correction = static_cast<T>(step.bias_correction2_sqrt);
    const T eps = static_cast<T>(step.eps), step_size = static_cast<T>(step.step_size);
    for (int64_t i = 0; i < param.numel(); ++i) {
      T& p = element<T>(param, i);
      T& m = element<T>(exp_avg, i);
      T& v = element<T>(exp_avg_sq, i);
      const T g = element<T>(grad, i);
      m = m * beta1 + g * one_minus_beta1;
      v = v * beta2 + (g * one_minus_beta2) * g;
      p = p + (m * -step_size) / (std::sqrt(v) / correction + eps);
    }
  });
}

}  // namespace dg::reference
