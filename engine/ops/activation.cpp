// Activation functions: tanh, sigmoid, relu, leaky_relu, gelu (exact and tanh approximation), silu
// and softplus. Forward runs one fused kernel; backward is written with engine ops, saving the
// output instead of the input where the derivative allows (tanh, sigmoid, relu); those three also
// have a one-pass backward kernel for when the backward itself is not being differentiated.
#include "engine/ops/op_helpers.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

template <class Backward>
Tensor activation(UnaryOp kernel, OpId id, const Tensor& x, bool save_output, Backward backward,
                  double p0 = 0, double p1 = 0) {
  detail::check_floating(x, op_name(id));
  Tensor out = detail::run_unary(kernel, x, p0, p1);
  if (needs_grad(x)) {
    if (save_output) {
      record(id, out, {x}, {}, std::move(backward), true);
    } else {
      record(id, out, {x}, {x}, std::move(backward));
    }
  }
  return out;
}

// While a backward pass records no graph (the usual case), an activation's gradient is one fused
// pass over (grad, output); under create_graph the composed formula runs, so it can be
// differentiated again.
bool fused_backward() { return !grad_enabled(); }

}  // namespace

Tensor tanh(const Tensor& x) {
  return activation(UnaryOp::tanh, OpId::tanh, x, true, [](const BackwardArgs& a) -> Grads {
    if (fused_backward()) return {detail::run_binary_same_shape(BinaryOp::tanh_grad, a.grad, a.output)};
    return {a.grad * (1.0 - a.output * a.output)};
  });
}

Tensor sigmoid(const Tensor& x) {
  return activation(UnaryOp::sigmoid, OpId::sigmoid, x, true, [](const BackwardArgs& a) -> Grads {
    if (fused_backward())
      return {detail::run_binary_same_shape(BinaryOp::sigmoid_grad, a.grad, a.output)};
    return {a.grad * a.output * (1.0 - a.output)};
  });
}

Tensor relu(const Tensor& x) {
  return activation(UnaryOp::relu, OpId::relu, x, true, [](const BackwardArgs& a) -> Grads {
    if (fused_backward()) return {detail::run_binary_same_shape(BinaryOp::relu_grad, a.grad, a.output)};
    return {where(gt(a.output, 0.0), a.grad, 0.0)};
  });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  return activation(
      UnaryOp::leaky_relu, OpId::leaky_relu, x, false,
      [slope](const BackwardArgs& a) -> Grads {
        return {where(gt(a.saved[0], 0.0), a.grad, a.grad * slope)};
      },
      slope);
}

Tensor gelu(const Tensor& x, GeluApprox approximate) {
  if (approximate == GeluApprox::none) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    return activation(UnaryOp::gelu_erf, OpId::gelu, x, false, [](const BackwardArgs& a) -> Grads {
      const Tensor& v = a.saved[0];
      const double inv_sqrt2 = 0.70710678118654752440, inv_sqrt_2pi = 0.39894228040143267794;
      Tensor cdf = (erf(v * inv_sqrt2) + 1.0) * 0.5;
      Tensor pdf = exp(v * v * -0.5) * inv_sqrt_2pi;
      return {a.grad * (cdf + v * pdf)};
    });
  }
  // y = x/2 (1 + tanh(u)), u = k (x + c x^3): dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)
  return activation(UnaryOp::gelu_tanh, OpId::gelu, x, false, [](const BackwardArgs& a) -> Grads {
    const Tensor& v = a.saved[0];
    const double k = 0.79788456080286535588, c = 0.044715;
    Tensor v2 = v * v;
    Tensor t = tanh((v + v2 * v * c) * k);
    Tensor du = (v2 * (3.0 * c) + 1.0) * k;
    return {a.grad * ((t + 1.0) * 0.5 + v * 0.5 * (1.0 - t * t) * du)};
  });
}

Tensor silu(const Tensor& x) {
  // d/dx [x s(x)] = s (1 + x (1 - s))
  return activation(UnaryOp::silu, OpId::silu, x, false, [](const BackwardArgs& a) -> Grads {
    const Tensor& v = a.saved[0];
    Tensor s = sigmoid(v);
    return {a.grad * s * (v * (1.0 - s) + 1.0)};
  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  check(beta != 0, "softplus: beta must be non-zero");
  return activation(
      UnaryOp::softplus, OpId::softplus, x, false,
      [beta, threshold](const BackwardArgs& a) -> Grads {
        const Tensor& v = a.saved[0];
        Tensor bx = v * beta;
        return {where(gt(bx, threshold), a.grad, a.grad * sigmoid(bx))};
      },
      beta, threshold);
}

}  // namespace dg
