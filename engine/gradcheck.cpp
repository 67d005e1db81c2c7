// gradcheck and gradgradcheck: see gradcheck.h. Inputs may live on any device (the CUDA backend's
// tests run the gradient checks on the GPU): the projection vector is made on the output's device,
// and an input off the CPU is perturbed one element at a time through its backend's host copies.
#include "engine/gradcheck.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "engine/transfer.h"

namespace dg {

namespace {

// A fixed, non-uniform projection vector for an output shape (so no gradient can cancel out).
Tensor projection(const Shape& shape, uint64_t seed) {
  const int64_t n = numel(shape);
  std::vector<double> v(n);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (int64_t i = 0; i < n; ++i) {
    state ^= state >> 33;
    state *= 0xFF51AFD7ED558CCDull;
    state ^= state >> 29;
    v[i] = 0.5 + static_cast<double>(state % 1000) / 1000.0;  // in [0.5, 1.5)
  }
  return from_vector(v, shape);
}

Tensor projection_on(const Tensor& out, uint64_t seed) {
  return copy_to_device(projection(out.shape(), seed), out.device());
}

double projected(const DifferentiableFn& f, const std::vector<Tensor>& inputs, const Tensor& v) {
  NoGradGuard no_grad;
  Tensor out = f(inputs);
  check(out.dtype() == DType::f64, "gradcheck: the function must return f64, got {}", out.dtype());
  return sum(out * v).item<double>();
}

}  // namespace

namespace {

// With allow_constant, an output that does not depend on the inputs is checked against a zero
// gradient (the second derivative of a linear function) instead of being an error.
GradcheckResult check_gradients(const DifferentiableFn& f, const std::vector<Tensor>& inputs_in,
                                const GradcheckOptions& options, bool allow_constant) {
  // Fresh leaves so the check neither sees nor leaves gradients on the caller's tensors.
  std::vector<Tensor> inputs;
  for (const Tensor& t : inputs_in) {
    if (t.defined() && t.requires_grad()) {
      check(t.dtype() == DType::f64, "gradcheck: inputs requiring grad must be f64, got {} on {}",
            t.dtype(), t.device());
      inputs.push_back(t.detach().clone().set_requires_grad(true));
    } else {
      inputs.push_back(t);
    }
  }
  Tensor out = f(inputs);
  check(out.dtype() == DType::f64, "gradcheck: the function must return f64, got {}", out.dtype());
  const Tensor v = projection_on(out, options.seed);
  std::vector<Tensor> wrt;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) wrt.push_back(t);
  check(!wrt.empty(), "gradcheck: no input requires grad");
  check(allow_constant || out.requires_grad(),
        "gradcheck: the output does not depend on any input requiring grad");
  std::vector<Tensor> analytical(wrt.size());
  if (out.requires_grad()) analytical = grad({sum(out * v)}, wrt, {}, false, false, true);

  GradcheckResult result;
  size_t wi = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    Tensor x = inputs[i];
    Tensor a = analytical[wi].defined() ? analytical[wi].contiguous() : zeros_like(x);
    ++wi;
    double* p = static_cast<double*>(x.raw_data());  // x is a contiguous clone
    auto set = [&](int64_t k, double value) {
      if (x.device().is_cpu()) p[k] = value;
      else backend(x.device()).copy_from_host(p + k, &value, sizeof(double));
    };
    const std::vector<double> ag = a.to_vector<double>(), xs = x.to_vector<double>();
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double saved = xs[k];
      set(k, saved + options.eps);
      const double plus = projected(f, inputs, v);
      set(k, saved - options.eps);
      const double minus = projected(f, inputs, v);
      set(k, saved);
      const double numeric = (plus - minus) / (2 * options.eps);
      const double err = std::abs(numeric - ag[k]);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (!(err <= options.atol + options.rtol * std::abs(numeric)) && result.ok) {
        result.ok = false;
        result.message = fmt::format(
            "input {} (shape {}) element {}: analytical {:.10g} vs numerical {:.10g} (error {:.3g})",
            i, x.shape(), k, ag[k], numeric, err);
      }
    }
  }
  if (result.ok) result.message = fmt::format("max abs error {:.3g}", result.max_abs_error);
  return result;
}

}  // namespace

GradcheckResult gradcheck(const DifferentiableFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  return check_gradients(f, inputs, options, /*allow_constant=*/false);
}

GradcheckResult gradgradcheck(const DifferentiableFn& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options) {
  // g(x) = sum over inputs of <dL/dx_i, w_i>, with L = sum(v * f(x)); its gradient needs the
  // second derivative of f.
  DifferentiableFn first_order = [&](const std::vector<Tensor>& xs) {
    EnableGradGuard enable;
    Tensor out = f(xs);
    const Tensor v = projection_on(out, options.seed + 1);
    std::vector<Tensor> wrt;
    for (const Tensor& t : xs)
      if (t.defined() && t.requires_grad()) wrt.push_back(t);
    std::vector<Tensor> g = grad({sum(out * v)}, wrt, {}, true, true, true);
    Tensor total = zeros({}, DType::f64, out.device());
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i].defined()) total = total + sum(g[i] * projection_on(g[i], options.seed + 2 + i));
    return total;
  };
  return check_gradients(first_order, inputs, options, /*allow_constant=*/true);
}

}  // namespace dg
