// CPU kernels for the elementwise family: fill, copy (with dtype conversion), unary, binary,
// where, and the fused Adam step. Each runs through for_each_strided; the innermost loop has a contiguous fast path that the
// compiler vectorises, and the costly transcendental functions use Eigen's vectorised versions.
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <cstring>

#include "engine/allocator.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/strided_loop.h"
#include "engine/ops/ops.h"
#include "engine/scalar_math.h"

namespace dg::cpu {

void* CpuBackend::allocate(size_t nbytes) { return CpuAllocator::allocate(nbytes); }
void CpuBackend::deallocate(void* ptr, size_t nbytes) { CpuAllocator::deallocate(ptr, nbytes); }
void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}

void CpuBackend::fill(const Tensor& out, double value) {
  visit_dtype(out.dtype(), [&]<class T>() {
    const T v = static_cast<T>(value);
    for_each_strided<1>(out.shape(), {&out}, [v](auto p, auto s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      if (s[0] == 1) {
        std::fill(o, o + n, v);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * s[0]] = v;
      }
    });
  });
}

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  visit_dtype(dst.dtype(), [&]<class D>() {
    visit_dtype(src.dtype(), [&]<class S>() {
      for_each_strided<2>(dst.shape(), {&dst, &src}, [](auto p, auto s, int64_t n) {
        D* o = reinterpret_cast<D*>(p[0]);
        const S* x = reinterpret_cast<const S*>(p[1]);
        if constexpr (std::is_same_v<D, S>) {
          if (s[0] == 1 && s[1] == 1) {
            std::memcpy(o, x, n * sizeof(D));
            return;
          }
        }
        if (s[0] == 1 && s[1] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = static_cast<D>(x[i * s[1]]);
        }
      });
    });
  });
}

namespace {

// out[i] = f(in[i]) over a contiguous run; Eigen's vectorised kernels for the costly functions.
template <class T, class F>
void unary_contiguous(UnaryOp op, T* o, const T* x, int64_t n, F f) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  Eigen::Map<Array> out(o, n);
  Eigen::Map<const Array> in(x, n);
  switch (op) {
    case UnaryOp::exp: {
      // Eigen's vectorised exp clamps its input, so exp(-inf) would be a tiny positive number
      // instead of 0; below the smallest normal result, flush to 0 (log(exp(-inf)) must be -inf).
      // (Eigen's select() is not vectorised; this second loop is.)
      const T lowest = std::is_same_v<T, float> ? T(-87.33) : T(-708.39);
      out = in.exp();
      for (int64_t i = 0; i < n; ++i) o[i] = x[i] < lowest ? T(0) : o[i];
      return;
    }
    case UnaryOp::erf:
    case UnaryOp::gelu_erf:
      // float: Eigen's vectorised rational approximation of erf (absolute error below 4e-7, so
      // GELU's is below about 1e-6; tested): scalar erff was a visible share of a transformer step
      // with exact GELU. double keeps std::erf.
      if constexpr (std::is_same_v<T, float>) {
        if (op == UnaryOp::erf) {
          out = in.erf();
        } else {
          out = T(0.5) * in * (T(1) + (in * T(0.70710678118654752440)).erf());
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
      return;
    case UnaryOp::log: out = in.log(); return;
    case UnaryOp::tanh: out = in.tanh(); return;
    case UnaryOp::sigmoid: out = in.logistic(); return;
    case UnaryOp::sqrt: out = in.sqrt(); return;
    case UnaryOp::rsqrt: out = in.rsqrt(); return;
    default:
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double p0, double p1) {
  if (op == UnaryOp::logical_not) {
    for_each_strided<2>(out.shape(), {&out, &in}, [](auto p, auto s, int64_t n) {
      bool* o = reinterpret_cast<bool*>(p[0]);
      const bool* x = reinterpret_cast<const bool*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = !x[i * s[1]];
    });
    return;
  }
  visit_dtype(in.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail("unary: op not defined for bool tensors");
    } else {
      math::dispatch_unary(op, p0, p1, [&](auto f) {
        for_each_strided<2>(out.shape(), {&out, &in}, [=](auto p, auto s, int64_t n) {
          T* o = reinterpret_cast<T*>(p[0]);
          const T* x = reinterpret_cast<const T*>(p[1]);
          if constexpr (std::is_floating_point_v<T>) {
            if (s[0] == 1 && s[1] == 1) return unary_contiguous<T>(op, o, x, n, f);
          }
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]]);
        });
      });
    }
  });
}

namespace {

// The inner loop of every binary kernel, with fast paths for the common stride patterns.
template <class O, class T, class F>
void binary_loop(std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n, F f) {
  O* o = reinterpret_cast<O*>(p[0]);
  const T* a = reinterpret_cast<const T*>(p[1]);
  const T* b = reinterpret_cast<const T*>(p[2]);
  if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
    const T bv = *b;
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
    const T av = *a;
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(a[i * s[1]], b[i * s[2]]);
  }
}

}  // namespace

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const std::array<const Tensor*, 3> operands{&out, &a, &b};
  if (math::is_logical(op)) {
    math::dispatch_logical(op, [&](auto f) {
      for_each_strided<3>(out.shape(), operands,
                          [f](auto p, auto s, int64_t n) { binary_loop<bool, bool>(p, s, n, f); });
    });
    return;
  }
  visit_dtype(a.dtype(), [&]<class T>() {
    if (math::is_comparison(op)) {
      math::dispatch_comparison(op, [&](auto f) {
        for_each_strided<3>(out.shape(), operands,
                            [f](auto p, auto s, int64_t n) { binary_loop<bool, T>(p, s, n, f); });
      });
    } else if constexpr (!std::is_same_v<T, bool>) {
      math::dispatch_arithmetic(op, [&](auto f) {
        for_each_strided<3>(out.shape(), operands,
                            [f](auto p, auto s, int64_t n) { binary_loop<T, T>(p, s, n, f); });
      });
    } else {
      fail("binary: arithmetic is not defined for bool tensors");
    }
  });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  visit_dtype(out.dtype(), [&]<class T>() {
    for_each_strided<4>(out.shape(), {&out, &cond, &a, &b}, [](auto p, auto s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const bool* c = reinterpret_cast<const bool*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      const T* y = reinterpret_cast<const T*>(p[3]);
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = c[i * s[1]] ? x[i * s[2]] : y[i * s[3]];
    });
  });
}

// The Adam step on n contiguous elements, in T, in the order of the chain of in-place ops it
// replaces (scalars converted to T first, as scalar operands of those ops are): the expression of
// math::adam_update (engine/scalar_math.h), written over Eigen arrays. Where the compiler fuses a
// multiply and an add into one FMA the result differs from the chain by an ulp. Eigen's array
// expressions vectorise it (a plain loop with std::sqrt does not: errno); they run over blocks that
// stay in L1, so memory is read and written once.
template <class T>
void adam_elements(T* p, const T* g, T* m, T* v, int64_t n, const math::AdamCoefficients<T>& k) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  constexpr int64_t kBlock = 1024;
  for (int64_t from = 0; from < n; from += kBlock) {
    const int64_t len = std::min(kBlock, n - from);
    Eigen::Map<Array> param(p + from, len), exp_avg(m + from, len), exp_avg_sq(v + from, len);
    const Eigen::Map<const Array> grad(g + from, len);
    exp_avg = exp_avg * k.beta1 + grad * k.one_minus_beta1;
    exp_avg_sq = exp_avg_sq * k.beta2 + (grad * k.one_minus_beta2) * grad;
    param = param + (exp_avg * k.minus_step_size) / (exp_avg_sq.sqrt() / k.correction + k.eps);
  }
}

void CpuBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                           const Tensor& exp_avg_sq, const AdamStep& step) {
  visit_floating(param.dtype(), "adam_step", [&]<class T>() {
    const auto k = math::adam_coefficients<T>(step.beta1, step.beta2, step.eps, step.step_size,
                                              step.bias_correction2_sqrt);
    for_each_strided<4>(param.shape(), {&param, &grad, &exp_avg, &exp_avg_sq},
                        [&](auto ptr, auto stride, int64_t n) {
      T* p = reinterpret_cast<T*>(ptr[0]);
      const T* g = reinterpret_cast<const T*>(ptr[1]);
      T* m = reinterpret_cast<T*>(ptr[2]);
      T* v = reinterpret_cast<T*>(ptr[3]);
      if (stride[0] == 1 && stride[1] == 1 && stride[2] == 1 && stride[3] == 1)
        return adam_elements(p, g, m, v, n, k);
      for (int64_t i = 0; i < n; ++i)  // strided: one element at a time, the GPU's per-element code
        math::adam_update(p[i * stride[0]], g[i * stride[1]], m[i * stride[2]], v[i * stride[3]],
                          k);
    });
  });
}

}  // namespace dg::cpu
