// Gradient checks for the elementwise and activation ops, one line per case.
#include "tests/engine/gradcheck_registry.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

using Inputs = std::vector<Tensor>;

// Inputs of the given shapes, values in [lo, hi).
std::function<Inputs()> in(std::vector<Shape> shapes, double lo = -1.0, double hi = 1.0) {
  return [shapes, lo, hi] {
    Inputs xs;
    for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(grad_input(shapes[i], 100 + i, lo, hi));
    return xs;
  };
}

// Values bounded away from zero (for abs/sign-like kinks and divisions).
std::function<Inputs()> away_from_zero(std::vector<Shape> shapes) {
  return [shapes] {
    Inputs xs;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor v = uniform_f64(shapes[i], 200 + i, 0.2, 1.5);
      Tensor s = uniform_f64(shapes[i], 300 + i, -1.0, 1.0);
      xs.push_back((where(lt(s, 0.0), neg(v), v)).detach().set_requires_grad(true));
    }
    return xs;
  };
}

RegisterGradcheck add_same_shape{{OpId::add, "add same shape", in({{3, 4}, {3, 4}}), [](auto& x) { return x[0] + x[1]; }}};
RegisterGradcheck add_broadcast_3_1_4_2_4{{OpId::add, "add broadcast [3,1,4] + [2,4]", in({{3, 1, 4}, {2, 4}}), [](auto& x) { return x[0] + x[1]; }}};
RegisterGradcheck add_scalar_tensor{{OpId::add, "add scalar tensor", in({{3}, {}}), [](auto& x) { return x[0] + x[1]; }}};
RegisterGradcheck sub_broadcast_4_3_1{{OpId::sub, "sub broadcast [4] - [3,1]", in({{4}, {3, 1}}), [](auto& x) { return x[0] - x[1]; }}};
RegisterGradcheck mul_broadcast_2_3_3{{OpId::mul, "mul broadcast [2,3] * [3]", in({{2, 3}, {3}}), [](auto& x) { return x[0] * x[1]; }, true}};
RegisterGradcheck mul_with_itself{{OpId::mul, "mul with itself", in({{5}}), [](auto& x) { return x[0] * x[0]; }, true}};
RegisterGradcheck div_broadcast_3_1_1_4{{OpId::div, "div broadcast [3,1] / [1,4]", in({{3, 1}, {1, 4}}, 0.5, 2.0), [](auto& x) { return x[0] / x[1]; }, true}};
RegisterGradcheck pow_tensor_exponent{{OpId::pow, "pow tensor exponent", in({{2, 3}, {2, 3}}, 0.5, 2.0), [](auto& x) { return pow(x[0], x[1]); }, true}};
RegisterGradcheck pow_broadcast_exponent_3{{OpId::pow, "pow broadcast exponent [3]", in({{2, 3}, {3}}, 0.5, 2.0), [](auto& x) { return pow(x[0], x[1]); }}};
RegisterGradcheck pow_x_3{{OpId::pow_scalar, "pow x^3", in({{4}}), [](auto& x) { return pow(x[0], 3.0); }, true}};
RegisterGradcheck pow_x_1_5{{OpId::pow_scalar, "pow x^-1.5", in({{4}}, 0.5, 2.0), [](auto& x) { return pow(x[0], -1.5); }}};
RegisterGradcheck maximum_broadcast{{OpId::maximum, "maximum broadcast", away_from_zero({{3, 4}, {4}}), [](auto& x) { return maximum(x[0], x[1]); }}};
RegisterGradcheck minimum_case{{OpId::minimum, "minimum", away_from_zero({{3, 4}, {3, 4}}), [](auto& x) { return minimum(x[0], x[1]); }}};
RegisterGradcheck neg_case{{OpId::neg, "neg", in({{3}}), [](auto& x) { return neg(x[0]); }}};
RegisterGradcheck exp_case{{OpId::exp, "exp", in({{2, 3}}), [](auto& x) { return exp(x[0]); }, true}};
RegisterGradcheck log_case{{OpId::log, "log", in({{2, 3}}, 0.2, 3.0), [](auto& x) { return log(x[0]); }, true}};
RegisterGradcheck log1p_case{{OpId::log1p, "log1p", in({{5}}, -0.5, 2.0), [](auto& x) { return log1p(x[0]); }}};
RegisterGradcheck sqrt_case{{OpId::sqrt, "sqrt", in({{5}}, 0.2, 3.0), [](auto& x) { return sqrt(x[0]); }, true}};
RegisterGradcheck rsqrt_case{{OpId::rsqrt, "rsqrt", in({{5}}, 0.2, 3.0), [](auto& x) { return rsqrt(x[0]); }, true}};
RegisterGradcheck abs_case{{OpId::abs, "abs", away_from_zero({{6}}), [](auto& x) { return abs(x[0]); }}};
RegisterGradcheck sin_case{{OpId::sin, "sin", in({{5}}, -3.0, 3.0), [](auto& x) { return sin(x[0]); }, true}};
RegisterGradcheck cos_case{{OpId::cos, "cos", in({{5}}, -3.0, 3.0), [](auto& x) { return cos(x[0]); }, true}};
RegisterGradcheck erf_case{{OpId::erf, "erf", in({{5}}, -2.0, 2.0), [](auto& x) { return erf(x[0]); }, true}};
RegisterGradcheck clamp_both_sides{{OpId::clamp, "clamp both sides", in({{8}}, -2.0, 2.0), [](auto& x) { return clamp(x[0], -0.7, 0.9); }}};
RegisterGradcheck clamp_below_only{{OpId::clamp, "clamp below only", in({{8}}, -2.0, 2.0), [](auto& x) { return clamp(x[0], 0.1, std::nullopt); }}};
RegisterGradcheck where_broadcast{{OpId::where, "where broadcast", in({{3, 4}, {4}}), [](auto& x) {
  return where(gt(uniform_f64({3, 1}, 7), 0.0), x[0], x[1]); }, true}};
RegisterGradcheck to_f32_and_back{{OpId::to_dtype, "to f32 and back", in({{4}}), [](auto& x) {
  return to_dtype(to_dtype(x[0], DType::f32) * 2.0, DType::f64); }, false, {1e-3, 1e-4, 1e-3}}};
// ---- activations ----
RegisterGradcheck tanh_case{{OpId::tanh, "tanh", in({{2, 3}}, -2.0, 2.0), [](auto& x) { return tanh(x[0]); }, true}};
RegisterGradcheck sigmoid_case{{OpId::sigmoid, "sigmoid", in({{2, 3}}, -3.0, 3.0), [](auto& x) { return sigmoid(x[0]); }, true}};
RegisterGradcheck relu_case{{OpId::relu, "relu", away_from_zero({{8}}), [](auto& x) { return relu(x[0]); }}};
RegisterGradcheck leaky_relu_0_1{{OpId::leaky_relu, "leaky_relu 0.1", away_from_zero({{8}}), [](auto& x) { return leaky_relu(x[0], 0.1); }}};
RegisterGradcheck gelu_exact{{OpId::gelu, "gelu exact", in({{7}}, -3.0, 3.0), [](auto& x) { return gelu(x[0]); }, true}};
RegisterGradcheck gelu_tanh{{OpId::gelu, "gelu tanh", in({{7}}, -3.0, 3.0), [](auto& x) { return gelu(x[0], GeluApprox::tanh); }, true}};
RegisterGradcheck silu_case{{OpId::silu, "silu", in({{7}}, -3.0, 3.0), [](auto& x) { return silu(x[0]); }, true}};
RegisterGradcheck softplus_beta_2{{OpId::softplus, "softplus beta 2", in({{7}}, -3.0, 3.0), [](auto& x) { return softplus(x[0], 2.0, 20.0); }, true}};
RegisterGradcheck softplus_above_threshold{{OpId::softplus, "softplus above threshold", in({{4}}, 5.0, 8.0), [](auto& x) { return softplus(x[0], 1.0, 4.0); }}};

}  // namespace
}  // namespace dg::test
