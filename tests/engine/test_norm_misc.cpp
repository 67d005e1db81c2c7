// Tests of the normalisation and other functional layers (engine/ops/norm.cpp, nn_misc.cpp,
// attention.cpp, engine/cpu/norm_kernels.cpp): values and gradients against PyTorch's (the golden
// file tests/reference/norm_golden.txt, written by norm_golden.py), the fused layer_norm and
// batch_norm against the same maths composed from engine ops (values, first-order gradients from
// the kernels, and the create_graph path), running-stat updates, dropout's statistics and
// seeding, the properties of attention masks, and the error messages. Finite-difference checks
// are in gradcheck_cases_norm_misc.cpp.
#include <cmath>
#include <limits>
#include <map>

#include "engine/ops/functional.h"
#include "tests/engine/golden.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::grad_input;
using dg::test::max_abs_diff;
using dg::test::uniform_f32;
using dg::test::uniform_f64;
using dg::test::values;

namespace {

// ---------------------------------------------------------------- the golden file

using Named = std::map<std::string, Tensor>;

// Runs one golden case on dyngrad; `in` holds fresh copies of the inputs (floating ones require
// grad when the case stores their gradient). Returns the named outputs.
Named run_golden(const dg::test::GoldenCase& c, const Named& in) {
  auto opt = [&in](const char* name) { return in.count(name) ? in.at(name) : Tensor(); };
  if (c.op == "layer_norm") {
    return {{"out", layer_norm(in.at("x"), Shape(c.attr_ints("normalized_shape")), opt("weight"),
                               opt("bias"), c.attr_double("eps"))}};
  }
  if (c.op == "batch_norm") {
    Tensor out = batch_norm(in.at("x"), in.at("running_mean"), in.at("running_var"),
                            opt("weight"), opt("bias"), c.attr_bool("training"),
                            c.attr_double("momentum"), c.attr_double("eps"));
    return {{"out", out}, {"running_mean", in.at("running_mean")},
            {"running_var", in.at("running_var")}};
  }
  if (c.op == "linear") return {{"out", linear(in.at("x"), in.at("weight"), opt("bias"))}};
  if (c.op == "embedding") {
    const std::string& pad = c.attr("padding_idx");
    return {{"out", embedding(in.at("indices"), in.at("weight"),
                              pad == "none" ? std::nullopt : std::optional(c.attr_int("padding_idx")))}};
  }
  if (c.op == "attention") {
    // Masks are stored as i64 0/1 (the golden format has no bool dtype).
    AttentionOptions options;
    if (in.count("key_padding_mask")) options.key_padding_mask = ne(in.at("key_padding_mask"), 0.0);
    if (Tensor mask = opt("attn_mask"); mask.defined())
      options.attn_mask = mask.dtype() == DType::i64 ? ne(mask, 0.0) : mask;
    options.causal = c.attr_bool("causal");
    return {{"out", scaled_dot_product_attention(in.at("q"), in.at("k"), in.at("v"), options)}};
  }
  FAIL("no runner for golden op " << c.op);
  return {};
}

// |a - b| <= tol * max(1, |b|) everywhere.
void check_close(const Tensor& got, const Tensor& expected, double tol, const std::string& what) {
  INFO(what << ": got shape " << to_string(got.shape()) << ", expected "
            << to_string(expected.shape()));
  REQUIRE(got.shape() == expected.shape());
  const auto g = values(got), e = values(expected);
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - e[i]) / std::max(1.0, std::abs(e[i])));
  INFO(what << ": max relative difference " << worst);
  CHECK(worst <= tol);
}

// ---------------------------------------------------------------- composed references

// layer_norm written with mean / var / rsqrt, as a user would without the fused op.
Tensor composed_layer_norm(const Tensor& x, int k, const Tensor& w, const Tensor& b, double eps) {
  std::vector<int64_t> dims;
  for (int d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  Tensor y = (x - mean(x, dims, true)) * rsqrt(var(x, dims, 0, true) + eps);
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

// batch_norm in training mode from engine ops (input [N, C, ...], weight/bias [C]).
Tensor composed_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  std::vector<int64_t> dims{0};
  for (int d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape channel = Shape::filled(x.dim(), 1);
  channel[1] = x.shape()[1];
  Tensor y = (x - mean(x, dims, true)) * rsqrt(var(x, dims, 0, true) + eps);
  if (w.defined()) y = y * reshape(w, channel);
  if (b.defined()) y = y + reshape(b, channel);
  return y;
}

// Gradients of sum(f(inputs) * v) with respect to every input, as plain tensors.
std::vector<Tensor> grads_of(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<Tensor>& inputs, const Tensor& v,
                             bool create_graph = false) {
  Tensor out = f(inputs);
  return grad({out}, inputs, {v}, /*retain_graph=*/false, create_graph);
}

Tensor bool_tensor(std::vector<bool> v, const Shape& shape) { return from_vector(v, shape); }

}  // namespace

// ---------------------------------------------------------------- against PyTorch

TEST_CASE("norm/misc golden: values, running stats and gradients match PyTorch", "[reference]") {
  const auto cases = dg::test::read_golden("norm_golden.txt");
  REQUIRE(cases.size() >= 15);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Named in;
      std::vector<Tensor> wrt;
      std::vector<std::string> wrt_names;
      for (const auto& input : c.inputs) {
        Tensor t = input.to_tensor();
        if (c.find(c.grads, input.name)) {
          t.set_requires_grad(true);
          wrt.push_back(t);
          wrt_names.push_back(input.name);
        }
        in[input.name] = t;
      }
      const Named outputs = run_golden(c, in);
      const bool f32 = c.outputs.front().dtype == DType::f32;
      for (const auto& expected : c.outputs)
        check_close(outputs.at(expected.name), expected.to_tensor(), f32 ? 2e-5 : 1e-10,
                    expected.name);
      std::vector<Tensor> outs, projections;
      for (const auto& v : c.projections) {
        outs.push_back(outputs.at(v.name));
        projections.push_back(v.to_tensor());
      }
      const auto got = grad(outs, wrt, projections);
      for (size_t i = 0; i < wrt.size(); ++i)
        check_close(got[i], c.find(c.grads, wrt_names[i])->to_tensor(), f32 ? 1e-4 : 1e-10,
                    "grad " + wrt_names[i]);
    }
  }
}

// ---------------------------------------------------------------- layer_norm

TEST_CASE("layer_norm: the fused op matches the composed one in values and gradients") {
  for (DType dtype : {DType::f64, DType::f32}) {
    const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
    // [3,5,6] over [6] and over [5,6]; with affine, weight only and neither.
    for (int k : {1, 2}) {
      for (int affine : {0, 1, 2}) {
        DYNAMIC_SECTION(dtype_name(dtype) << " k " << k << " affine " << affine) {
          const Shape shape{3, 5, 6};
          Shape normalized = k == 1 ? Shape{6} : Shape{5, 6};
          std::vector<Tensor> in{to_dtype(uniform_f64(shape, 1, -3, 3), dtype)};
          if (affine >= 1) in.push_back(to_dtype(uniform_f64(normalized, 2, 0.5, 1.5), dtype));
          if (affine >= 2) in.push_back(to_dtype(uniform_f64(normalized, 3), dtype));
          for (Tensor& t : in) t.set_requires_grad(true);
          auto param = [&in](size_t i) { return i < in.size() ? in[i] : Tensor(); };
          auto fused = [&](const std::vector<Tensor>& x) {
            return layer_norm(x[0], normalized, param(1).defined() ? x[1] : Tensor(),
                              param(2).defined() ? x[2] : Tensor());
          };
          auto composed = [&](const std::vector<Tensor>& x) {
            return composed_layer_norm(x[0], k, param(1).defined() ? x[1] : Tensor(),
                                       param(2).defined() ? x[2] : Tensor(), 1e-5);
          };
          CHECK(max_abs_diff(fused(in), composed(in)) < tol);
          const Tensor v = to_dtype(uniform_f64(shape, 4), dtype);
          const auto gf = grads_of(fused, in, v), gc = grads_of(composed, in, v);
          for (size_t i = 0; i < in.size(); ++i) CHECK(max_abs_diff(gf[i], gc[i]) < 10 * tol);
        }
      }
    }
  }
}

TEST_CASE("layer_norm: the kernel backward and the create_graph backward agree") {
  std::vector<Tensor> in{grad_input({4, 7}, 5, -2, 2), grad_input({7}, 6), grad_input({7}, 7)};
  auto f = [](const std::vector<Tensor>& x) { return layer_norm(x[0], {7}, x[1], x[2]); };
  const Tensor v = uniform_f64({4, 7}, 8);
  const auto first = grads_of(f, in, v, /*create_graph=*/false);
  const auto differentiable = grads_of(f, in, v, /*create_graph=*/true);
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(!first[i].requires_grad());
    // The bias gradient is sum(v), a constant; the other two depend on the inputs.
    CHECK(differentiable[i].requires_grad() == (i < 2));
    CHECK(max_abs_diff(first[i], differentiable[i]) < 1e-12);
  }
}

TEST_CASE("layer_norm: normalises each row to mean 0 and variance 1; strided input") {
  // A transposed (non-contiguous) input gives the same result as its contiguous copy.
  const Tensor base = uniform_f64({6, 4}, 9, -5, 5);
  const Tensor x = transpose(base, 0, 1);  // [4, 6], strided
  const Tensor y = layer_norm(x, {6});
  CHECK(max_abs_diff(y, layer_norm(contiguous(x), {6})) == 0.0);
  CHECK(max_abs_diff(mean(y, {1}), zeros({4}, DType::f64)) < 1e-12);
  // var = 1 - eps / (var + eps) ≈ 1 with eps = 1e-5.
  CHECK(max_abs_diff(var(y, {1}, 0), ones({4}, DType::f64)) < 1e-4);
  // A constant row normalises to 0 (the variance is 0; eps keeps it finite).
  CHECK(values(layer_norm(full({2, 3}, 7.0, DType::f64), {3})) == std::vector<double>(6, 0.0));
}

TEST_CASE("layer_norm: rows long and many enough for the parallel paths") {
  // 48 rows x 1000: the forward splits rows over threads, the backward sums dw/db per thread.
  std::vector<Tensor> in{grad_input({48, 1000}, 10, -3, 3), grad_input({1000}, 11),
                         grad_input({1000}, 12)};
  auto fused = [](const std::vector<Tensor>& x) { return layer_norm(x[0], {1000}, x[1], x[2]); };
  auto composed = [](const std::vector<Tensor>& x) {
    return composed_layer_norm(x[0], 1, x[1], x[2], 1e-5);
  };
  CHECK(max_abs_diff(fused(in), composed(in)) < 1e-12);
  const Tensor v = uniform_f64({48, 1000}, 13);
  const auto gf = grads_of(fused, in, v), gc = grads_of(composed, in, v);
  for (size_t i = 0; i < in.size(); ++i) CHECK(max_abs_diff(gf[i], gc[i]) < 1e-10);
}

TEST_CASE("layer_norm: errors name the shapes") {
  const Tensor x = zeros({2, 3, 4});
  CHECK_THROWS_WITH(layer_norm(x, {5}),
                    Catch::Contains("layer_norm: normalized_shape [5] does not match the last dims "
                                    "of input [2,3,4]"));
  CHECK_THROWS_WITH(layer_norm(x, {2, 3}), Catch::Contains("normalized_shape [2,3] does not match"));
  CHECK_THROWS_WITH(layer_norm(x, {1, 2, 3, 4}), Catch::Contains("does not match the last dims"));
  CHECK_THROWS_WITH(layer_norm(x, {}), Catch::Contains("layer_norm: normalized_shape is empty"));
  CHECK_THROWS_WITH(layer_norm(x, {4}, zeros({3})),
                    Catch::Contains("layer_norm: weight of shape [3] does not match "
                                    "normalized_shape [4]"));
  CHECK_THROWS_WITH(layer_norm(x, {4}, Tensor(), zeros({4}, DType::f64)),
                    Catch::Contains("layer_norm: dtype mismatch"));
  CHECK_THROWS_WITH(layer_norm(zeros({2, 3}, DType::i64), {3}),
                    Catch::Contains("layer_norm: expected a floating tensor"));
}

// ---------------------------------------------------------------- batch_norm

TEST_CASE("batch_norm: training matches the composed op; running stats use the unbiased variance") {
  for (const Shape& shape : {Shape{4, 3, 2, 5}, Shape{6, 4}, Shape{3, 2, 7}}) {
    DYNAMIC_SECTION("input " << to_string(shape)) {
      const int64_t C = shape[1];
      std::vector<Tensor> in{grad_input(shape, 20, -2, 3), grad_input({C}, 21, 0.5, 1.5),
                             grad_input({C}, 22)};
      Tensor running_mean = zeros({C}, DType::f64), running_var = ones({C}, DType::f64);
      auto fused = [&](const std::vector<Tensor>& x) {
        return batch_norm(x[0], running_mean, running_var, x[1], x[2], true, 0.25);
      };
      auto composed = [](const std::vector<Tensor>& x) {
        return composed_batch_norm(x[0], x[1], x[2], 1e-5);
      };
      CHECK(max_abs_diff(fused(in), composed(in)) < 1e-12);
      // One call: running = 0.75 * initial + 0.25 * batch statistic.
      std::vector<int64_t> dims{0};
      for (int d = 2; d < in[0].dim(); ++d) dims.push_back(d);
      NoGradGuard no_grad;
      const Tensor x = in[0].detach();
      CHECK(max_abs_diff(running_mean, mean(x, dims) * 0.25) < 1e-12);
      CHECK(max_abs_diff(running_var, var(x, dims, 1) * 0.25 + 0.75) < 1e-12);
      EnableGradGuard grad_on;
      const Tensor v = uniform_f64(shape, 23);
      const auto gf = grads_of(fused, in, v), gc = grads_of(composed, in, v);
      for (size_t i = 0; i < in.size(); ++i) CHECK(max_abs_diff(gf[i], gc[i]) < 1e-10);
    }
  }
}

TEST_CASE("batch_norm: eval mode uses the running statistics and leaves them alone") {
  const Tensor x = uniform_f64({3, 2, 4}, 30, -2, 2);
  const Tensor rm = tensor_f64({0.5, -1.0}), rv = tensor_f64({4.0, 0.25});
  const Tensor w = tensor_f64({2.0, 3.0}), b = tensor_f64({0.1, -0.2});
  const uint64_t version = rm.version();
  const Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/false);
  const Tensor expected = (x - reshape(rm, {1, 2, 1})) / sqrt(reshape(rv, {1, 2, 1}) + 1e-5) *
                              reshape(w, {1, 2, 1}) + reshape(b, {1, 2, 1});
  CHECK(max_abs_diff(y, expected) < 1e-12);
  CHECK(values(rm) == std::vector<double>{0.5, -1.0});
  CHECK(rm.version() == version);
}

TEST_CASE("batch_norm: running stats are updated in place and a saved graph still works") {
  Tensor rm = zeros({3}, DType::f64), rv = ones({3}, DType::f64);
  const uint64_t version = rm.version();
  Tensor x = grad_input({5, 3}, 31);
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true);
  CHECK(rm.version() > version);
  CHECK(!rm.requires_grad());
  // A second training step moves the running stats again; the first graph is unaffected.
  batch_norm(grad_input({5, 3}, 32), rm, rv, Tensor(), Tensor(), true);
  sum(y * y).backward();
  CHECK(x.grad().defined());
}

TEST_CASE("batch_norm: eval-mode gradients and the create_graph path agree with the kernels") {
  const Tensor rm = tensor_f64({0.2, -0.3, 0.1}), rv = tensor_f64({1.5, 0.5, 2.0});
  for (bool training : {true, false}) {
    DYNAMIC_SECTION((training ? "training" : "eval")) {
      std::vector<Tensor> in{grad_input({4, 3, 5}, 33, -2, 2), grad_input({3}, 34),
                             grad_input({3}, 35)};
      auto f = [&](const std::vector<Tensor>& x) {
        return batch_norm(x[0], training ? Tensor() : rm, training ? Tensor() : rv, x[1], x[2],
                          training);
      };
      const Tensor v = uniform_f64({4, 3, 5}, 36);
      const auto first = grads_of(f, in, v, false), second = grads_of(f, in, v, true);
      for (size_t i = 0; i < in.size(); ++i) {
        CHECK(second[i].requires_grad() == (i < 2));  // the bias gradient is a constant
        CHECK(max_abs_diff(first[i], second[i]) < 1e-12);
      }
      if (!training) {  // dx = dy * w / sqrt(rv + eps), channel by channel
        const Tensor expected = v * reshape(in[1].detach() / sqrt(rv + 1e-5), {1, 3, 1});
        CHECK(max_abs_diff(first[0], expected) < 1e-12);
      }
    }
  }
}

TEST_CASE("batch_norm: a batch large enough for the parallel paths, in f32") {
  const Shape shape{16, 8, 16, 16};  // 32768 elements: channels split over threads
  std::vector<Tensor> in{to_dtype(uniform_f64(shape, 40, -1, 4), DType::f32),
                         to_dtype(uniform_f64({8}, 41, 0.5, 1.5), DType::f32),
                         to_dtype(uniform_f64({8}, 42), DType::f32)};
  for (Tensor& t : in) t.set_requires_grad(true);
  auto fused = [](const std::vector<Tensor>& x) {
    return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true);
  };
  auto composed = [](const std::vector<Tensor>& x) { return composed_batch_norm(x[0], x[1], x[2], 1e-5); };
  CHECK(max_abs_diff(fused(in), composed(in)) < 1e-5);
  const Tensor v = uniform_f32(shape, 43);
  const auto gf = grads_of(fused, in, v), gc = grads_of(composed, in, v);
  CHECK(max_abs_diff(gf[0], gc[0]) < 1e-5);
  CHECK(max_abs_diff(gf[1], gc[1]) < 2e-2);  // sums over 4096 float products per channel
  CHECK(max_abs_diff(gf[2], gc[2]) < 2e-2);
}

TEST_CASE("batch_norm: errors name the shapes") {
  const Tensor x = zeros({4, 3, 2});
  CHECK_THROWS_WITH(batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    Catch::Contains("batch_norm: expected input [N, C, ...] with at least 2 dims, got [4]"));
  CHECK_THROWS_WITH(batch_norm(x, Tensor(), Tensor(), zeros({4}), Tensor(), true),
                    Catch::Contains("batch_norm: weight of shape [4] does not match the channels "
                                    "of input [3]"));
  CHECK_THROWS_WITH(batch_norm(x, zeros({3}), Tensor(), Tensor(), Tensor(), true),
                    Catch::Contains("give both running_mean and running_var"));
  CHECK_THROWS_WITH(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
                    Catch::Contains("eval mode"));
  CHECK_THROWS_WITH(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    Catch::Contains("expected more than 1 value per channel when training"));
}

// ---------------------------------------------------------------- linear

TEST_CASE("linear: input @ weight^T + bias over any leading dims") {
  const Tensor x = uniform_f64({2, 3, 4}, 50), w = uniform_f64({5, 4}, 51), b = uniform_f64({5}, 52);
  const Tensor y = linear(x, w, b);
  CHECK(y.shape() == Shape{2, 3, 5});
  CHECK(max_abs_diff(y, matmul(x, transpose(w, 0, 1)) + b) < 1e-14);
  CHECK(linear(uniform_f64({4}, 53), w).shape() == Shape{5});
  CHECK(linear(uniform_f64({0, 4}, 54), w, b).shape() == Shape{0, 5});
}

TEST_CASE("linear: errors name the shapes") {
  const Tensor w = zeros({5, 4});
  CHECK_THROWS_WITH(linear(zeros({2, 3}), w),
                    Catch::Contains("linear: input [2,3] has 3 features in its last dim but "
                                    "weight [5,4] expects 4"));
  CHECK_THROWS_WITH(linear(zeros({2, 4}), zeros({4})),
                    Catch::Contains("linear: weight must be 2-D"));
  CHECK_THROWS_WITH(linear(zeros({2, 4}), w, zeros({4})),
                    Catch::Contains("linear: bias of shape [4] does not match the 5 outputs"));
}

// ---------------------------------------------------------------- dropout

TEST_CASE("dropout: the same seed gives the same mask; survivors are scaled by 1/(1-p)") {
  const Tensor x = ones({1000});
  Generator g1(123), g2(123), g3(124);
  const Tensor a = dropout(x, 0.4, true, &g1), b = dropout(x, 0.4, true, &g2);
  const Tensor c = dropout(x, 0.4, true, &g3);
  CHECK(values(a) == values(b));
  CHECK(values(a) != values(c));
  for (double v : values(a)) CHECK((v == 0.0 || v == Approx(1.0 / 0.6).epsilon(1e-7)));
  // Manual seeding of the default generator also reproduces.
  manual_seed(7);
  const Tensor d = dropout(x, 0.4, true);
  manual_seed(7);
  CHECK(values(dropout(x, 0.4, true)) == values(d));
}

TEST_CASE("dropout: the kept fraction is near 1 - p on a large tensor") {
  Generator g(2024);
  for (double p : {0.1, 0.5, 0.8}) {
    const Tensor y = dropout(ones({200000}, DType::f64), p, true, &g);
    const double kept = sum(ne(y, 0.0)).item<double>() / 200000.0;
    INFO("p = " << p << ", kept " << kept);
    // The standard deviation of the fraction is at most 0.0012; allow 5 of them.
    CHECK(std::abs(kept - (1.0 - p)) < 0.006);
    // The mean is preserved in expectation.
    CHECK(std::abs(mean(y).item<double>() - 1.0) < 0.03);
  }
}

TEST_CASE("dropout: identity in eval or with p = 0, zeros with p = 1, gradient is the mask") {
  const Tensor x = grad_input({3, 4}, 60);
  CHECK(dropout(x, 0.5, false).same(x));
  CHECK(dropout(x, 0.0, true).same(x));
  const Tensor zero = dropout(x, 1.0, true);
  CHECK(values(zero) == std::vector<double>(12, 0.0));
  Generator g(5);
  const Tensor y = dropout(x, 0.25, true, &g);
  const Tensor gx = grad({y}, {x}, {ones_like(y)})[0];
  // Where an element survived, y = x / 0.75 and its gradient is 1 / 0.75; elsewhere both are 0.
  const auto yv = values(y), xv = values(x.detach()), gv = values(gx);
  for (size_t i = 0; i < yv.size(); ++i) {
    if (yv[i] == 0.0) {
      CHECK(gv[i] == 0.0);
    } else {
      CHECK(yv[i] == Approx(xv[i] / 0.75));
      CHECK(gv[i] == Approx(1.0 / 0.75));
    }
  }
  CHECK_THROWS_WITH(dropout(x, 1.5, true), Catch::Contains("dropout: probability p must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(dropout(x, -0.1, false), Catch::Contains("dropout: probability p must be in [0, 1]"));
}

// ---------------------------------------------------------------- embedding

TEST_CASE("embedding: rows by index; the padding row gets no gradient") {
  const Tensor w = grad_input({5, 3}, 70);
  const Tensor idx = tensor_i64({1, 0, 1, 4, 2, 1}, {2, 3});
  const Tensor out = embedding(idx, w, 1);
  REQUIRE(out.shape() == Shape{2, 3, 3});
  CHECK(max_abs_diff(out, reshape(index_select(w, 0, reshape(idx, {-1})), {2, 3, 3})) == 0.0);
  const Tensor gw = grad({out}, {w}, {ones_like(out)})[0];
  // Row counts: 0 appears once, 1 (padding) three times, 2 once, 3 never, 4 once.
  CHECK(values(gw) == std::vector<double>{1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1});
  // Without padding_idx, row 1 collects its three uses.
  const Tensor out2 = embedding(idx, w);
  CHECK(values(grad({out2}, {w}, {ones_like(out2)})[0])[3] == 3.0);
  // A negative padding_idx counts from the end.
  const Tensor out3 = embedding(idx, w, -1);
  CHECK(values(grad({out3}, {w}, {ones_like(out3)})[0])[12] == 0.0);
}

TEST_CASE("embedding: errors") {
  const Tensor w = zeros({4, 2});
  CHECK_THROWS_WITH(embedding(tensor_i64({0, 4}), w),
                    Catch::Contains("embedding: index 4 is out of range for 4 embeddings (weight [4,2])"));
  CHECK_THROWS_WITH(embedding(tensor_i64({-1}), w), Catch::Contains("negative indices are not supported"));
  CHECK_THROWS_WITH(embedding(tensor({0, 1}), w),
                    Catch::Contains("embedding: indices of shape [2] have dtype f32, expected i64"));
  CHECK_THROWS_WITH(embedding(tensor_i64({0}), w, 4),
                    Catch::Contains("embedding: padding_idx 4 is out of range for 4 embeddings"));
  CHECK_THROWS_WITH(embedding(tensor_i64({0}), zeros({4})), Catch::Contains("weight must be 2-D"));
  // The order of the arguments is PyTorch's; the old (weight, indices) order is refused by name.
  CHECK_THROWS_WITH(embedding(w, tensor_i64({0})),
                    Catch::Contains("embedding: takes (indices, weight) in that order"));
}

// ---------------------------------------------------------------- attention

TEST_CASE("attention: a padded key gets exactly zero weight and cannot change the output") {
  const Tensor q = uniform_f64({2, 2, 3, 4}, 80, -2, 2);
  Tensor k = uniform_f64({2, 2, 5, 4}, 81, -2, 2), v = uniform_f64({2, 2, 5, 4}, 82);
  AttentionOptions options;
  // Batch 0 pads keys 3 and 4; batch 1 pads key 1 (padding need not be at the end).
  options.key_padding_mask = bool_tensor({0, 0, 0, 1, 1, 0, 1, 0, 0, 0}, {2, 5});
  const Tensor out = scaled_dot_product_attention(q, k, v, options);
  // Same as attending only over the kept keys of batch 0.
  const Tensor kept = scaled_dot_product_attention(narrow(q, 0, 0, 1), narrow(narrow(k, 0, 0, 1), 2, 0, 3),
                                                   narrow(narrow(v, 0, 0, 1), 2, 0, 3));
  CHECK(max_abs_diff(narrow(out, 0, 0, 1), kept) < 1e-14);
  // Wild values at the padded positions change nothing, bit for bit.
  Tensor k2 = clone(k), v2 = clone(v);
  narrow(narrow(k2, 0, 0, 1), 2, 3, 2).fill_(1e6);
  narrow(narrow(v2, 0, 0, 1), 2, 3, 2).fill_(-1e6);
  narrow(narrow(k2, 0, 1, 1), 2, 1, 1).fill_(50.0);
  narrow(narrow(v2, 0, 1, 1), 2, 1, 1).fill_(1e9);
  CHECK(values(scaled_dot_product_attention(q, k2, v2, options)) == values(out));
  // Padded keys and values receive exactly zero gradient.
  k.set_requires_grad(true);
  v.set_requires_grad(true);
  const Tensor y = scaled_dot_product_attention(q, k, v, options);
  const auto g = grad({y}, {k, v}, {uniform_f64(y.shape(), 83)});
  for (const Tensor& gi : g) {
    CHECK(values(narrow(narrow(gi, 0, 0, 1), 2, 3, 2)) == std::vector<double>(16, 0.0));
    CHECK(values(narrow(narrow(gi, 0, 1, 1), 2, 1, 1)) == std::vector<double>(8, 0.0));
  }
}

TEST_CASE("attention: causal masking, bool masks and fully masked rows") {
  const Tensor q = uniform_f64({1, 1, 4, 3}, 90), k = uniform_f64({1, 1, 4, 3}, 91);
  const Tensor v = uniform_f64({1, 1, 4, 3}, 92);
  AttentionOptions causal;
  causal.causal = true;
  const Tensor out = scaled_dot_product_attention(q, k, v, causal);
  // Query 0 sees only key 0, so its output is v[0] exactly.
  CHECK(max_abs_diff(narrow(out, 2, 0, 1), narrow(v, 2, 0, 1)) < 1e-15);
  // A bool attn_mask with the same upper triangle gives the same result.
  AttentionOptions as_mask;
  as_mask.attn_mask = bool_tensor({0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0}, {4, 4});
  CHECK(values(scaled_dot_product_attention(q, k, v, as_mask)) == values(out));
  // An additive float mask of -inf is the same again.
  AttentionOptions additive;
  additive.attn_mask = where(as_mask.attn_mask, -std::numeric_limits<double>::infinity(), zeros({4, 4}, DType::f64));
  CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v, additive), out) < 1e-15);
  // A query whose keys are all masked gets zeros (and a zero gradient), not NaN.
  AttentionOptions all_masked;
  all_masked.attn_mask = bool_tensor({1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {4, 4});
  const Tensor qg = clone(q).set_requires_grad(true);
  const Tensor y = scaled_dot_product_attention(qg, k, v, all_masked);
  CHECK(values(narrow(y, 2, 0, 1)) == std::vector<double>(3, 0.0));
  const Tensor gq = grad({y}, {qg}, {ones_like(y)})[0];
  for (double g : values(gq)) CHECK(std::isfinite(g));
  CHECK(values(narrow(gq, 2, 0, 1)) == std::vector<double>(3, 0.0));
}

TEST_CASE("attention: dropout on the weights is seeded and off in eval") {
  const Tensor q = uniform_f64({1, 2, 3, 4}, 93), k = uniform_f64({1, 2, 5, 4}, 94);
  const Tensor v = uniform_f64({1, 2, 5, 4}, 95);
  Generator g1(1), g2(1);
  AttentionOptions o;
  o.dropout_p = 0.5;
  o.training = true;
  o.generator = &g1;
  const Tensor a = scaled_dot_product_attention(q, k, v, o);
  o.generator = &g2;
  CHECK(values(scaled_dot_product_attention(q, k, v, o)) == values(a));
  CHECK(max_abs_diff(a, scaled_dot_product_attention(q, k, v)) > 1e-3);
  o.training = false;
  CHECK(values(scaled_dot_product_attention(q, k, v, o)) == values(scaled_dot_product_attention(q, k, v)));
}

TEST_CASE("attention: errors name the shapes") {
  const Tensor q = zeros({2, 2, 3, 4}), k = zeros({2, 2, 5, 4}), v = zeros({2, 2, 5, 4});
  CHECK_THROWS_WITH(scaled_dot_product_attention(zeros({2, 3, 4}), k, v),
                    Catch::Contains("expected q, k and v of rank 4 [B, H, L, D], got q [2,3,4]"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, zeros({2, 2, 5, 3}), v),
                    Catch::Contains("q [2,2,3,4] and k [2,2,5,3] have different head dims"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, zeros({2, 2, 4, 4})),
                    Catch::Contains("k [2,2,5,4] and v [2,2,4,4] have different sequence lengths"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, zeros({1, 2, 5, 4}), v),
                    Catch::Contains("batch and head dims differ"));
  AttentionOptions bad_padding;
  bad_padding.key_padding_mask = zeros({2, 4}, DType::b8);
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, bad_padding),
                    Catch::Contains("key_padding_mask of shape [2,4] should be [B, Lk] = [2,5]"));
  bad_padding.key_padding_mask = zeros({2, 5});
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, bad_padding),
                    Catch::Contains("key_padding_mask of shape [2,5] has dtype f32, expected bool"));
  AttentionOptions bad_mask;
  bad_mask.attn_mask = zeros({5, 3}, DType::b8);
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, bad_mask),
                    Catch::Contains("attn_mask of shape [5,3] does not broadcast to the scores [B, H, Lq, Lk] = [2,2,3,5]"));
  AttentionOptions bad_p;
  bad_p.dropout_p = 2.0;
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, bad_p), Catch::Contains("dropout_p must be in [0, 1]"));
}
