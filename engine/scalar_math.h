// Per-element math of the elementwise kernels: one functor per UnaryOp/BinaryOp, the switches that
// turn a runtime op into a functor, and the Adam update of one element. Everything here is marked
// __host__ __device__ under nvcc: the CPU backend (engine/cpu/elementwise_kernels.cpp) and the CUDA
// backend (cuda/elementwise.cu) call the same functions, so the CPU tests check the math the GPU
// kernels run. This header includes nothing of Tensor, so that nvcc never parses the engine's
// host-only headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/kernel_ops.h"

#if defined(__CUDACC__)
#define DG_HOST_DEVICE __host__ __device__
#else
#define DG_HOST_DEVICE
#endif

namespace dg::math {

// Integer arithmetic wraps modulo 2^64, as PyTorch's and NumPy's does: computed in unsigned, where
// overflow is defined, instead of in int64_t, where it is undefined behaviour.
template <class T>
DG_HOST_DEVICE T wrap(uint64_t x) { return static_cast<T>(x); }

// ---- unary ----
struct Neg {
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    if constexpr (std::is_integral_v<T>) return wrap<T>(uint64_t{0} - static_cast<uint64_t>(x));
    else return -x;
  }
};
struct Exp { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::exp(x); } };
struct Log { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::log(x); } };
struct Log1p { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::log1p(x); } };
struct Sqrt { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); } };
struct Rsqrt { template <class T> DG_HOST_DEVICE T operator()(T x) const { return T(1) / std::sqrt(x); } };
struct Abs {
  template <class T> DG_HOST_DEVICE T operator()(T x) const { return x < T(0) ? Neg{}(x) : x; }
};
struct Sign {
  template <class T> DG_HOST_DEVICE T operator()(T x) const { return T((T(0) < x) - (x < T(0))); }
};
struct Sin { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::sin(x); } };
struct Cos { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::cos(x); } };
struct Erf { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::erf(x); } };
struct Tanh { template <class T> DG_HOST_DEVICE T operator()(T x) const { return std::tanh(x); } };
struct Sigmoid {
  template <class T> DG_HOST_DEVICE T operator()(T x) const { return T(1) / (T(1) + std::exp(-x)); }
};
struct Relu { template <class T> DG_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(0); } };
struct Silu {
  template <class T> DG_HOST_DEVICE T operator()(T x) const { return x / (T(1) + std::exp(-x)); }
};
struct GeluErf {
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
};
struct GeluTanh {
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    const T k = T(0.79788456080286535588);  // sqrt(2/pi)
    return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
  }
};
struct Softplus {
  double beta, threshold;
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    const T bx = T(beta) * x;
    return bx > T(threshold) ? x : std::log1p(std::exp(bx)) / T(beta);
  }
};
struct LeakyRelu {
  double slope;
  template <class T> DG_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(slope) * x; }
};
struct Clamp {
  double lo, hi;
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    // NaN stays NaN, like PyTorch.
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
};
struct PowScalar {
  double p;
  template <class T> DG_HOST_DEVICE T operator()(T x) const {
    if (p == 2.0) return x * x;
    if (p == 1.0) return x;
    if (p == 0.5) return std::sqrt(x);
    return std::pow(x, T(p));
  }
};

// Calls f(functor) for a floating unary op (logical_not is handled by the caller). The dispatchers
// run on the host: they pick the functor type a kernel is instantiated with.
template <class F>
void dispatch_unary(UnaryOp op, double p0, double p1, F&& f) {
  switch (op) {
    case UnaryOp::neg: return f(Neg{});
    case UnaryOp::exp: return f(Exp{});
    case UnaryOp::log: return f(Log{});
    case UnaryOp::log1p: return f(Log1p{});
    case UnaryOp::sqrt: return f(Sqrt{});
    case UnaryOp::rsqrt: return f(Rsqrt{});
    case UnaryOp::abs: return f(Abs{});
    case UnaryOp::sign: return f(Sign{});
    case UnaryOp::sin: return f(Sin{});
    case UnaryOp::cos: return f(Cos{});
    case UnaryOp::erf: return f(Erf{});
    case UnaryOp::tanh: return f(Tanh{});
    case UnaryOp::sigmoid: return f(Sigmoid{});
    case UnaryOp::relu: return f(Relu{});
    case UnaryOp::silu: return f(Silu{});
    case UnaryOp::gelu_erf: return f(GeluErf{});
    case UnaryOp::gelu_tanh: return f(GeluTanh{});
    case UnaryOp::softplus: return f(Softplus{p0, p1});
    case UnaryOp::leaky_relu: return f(LeakyRelu{p0});
    case UnaryOp::clamp: return f(Clamp{p0, p1});
    case UnaryOp::pow_scalar: return f(PowScalar{p0});
    case UnaryOp::logical_not: return;
  }
}

// ---- binary ----
struct Add {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrap<T>(uint64_t(a) + uint64_t(b));
    else return a + b;
  }
};
struct Sub {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrap<T>(uint64_t(a) - uint64_t(b));
    else return a - b;
  }
};
struct Mul {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrap<T>(uint64_t(a) * uint64_t(b));
    else return a * b;
  }
};
// Integer division truncates toward zero (C++'s rule; PyTorch's rounding_mode="trunc"). The op
// layer (engine/ops/elementwise.cpp) refuses a zero divisor with a dg::Error before any kernel
// runs; the kernel still never divides by zero (it would raise SIGFPE), giving 0, and
// INT64_MIN / -1 wraps to INT64_MIN, as it does in PyTorch and NumPy.
struct Div {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == T(0)) return T(0);
      if (b == T(-1)) return wrap<T>(uint64_t{0} - static_cast<uint64_t>(a));
    }
    return a / b;
  }
};
// (grad, output) -> grad * d(activation)/dx, written in terms of the activation's output.
struct SigmoidGrad {
  template <class T> DG_HOST_DEVICE T operator()(T g, T y) const { return g * y * (T(1) - y); }
};
struct TanhGrad {
  template <class T> DG_HOST_DEVICE T operator()(T g, T y) const { return g * (T(1) - y * y); }
};
struct ReluGrad {
  template <class T> DG_HOST_DEVICE T operator()(T g, T y) const { return y > T(0) ? g : T(0); }
};
struct Pow {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      // Squaring, wrapping like Mul: O(log b) steps for any exponent. A negative exponent gives
      // 1 / a^|b| truncated toward zero: 1 for a = 1, +-1 for a = -1, 0 otherwise.
      if (b < T(0)) return a == T(1) ? T(1) : a == T(-1) ? ((b & T(1)) ? T(-1) : T(1)) : T(0);
      uint64_t r = 1, base = static_cast<uint64_t>(a), e = static_cast<uint64_t>(b);
      for (; e; e >>= 1, base *= base)
        if (e & 1) r *= base;
      return wrap<T>(r);
    } else {
      return std::pow(a, b);
    }
  }
};
// NaN propagates, like PyTorch's maximum/minimum.
struct Maximum {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const { return (a != a || a > b) ? a : b; }
};
struct Minimum {
  template <class T> DG_HOST_DEVICE T operator()(T a, T b) const { return (a != a || a < b) ? a : b; }
};
struct Eq { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> DG_HOST_DEVICE bool operator()(T a, T b) const { return a >= b; } };
struct And { DG_HOST_DEVICE bool operator()(bool a, bool b) const { return a && b; } };
struct Or { DG_HOST_DEVICE bool operator()(bool a, bool b) const { return a || b; } };
struct Xor { DG_HOST_DEVICE bool operator()(bool a, bool b) const { return a != b; } };

constexpr bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}
constexpr bool is_logical(BinaryOp op) {
  return op == BinaryOp::logical_and || op == BinaryOp::logical_or || op == BinaryOp::logical_xor;
}

// Calls f(functor) for an arithmetic binary op.
template <class F>
void dispatch_arithmetic(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add: return f(Add{});
    case BinaryOp::sub: return f(Sub{});
    case BinaryOp::mul: return f(Mul{});
    case BinaryOp::div: return f(Div{});
    case BinaryOp::pow: return f(Pow{});
    case BinaryOp::maximum: return f(Maximum{});
    case BinaryOp::minimum: return f(Minimum{});
    case BinaryOp::sigmoid_grad: return f(SigmoidGrad{});
    case BinaryOp::tanh_grad: return f(TanhGrad{});
    case BinaryOp::relu_grad: return f(ReluGrad{});
    default: return;
  }
}

template <class F>
void dispatch_comparison(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::eq: return f(Eq{});
    case BinaryOp::ne: return f(Ne{});
    case BinaryOp::lt: return f(Lt{});
    case BinaryOp::le: return f(Le{});
    case BinaryOp::gt: return f(Gt{});
    case BinaryOp::ge: return f(Ge{});
    default: return;
  }
}

template <class F>
void dispatch_logical(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::logical_and: return f(And{});
    case BinaryOp::logical_or: return f(Or{});
    case BinaryOp::logical_xor: return f(Xor{});
    default: return;
  }
}

// ---- the Adam step (Backend::adam_step) ----
// Its coefficients converted to T once, as the scalar operands of the chain of in-place ops it
// replaces are: m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p += -step_size m / (sqrt(v) / bias_correction2_sqrt + eps).
template <class T>
struct AdamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, correction, eps, minus_step_size;
};

template <class T>
AdamCoefficients<T> adam_coefficients(double beta1, double beta2, double eps, double step_size,
                                      double bias_correction2_sqrt) {
  return {static_cast<T>(beta1), static_cast<T>(1 - beta1), static_cast<T>(beta2),
          static_cast<T>(1 - beta2), static_cast<T>(bias_correction2_sqrt), static_cast<T>(eps),
          static_cast<T>(-step_size)};
}

template <class T>
DG_HOST_DEVICE void adam_update(T& param, T grad, T& exp_avg, T& exp_avg_sq,
                                const AdamCoefficients<T>& k) {
  exp_avg = exp_avg * k.beta1 + grad * k.one_minus_beta1;
  exp_avg_sq = exp_avg_sq * k.beta2 + (grad * k.one_minus_beta2) * grad;
  param = param + (exp_avg * k.minus_step_size) / (std::sqrt(exp_avg_sq) / k.correction + k.eps);
}

// ---- cross-entropy's target distribution (Backend::cross_entropy) ----
// At one position, T_c = on_target [c == target] + smooth w_c, summing to `total`; all zero at an
// ignored position. weight_of_target is w[target] (1 without class weights), weight_sum is
// sum_c w_c (C without).
struct TargetMass {
  double on_target = 0, smooth = 0, total = 0;
};

DG_HOST_DEVICE inline TargetMass target_mass(bool ignored, double weight_of_target,
                                             double smoothing, int64_t classes,
                                             double weight_sum) {
  TargetMass m;
  if (ignored) return m;
  m.on_target = (1.0 - smoothing) * weight_of_target;
  m.smooth = smoothing / static_cast<double>(classes);
  m.total = m.on_target + m.smooth * weight_sum;
  return m;
}

}  // namespace dg::math
