// Tests of the softmax family and the losses (engine/ops/softmax.cpp, engine/ops/loss.cpp,
// engine/cpu/softmax_kernels.cpp): values and gradients of every loss and option combination
// against PyTorch's (tests/reference/loss_golden.txt, written by loss_golden.py beside it); softmax
// rows summing to 1 along every dim, huge logits and masked (-inf) entries; the fused kernels
// against naive loops on inputs big enough to take the parallel and blocked paths; the fused
// backward kernels against the formulas used when a gradient is recorded; the fused cross_entropy
// against the composed log_softmax + nll_loss (+ smoothing); Gumbel-softmax samples (one-hot hard
// samples, straight-through gradients, seeding, argmax frequencies); and the error messages.
// Gradient checks against finite differences are in gradcheck_cases_softmax_loss.cpp.
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "engine/ops/functional.h"
#include "tests/engine/test_util.h"

namespace dg::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// |got - expected| <= tol * max(1, |expected|) elementwise; NaN matches NaN, infinities match
// exactly. One assertion per call, reporting the first mismatch and how many there are.
void check_close(const Tensor& got_t, const Tensor& expected_t, double tol) {
  REQUIRE(got_t.shape() == expected_t.shape());
  const auto got = values(got_t), expected = values(expected_t);
  int64_t mismatches = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], e = expected[i];
    const bool ok = std::isnan(e)   ? std::isnan(g)
                    : std::isinf(e) ? g == e
                                    : std::abs(g - e) <= tol * std::max(1.0, std::abs(e));
    if (!ok && mismatches++ == 0) first = static_cast<int64_t>(i);
  }
  INFO(mismatches << " of " << got.size() << " elements differ; the first is element " << first
                  << ": got " << (first >= 0 ? got[first] : 0.0) << ", expected "
                  << (first >= 0 ? expected[first] : 0.0) << " (tolerance " << tol << ")");
  CHECK(mismatches == 0);
}

// ---------------------------------------------------------------- the PyTorch golden file

struct GoldenTensor {
  Shape shape;
  std::vector<double> values;
};

struct GoldenCase {
  std::string name, op;
  std::map<std::string, std::string> options;
  std::map<std::string, GoldenTensor> tensors;

  bool has(const std::string& key) const { return tensors.count(key) == 1; }
  // (from_vector reads an empty shape as 1-D, hence the reshape for 0-dim tensors.)
  Tensor f64(const std::string& key) const {
    const GoldenTensor& t = tensors.at(key);
    return reshape(from_vector(t.values), t.shape);
  }
  Tensor i64(const std::string& key) const {
    const GoldenTensor& t = tensors.at(key);
    return reshape(from_vector(std::vector<int64_t>(t.values.begin(), t.values.end())), t.shape);
  }
  const std::string& option(const std::string& key) const { return options.at(key); }
};

Shape parse_shape(const std::string& text) {  // "[3,4,5]" or "[]"
  Shape shape;
  std::stringstream in(text.substr(1, text.size() - 2));
  std::string size;
  while (std::getline(in, size, ',')) shape.push_back(std::stoll(size));
  return shape;
}

std::vector<GoldenCase> load_golden() {
  const std::string path = std::string(DG_TEST_DATA_DIR) + "/reference/loss_golden.txt";
  std::ifstream file(path);
  INFO("reading " << path);
  REQUIRE(file.good());
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream in(line);
    std::string key;
    in >> key;
    if (key == "case") {
      cases.emplace_back();
      std::getline(in >> std::ws, cases.back().name);
    } else if (key == "op") {
      in >> cases.back().op;
    } else if (key == "tensor") {
      std::string name, shape;
      in >> name >> shape;
      GoldenTensor t{parse_shape(shape), {}};
      std::string v;
      while (in >> v) t.values.push_back(std::strtod(v.c_str(), nullptr));  // reads nan and inf
      REQUIRE(static_cast<int64_t>(t.values.size()) == numel(t.shape));
      cases.back().tensors[name] = std::move(t);
    } else if (key != "end") {
      in >> cases.back().options[key];
    }
  }
  return cases;
}

Reduction parse_reduction(const std::string& r) {
  if (r == "none") return Reduction::none;
  if (r == "sum") return Reduction::sum;
  REQUIRE(r == "mean");
  return Reduction::mean;
}

KlReduction parse_kl_reduction(const std::string& r) {
  if (r == "batchmean") return KlReduction::batchmean;
  if (r == "none") return KlReduction::none;
  if (r == "sum") return KlReduction::sum;
  REQUIRE(r == "mean");
  return KlReduction::mean;
}

// Runs a golden case's op on its (f64) inputs; `input` and, for the losses with a floating target,
// `target` are the tensors the gradients are taken with respect to.
Tensor run_golden(const GoldenCase& c, const Tensor& input, const Tensor& target) {
  const Tensor weight = c.has("weight") ? c.f64("weight") : Tensor();
  if (c.op == "softmax") return softmax(input, std::stoll(c.option("dim")));
  if (c.op == "log_softmax") return log_softmax(input, std::stoll(c.option("dim")));
  if (c.op == "cross_entropy" || c.op == "nll_loss") {
    CrossEntropyOptions o;
    o.weight = weight;
    o.ignore_index = std::stoll(c.option("ignore_index"));
    o.reduction = parse_reduction(c.option("reduction"));
    if (c.op == "nll_loss") return nll_loss(input, c.i64("target"), o);
    o.label_smoothing = std::stod(c.option("label_smoothing"));
    return cross_entropy(input, c.i64("target"), o);
  }
  if (c.op == "mse_loss") return mse_loss(input, target, parse_reduction(c.option("reduction")));
  if (c.op == "bce_with_logits")
    return binary_cross_entropy_with_logits(input, target, weight,
                                            parse_reduction(c.option("reduction")));
  if (c.op == "kl_div")
    return kl_div(input, target, parse_kl_reduction(c.option("reduction")),
                  c.option("log_target") == "1");
  FAIL("unknown op " << c.op);
  return Tensor();
}

}  // namespace

TEST_CASE(
    "softmax and losses: values and gradients match PyTorch (tests/reference/loss_golden.txt)") {
  const std::vector<GoldenCase> cases = load_golden();
  REQUIRE(cases.size() >= 70);
  for (const GoldenCase& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const bool float_target = c.op == "mse_loss" || c.op == "bce_with_logits" || c.op == "kl_div";
      Tensor input = c.f64("input").set_requires_grad(c.has("grad_input"));
      Tensor target =
          float_target ? c.f64("target").set_requires_grad(c.has("grad_target")) : Tensor();
      const Tensor out = run_golden(c, input, target);
      check_close(out, c.f64("output"), 1e-10);
      if (!c.has("grad_input")) continue;
      std::vector<Tensor> wrt{input};
      if (c.has("grad_target")) wrt.push_back(target);
      const auto grads = grad({sum(out * c.f64("grad_output"))}, wrt);
      INFO("gradient with respect to the input");
      check_close(grads[0], c.f64("grad_input"), 1e-10);
      if (c.has("grad_target")) {
        INFO("gradient with respect to the target");
        check_close(grads[1], c.f64("grad_target"), 1e-10);
      }
    }
  }
}

// ---------------------------------------------------------------- softmax

namespace {

// softmax or log_softmax along `dim` by a plain double loop over a contiguous copy.
std::vector<double> naive_softmax(const Tensor& x_in, int dim, bool log) {
  const Tensor x = x_in.contiguous();
  const auto v = values(x);
  int64_t outer = 1, n = x.shape()[dim], inner = 1;
  for (int d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (int d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * n + k) * inner + i; };
      double m = -kInf, s = 0;
      for (int64_t k = 0; k < n; ++k) m = std::max(m, v[at(k)]);
      for (int64_t k = 0; k < n; ++k) s += std::exp(v[at(k)] - m);
      for (int64_t k = 0; k < n; ++k)
        out[at(k)] = log ? v[at(k)] - m - std::log(s) : std::exp(v[at(k)] - m) / s;
    }
  return out;
}

// The gradient of sum(f(x) * v) with respect to x, by the fused backward kernel (plain backward)
// or by the formulas written with engine ops (create_graph).
Tensor softmax_grad(const Tensor& x_in, int dim, bool log, const Tensor& v, bool create_graph) {
  Tensor x = x_in.detach().clone().set_requires_grad(true);
  const Tensor y = log ? log_softmax(x, dim) : softmax(x, dim);
  return grad({sum(y * v)}, {x}, {}, false, create_graph)[0].detach();
}

}  // namespace

TEST_CASE("softmax: rows sum to 1 along every dim, in f64 and f32, contiguous or not") {
  const Tensor x = uniform_f64({3, 4, 5}, 1, -3.0, 3.0);
  for (int dim = 0; dim < 3; ++dim) {
    INFO("dim " << dim);
    const Tensor p = softmax(x, dim);
    check_close(sum(p, {dim}), ones(sum(p, {dim}).shape(), DType::f64), 1e-14);
    CHECK(values(amin(p))[0] > 0);
    check_close(p, from_vector(naive_softmax(x, dim, false), x.shape()), 1e-14);
    check_close(log_softmax(x, dim), from_vector(naive_softmax(x, dim, true), x.shape()), 1e-14);
    const Tensor p32 = softmax(to_dtype(x, DType::f32), dim);
    CHECK(p32.dtype() == DType::f32);
    check_close(sum(p32, {dim}), ones(sum(p32, {dim}).shape(), DType::f32), 1e-6);
    check_close(p32, p, 1e-6);
  }
  // A transposed (strided) input gives the transpose of the contiguous result.
  const Tensor xt = transpose(x, 0, 2);
  REQUIRE(!xt.is_contiguous());
  check_close(softmax(xt, 0), transpose(softmax(x, 2), 0, 2), 1e-15);
  check_close(log_softmax(xt, 1), transpose(log_softmax(x, 1), 0, 2), 1e-15);
  check_close(exp(log_softmax(x, -1)), softmax(x, -1), 1e-14);
}

TEST_CASE("softmax: big inputs take the parallel and blocked kernel paths and match a naive loop") {
  struct Case {
    Shape shape;
    int dim;
  };
  // Rows (dim last), long rows (blocked sums), strided columns in one block and in several.
  const std::vector<Case> cases{
      {{64, 300}, 1}, {{2, 5000}, 1}, {{8, 300, 40}, 1}, {{3, 50, 600}, 1}, {{70, 2, 300}, 0}};
  for (const Case& c : cases) {
    for (bool log : {false, true}) {
      INFO("shape " << to_string(c.shape) << " dim " << c.dim
                    << (log ? " log_softmax" : " softmax"));
      const Tensor x = uniform_f32(c.shape, 7, -20.0, 20.0);
      const Tensor y = log ? log_softmax(x, c.dim) : softmax(x, c.dim);
      check_close(y, from_vector(naive_softmax(x, c.dim, log), c.shape), 1e-5);
      // The fused backward against the engine-op formulas.
      const Tensor v = uniform_f32(c.shape, 8, 0.5, 1.5);
      check_close(softmax_grad(x, c.dim, log, v, false), softmax_grad(x, c.dim, log, v, true),
                  1e-5);
    }
  }
}

TEST_CASE("softmax: the fused backward kernel equals the formulas recorded under create_graph") {
  const Tensor x = uniform_f64({3, 4, 5}, 2, -4.0, 4.0);
  const Tensor v = uniform_f64({3, 4, 5}, 3, 0.5, 1.5);
  for (int dim = 0; dim < 3; ++dim)
    for (bool log : {false, true}) {
      INFO("dim " << dim << (log ? " log_softmax" : " softmax"));
      check_close(softmax_grad(x, dim, log, v, false), softmax_grad(x, dim, log, v, true), 1e-14);
    }
  // An upstream gradient that is a broadcast (stride 0), as sum's backward hands down.
  Tensor xl = x.detach().clone().set_requires_grad(true);
  sum(softmax(xl, 1)).backward();
  check_close(xl.grad(), zeros_like(x), 1e-15);  // the rows always sum to 1
}

TEST_CASE("softmax: huge logits are stable and -inf entries get exactly 0 probability") {
  const Tensor big = tensor({1e4f, 1e4f - 1, 1e4f - 2, -1e4f}, {1, 4});
  const double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  check_close(softmax(big, 1),
              tensor_f64({1 / z, std::exp(-1.0) / z, std::exp(-2.0) / z, 0}, {1, 4}), 1e-6);
  check_close(
      log_softmax(big, 1),
      tensor_f64({-std::log(z), -1 - std::log(z), -2 - std::log(z), -2e4 - std::log(z)}, {1, 4}),
      1e-6);
  // Shifting every logit by -1e4 changes nothing.
  check_close(softmax(tensor({-1e4f, 1 - 1e4f, 2 - 1e4f}), 0), softmax(tensor({0.f, 1.f, 2.f}), 0),
              1e-6);

  const float inf = std::numeric_limits<float>::infinity();
  for (DType dtype : {DType::f32, DType::f64}) {
    for (bool along_rows : {true, false}) {
      INFO((along_rows ? "dim 1 (contiguous rows), " : "dim 0 (strided columns), ")
           << dtype_name(dtype));
      Tensor masked =
          to_dtype(tensor({0.5f, -inf, 1.5f, -inf, 3.0f, 2.0f, -inf, 0.0f}, {2, 4}), dtype);
      if (!along_rows) masked = transpose(masked, 0, 1).contiguous();
      const int dim = along_rows ? 1 : 0;
      const Tensor p = softmax(masked, dim);
      const auto pv = values(along_rows ? p : transpose(p, 0, 1));
      CHECK(pv[1] == 0.0);
      CHECK(pv[3] == 0.0);
      CHECK(pv[6] == 0.0);
      CHECK(pv[0] > 0);
      CHECK(std::abs(pv[0] + pv[2] - 1) < 1e-6);
      const auto lv =
          values(along_rows ? log_softmax(masked, dim) : transpose(log_softmax(masked, dim), 0, 1));
      CHECK(lv[1] == -kInf);
      CHECK(lv[6] == -kInf);
      CHECK(std::isfinite(lv[0]));
      // The masked entries get no gradient.
      Tensor leaf = masked.detach().clone().set_requires_grad(true);
      const Tensor v = to_dtype(uniform_f64(masked.shape(), 4, 0.5, 1.5), dtype);
      const Tensor g = grad({sum(softmax(leaf, dim) * v)}, {leaf})[0];
      const auto gv = values(along_rows ? g : transpose(g, 0, 1));
      CHECK(gv[1] == 0.0);
      CHECK(gv[6] == 0.0);
    }
  }
  // A row with nothing but -inf has no distribution: NaN, as in PyTorch.
  const auto all_masked = values(softmax(tensor({-inf, -inf}), 0));
  CHECK(std::isnan(all_masked[0]));
  CHECK(std::isnan(all_masked[1]));
}

TEST_CASE("softmax: 0-dim and empty tensors, and errors") {
  CHECK(softmax(scalar(3.0, DType::f64), 0).item<double>() == 1.0);
  CHECK(log_softmax(scalar(3.0, DType::f64), -1).item<double>() == 0.0);
  CHECK(softmax(zeros({0, 3}), 1).shape() == Shape{0, 3});
  CHECK(log_softmax(zeros({3, 0}), 1).shape() == Shape{3, 0});
  CHECK_THROWS_WITH(softmax(zeros({2, 3}), 2), Catch::Contains("softmax: dim 2 out of range"));
  CHECK_THROWS_WITH(log_softmax(tensor_i64({1, 2}), 0),
                    Catch::Contains("log_softmax: expected a floating tensor"));
}

// ---------------------------------------------------------------- cross_entropy

namespace {

// PyTorch's own decomposition of cross_entropy: (1 - eps) nll_loss(log_softmax(x)) + eps / C times
// the smoothing loss -sum_c w_c log_softmax(x)_c, zero at ignored positions and reduced like the
// nll term (the mean divides by the same sum of target weights).
Tensor composed_cross_entropy(const Tensor& logits, const Tensor& target,
                              const CrossEntropyOptions& o) {
  const int class_dim = logits.dim() == 1 ? 0 : 1;
  const int64_t C = logits.shape()[class_dim];
  const Tensor lp = log_softmax(logits, class_dim);
  CrossEntropyOptions nll_options = o;
  nll_options.label_smoothing = 0;
  const Tensor nll = nll_loss(lp, target, nll_options);
  if (o.label_smoothing == 0) return nll;
  Shape weight_shape = Shape::filled(logits.dim(), 1);
  weight_shape[class_dim] = C;
  const Tensor weighted = o.weight.defined() ? lp * reshape(o.weight, weight_shape) : lp;
  const Tensor keep = ne(target, static_cast<double>(o.ignore_index));
  Tensor smooth = neg(sum(weighted, {class_dim})) * to_dtype(keep, logits.dtype());
  if (o.reduction == Reduction::sum) smooth = sum(smooth);
  if (o.reduction == Reduction::mean) {
    const Tensor safe = where(keep, target, 0.0);
    const Tensor target_weight =
        o.weight.defined() ? reshape(index_select(o.weight, 0, reshape(safe, {-1})), target.shape())
                           : ones(target.shape(), logits.dtype());
    smooth = sum(smooth) / sum(target_weight * to_dtype(keep, logits.dtype()));
  }
  return nll * (1 - o.label_smoothing) + smooth * (o.label_smoothing / static_cast<double>(C));
}

struct CeGrad {
  Tensor loss, grad;
};

CeGrad loss_and_grad(const Tensor& logits, bool composed, const Tensor& target,
                     const CrossEntropyOptions& o) {
  Tensor x = logits.detach().clone().set_requires_grad(true);
  const Tensor loss = composed ? composed_cross_entropy(x, target, o) : cross_entropy(x, target, o);
  const Tensor v = uniform_f64(loss.shape(), 9, 0.5, 1.5);
  return {loss.detach(), grad({sum(loss * to_dtype(v, loss.dtype()))}, {x})[0]};
}

}  // namespace

TEST_CASE(
    "cross_entropy: the fused op equals log_softmax + nll_loss (+ smoothing) in values and "
    "gradients") {
  struct Shaped {
    Tensor logits, target;
  };
  const std::vector<Shaped> inputs{
      {uniform_f64({6, 5}, 11, -3, 3), tensor_i64({0, -100, 4, 1, 2, 3})},
      {uniform_f64({3, 4, 2, 3}, 12, -3, 3),
       tensor_i64({0, 1, 3, 2, -100, 1, 3, 3, 0, 1, 2, -100, 0, 2, 1, 3, 0, 2}, {3, 2, 3})},
      {uniform_f64({5}, 13, -3, 3), scalar(2, DType::i64)}};
  for (const Shaped& in : inputs)
    for (DType dtype : {DType::f64, DType::f32})
      for (Reduction reduction : {Reduction::none, Reduction::mean, Reduction::sum})
        for (bool weighted : {false, true})
          for (double smoothing : {0.0, 0.25}) {
            const int64_t C = in.logits.shape()[in.logits.dim() == 1 ? 0 : 1];
            CrossEntropyOptions o;
            o.reduction = reduction;
            o.label_smoothing = smoothing;
            if (weighted) o.weight = to_dtype(uniform_f64({C}, 14, 0.25, 2.0), dtype);
            INFO("logits " << to_string(in.logits.shape()) << " " << dtype_name(dtype)
                           << " reduction " << static_cast<int>(reduction)
                           << (weighted ? " weighted" : "") << " smoothing " << smoothing);
            const Tensor x = to_dtype(in.logits, dtype);
            const CeGrad fused = loss_and_grad(x, false, in.target, o);
            const CeGrad composed = loss_and_grad(x, true, in.target, o);
            const double tol = dtype == DType::f64 ? 1e-13 : 2e-6;
            check_close(fused.loss, composed.loss, tol);
            check_close(fused.grad, composed.grad, tol);
          }
}

TEST_CASE("cross_entropy: big batches, many classes and spatial maps match the composed version") {
  // Enough work for the parallel paths; long rows for the blocked sums; several column blocks.
  struct Case {
    Shape shape;
    double smoothing;
  };
  for (const Case& c : std::vector<Case>{{{256, 40}, 0.1}, {{3, 5000}, 0.0}, {{4, 6, 300}, 0.2}}) {
    INFO("logits " << to_string(c.shape));
    const int64_t C = c.shape[1];
    Shape target_shape = c.shape;
    target_shape.erase(1);
    std::vector<int64_t> t(numel(target_shape));
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = i % 7 == 3 ? -100 : static_cast<int64_t>(i * 31 % C);
    const Tensor target = from_vector(t, target_shape);
    CrossEntropyOptions o;
    o.label_smoothing = c.smoothing;
    o.weight = to_dtype(uniform_f64({C}, 15, 0.5, 1.5), DType::f32);
    const Tensor x = uniform_f32(c.shape, 16, -8, 8);
    const CeGrad fused = loss_and_grad(x, false, target, o);
    const CeGrad composed = loss_and_grad(x, true, target, o);
    check_close(fused.loss, composed.loss, 1e-5);
    check_close(fused.grad, composed.grad, 1e-5);
  }
}

TEST_CASE("cross_entropy: huge logits and masked classes stay finite and exact") {
  // Logits of 1e4 in f32: the loss and the gradient keep the differences between the logits.
  const Tensor x = tensor({1e4f, 1e4f - 2, -1e4f, 1e4f, 1e4f - 2, -1e4f}, {2, 3});
  CrossEntropyOptions unreduced;
  unreduced.reduction = Reduction::none;
  Tensor leaf = x.detach().clone().set_requires_grad(true);
  const Tensor loss = cross_entropy(leaf, tensor_i64({0, 1}), unreduced);
  const double log_z = std::log1p(std::exp(-2.0));
  check_close(loss, tensor_f64({log_z, 2 + log_z}), 1e-6);
  sum(loss).backward();
  const double p0 = 1 / (1 + std::exp(-2.0)), p1 = 1 - p0;
  check_close(leaf.grad(), tensor_f64({p0 - 1, p1, 0, p0, p1 - 1, 0}, {2, 3}), 1e-6);

  // A -inf logit (a masked class) that is not the target: finite loss, exactly zero gradient.
  const float inf = std::numeric_limits<float>::infinity();
  for (bool spatial : {false, true}) {
    INFO((spatial ? "logits [1,3,2]" : "logits [2,3]"));
    Tensor masked = tensor({0.5f, -inf, 1.0f, 2.0f, 0.0f, -inf}, {2, 3});
    Tensor target = tensor_i64({2, 0});
    if (spatial) {  // the same two rows as two positions of one [3, 2] map
      masked = transpose(masked, 0, 1).contiguous().reshape({1, 3, 2});
      target = target.reshape({1, 2});
    }
    Tensor m = masked.detach().clone().set_requires_grad(true);
    const Tensor l = cross_entropy(m, target);
    CHECK(std::isfinite(l.item<double>()));
    l.backward();
    const auto g = values(spatial ? transpose(reshape(m.grad(), {3, 2}), 0, 1) : m.grad());
    CHECK(g[1] == 0.0);
    CHECK(g[5] == 0.0);
  }
}

TEST_CASE("cross_entropy: ignored targets contribute nothing; all ignored gives a NaN mean") {
  const Tensor x = uniform_f64({4, 3}, 21, -2, 2);
  // Rows 1 and 3 ignored: the loss is the loss of rows 0 and 2 alone, their gradient rows are 0.
  Tensor leaf = x.detach().clone().set_requires_grad(true);
  const Tensor l = cross_entropy(leaf, tensor_i64({2, -100, 0, -100}));
  const Tensor kept = index_select(x, 0, tensor_i64({0, 2}));
  check_close(l, cross_entropy(kept, tensor_i64({2, 0})), 1e-15);
  l.backward();
  const auto g = values(leaf.grad());
  for (int i : {3, 4, 5, 9, 10, 11}) CHECK(g[i] == 0.0);

  const Tensor all_ignored = tensor_i64({-100, -100, -100, -100});
  CHECK(std::isnan(cross_entropy(x, all_ignored).item<double>()));
  CrossEntropyOptions sum_options;
  sum_options.reduction = Reduction::sum;
  CHECK(cross_entropy(x, all_ignored, sum_options).item<double>() == 0.0);
  CHECK(std::isnan(nll_loss(log_softmax(x, 1), all_ignored).item<double>()));
}

TEST_CASE("cross_entropy and nll_loss: errors name the op, the shapes and the bad values") {
  const Tensor x = zeros({8, 10});
  CHECK_THROWS_WITH(cross_entropy(x, zeros({7}, DType::i64)),
                    Catch::Contains("cross_entropy: logits [8,10] and target [7] disagree on the "
                                    "batch size"));
  CHECK_THROWS_WITH(cross_entropy(zeros({2, 5, 3, 4}), zeros({2, 3}, DType::i64)),
                    Catch::Contains("logits [2,5,3,4] need a target of shape [2,3,4]"));
  CHECK_THROWS_WITH(cross_entropy(x, zeros({8, 10}, DType::i64)),
                    Catch::Contains("need a target of shape [8]"));
  CHECK_THROWS_WITH(cross_entropy(x, zeros({8})),
                    Catch::Contains("cross_entropy: target [8] has dtype f32, expected i64"));
  CHECK_THROWS_WITH(cross_entropy(zeros({8, 10}, DType::i64), zeros({8}, DType::i64)),
                    Catch::Contains("cross_entropy: expected a floating tensor"));
  CHECK_THROWS_WITH(cross_entropy(scalar(1.0), scalar(0, DType::i64)),
                    Catch::Contains("cross_entropy: logits must be [C] or [N, C, d1, ...]"));

  // Out-of-range classes are caught before any memory is read; ignore_index is exempt.
  Tensor t = zeros({8}, DType::i64);
  CHECK_NOTHROW(cross_entropy(x, t));
  t = tensor_i64({0, 1, 2, 10, 4, 5, 6, 7});
  CHECK_THROWS_WITH(cross_entropy(x, t),
                    Catch::Contains("cross_entropy: target 10 is out of range for 10 classes"));
  t = tensor_i64({0, 1, 2, -1, 4, 5, 6, 7});
  CHECK_THROWS_WITH(cross_entropy(x, t),
                    Catch::Contains("cross_entropy: target -1 is out of range for 10 classes"));
  CrossEntropyOptions minus_one;
  minus_one.ignore_index = -1;
  CHECK_NOTHROW(cross_entropy(x, t, minus_one));
  CHECK_NOTHROW(cross_entropy(x, tensor_i64({0, 1, 2, -100, 4, 5, 6, 7})));
  CHECK_THROWS_WITH(nll_loss(zeros({2, 5}), tensor_i64({7, 0})),
                    Catch::Contains("nll_loss: target 7 is out of range for 5 classes"));

  CrossEntropyOptions o;
  o.weight = ones({5});
  CHECK_THROWS_WITH(
      cross_entropy(x, zeros({8}, DType::i64), o),
      Catch::Contains("cross_entropy: weight [5] must have one entry per class (C = 10)"));
  o.weight = ones({10}, DType::f64);
  CHECK_THROWS_WITH(cross_entropy(x, zeros({8}, DType::i64), o),
                    Catch::Contains("cross_entropy: dtype mismatch"));
  CrossEntropyOptions smoothing;
  smoothing.label_smoothing = 1.5;
  CHECK_THROWS_WITH(cross_entropy(x, zeros({8}, DType::i64), smoothing),
                    Catch::Contains("cross_entropy: label_smoothing must be in [0, 1], got 1.5"));
  smoothing.label_smoothing = 0.1;
  CHECK_THROWS_WITH(nll_loss(x, zeros({8}, DType::i64), smoothing),
                    Catch::Contains("nll_loss: label_smoothing 0.1 is not an nll_loss option"));
  CHECK_THROWS_WITH(cross_entropy(zeros({4, 0}), full({4}, -100, DType::i64)),
                    Catch::Contains("cross_entropy: logits [4,0] have no classes"));
}

TEST_CASE("cross_entropy: its gradient can be differentiated again through softmax") {
  // The second derivative through the fused op's recorded backward against the same second
  // derivative of the composed version, with every option that shapes the target distribution.
  const Tensor target = tensor_i64({1, 0, 2});
  auto second = [&](bool composed) {
    Tensor x = uniform_f64({3, 3}, 31, -1, 1).set_requires_grad(true);
    CrossEntropyOptions o;
    o.label_smoothing = 0.2;
    o.weight = tensor_f64({0.5, 1.0, 2.0});
    const Tensor loss =
        composed ? composed_cross_entropy(x, target, o) : cross_entropy(x, target, o);
    const Tensor g = grad({loss}, {x}, {}, true, true)[0];
    return grad({sum(g * uniform_f64({3, 3}, 32, 0.5, 1.5))}, {x})[0];
  };
  check_close(second(false), second(true), 1e-13);
}

// ---------------------------------------------------------------- the other losses

TEST_CASE("binary_cross_entropy_with_logits: stable for extreme logits; pos_weight broadcasts") {
  Tensor x = tensor_f64({100, -100, 0, 800}).set_requires_grad(true);
  const Tensor t = tensor_f64({0, 1, 0.5, 1});
  const Tensor loss = binary_cross_entropy_with_logits(x, t, Tensor(), Reduction::none);
  check_close(loss, tensor_f64({100, 100, std::log(2.0), 0}), 1e-15);
  sum(loss).backward();
  check_close(x.grad(), tensor_f64({1, -1, 0, 0}), 1e-15);  // sigmoid(x) - t
  const Tensor l32 = binary_cross_entropy_with_logits(tensor({90.f, -90.f}), tensor({0.f, 1.f}),
                                                      Tensor(), Reduction::none);
  check_close(l32, tensor_f64({90, 90}), 1e-6);

  // pos_weight [3] over [2,3] logits scales the positive term per column.
  const Tensor logits = uniform_f64({2, 3}, 41, -2, 2), target = ones({2, 3}, DType::f64);
  const Tensor pw = tensor_f64({1, 2, 3});
  check_close(binary_cross_entropy_with_logits(logits, target, pw, Reduction::none),
              binary_cross_entropy_with_logits(logits, target, Tensor(), Reduction::none) * pw,
              1e-15);
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(zeros({2, 3}), zeros({3})),
                    Catch::Contains("binary_cross_entropy_with_logits: logits [2,3] and target [3] "
                                    "must have the same shape"));
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), ones({2})),
                    Catch::Contains("pos_weight [2] does not broadcast to logits [2,3]"));
}

TEST_CASE("kl_div and mse_loss: zero targets, batchmean, and shape errors") {
  const Tensor input = log_softmax(uniform_f64({2, 3}, 51, -1, 1), 1);
  const Tensor target = tensor_f64({0, 0.25, 0.75, 1, 0, 0}, {2, 3});
  const auto pointwise = values(kl_div(input, target, KlReduction::none));
  const auto in = values(input);
  CHECK(pointwise[0] == 0.0);
  CHECK(pointwise[4] == 0.0);
  CHECK(pointwise[3] == -in[3]);  // 1 * (log 1 - input)
  const double total = kl_div(input, target, KlReduction::sum).item<double>();
  CHECK(kl_div(input, target, KlReduction::batchmean).item<double>() == Approx(total / 2));
  CHECK(kl_div(input, target, KlReduction::mean).item<double>() == Approx(total / 6));
  const Tensor positive = softmax(uniform_f64({2, 3}, 52, -1, 1), 1);
  check_close(kl_div(input, log(positive), KlReduction::none, true),
              kl_div(input, positive, KlReduction::none), 1e-15);
  CHECK_THROWS_WITH(
      kl_div(zeros({2, 3}), zeros({3, 2})),
      Catch::Contains("kl_div: input [2,3] and target [3,2] must have the same shape"));
  CHECK_THROWS_WITH(
      mse_loss(zeros({4, 1}), zeros({4})),
      Catch::Contains("mse_loss: input [4,1] and target [4] must have the same shape"));
  CHECK_THROWS_WITH(mse_loss(zeros({4}), zeros({4}, DType::f64)),
                    Catch::Contains("mse_loss: dtype mismatch"));
  CHECK(mse_loss(tensor({1.f, 2.f}), tensor({3.f, 2.f})).item<double>() == 2.0);
}

// ---------------------------------------------------------------- gumbel_softmax

TEST_CASE("gumbel_softmax: soft samples are distributions; the same seed gives the same sample") {
  const Tensor logits = uniform_f32({5, 4}, 61, -2, 2);
  Generator a(123), b(123), c(124);
  const Tensor s1 = gumbel_softmax(logits, 0.7, false, -1, &a);
  const Tensor s2 = gumbel_softmax(logits, 0.7, false, -1, &b);
  const Tensor s3 = gumbel_softmax(logits, 0.7, false, -1, &c);
  CHECK(values(s1) == values(s2));
  CHECK(values(s1) != values(s3));
  check_close(sum(s1, {1}), ones({5}), 1e-6);
  // The default generator, reseeded, is just as reproducible.
  manual_seed(99);
  const Tensor d1 = gumbel_softmax(logits, 0.7, false, 0);
  manual_seed(99);
  CHECK(values(gumbel_softmax(logits, 0.7, false, 0)) == values(d1));
  check_close(sum(d1, {0}), ones({4}), 1e-6);
  CHECK_THROWS_WITH(gumbel_softmax(logits, 0.0),
                    Catch::Contains("gumbel_softmax: tau must be positive"));
  CHECK_THROWS_WITH(gumbel_softmax(logits, 1.0, false, 2),
                    Catch::Contains("gumbel_softmax: dim 2 out of range"));
}

TEST_CASE("gumbel_softmax: hard samples are exactly one-hot with the soft sample's gradient") {
  const Tensor logits = uniform_f64({6, 5}, 62, -2, 2);
  const Tensor v = uniform_f64({6, 5}, 63, 0.5, 1.5);
  for (int dim : {1, 0}) {
    INFO("dim " << dim);
    Tensor x_hard = logits.detach().clone().set_requires_grad(true);
    Tensor x_soft = logits.detach().clone().set_requires_grad(true);
    Generator g1(5), g2(5);
    const Tensor hard = gumbel_softmax(x_hard, 0.5, true, dim, &g1);
    const Tensor soft = gumbel_softmax(x_soft, 0.5, false, dim, &g2);
    // Exactly one 1 per slice along dim, every other entry exactly 0, at the soft sample's argmax.
    for (double e : values(hard)) CHECK((e == 0.0 || e == 1.0));
    check_close(sum(hard, {dim}), ones({dim == 1 ? 6 : 5}, DType::f64), 0.0);
    CHECK(argmax(hard, dim).to_vector<int64_t>() == argmax(soft, dim).to_vector<int64_t>());
    sum(hard * v).backward();
    sum(soft * v).backward();
    CHECK(max_abs_diff(x_hard.grad(), x_soft.grad()) == 0.0);
    CHECK(max_abs_diff(x_hard.grad(), zeros_like(logits)) > 0.0);
  }
}

TEST_CASE("gumbel_softmax: at low temperature the argmax frequencies follow softmax(logits)") {
  // The Gumbel-max trick: argmax(logits + Gumbel noise) is distributed as softmax(logits), for any
  // temperature. 4000 draws give each frequency a standard error below 0.008; the tolerance is
  // 0.03.
  const std::vector<double> probs{0.1, 0.2, 0.3, 0.4};
  std::vector<double> log_probs;
  for (double p : probs) log_probs.push_back(std::log(p));
  const int64_t draws = 4000;
  const Tensor logits = expand(reshape(from_vector(log_probs), {1, 4}), {draws, 4});
  Generator gen(2026);
  const Tensor samples = gumbel_softmax(logits, 0.05, true, 1, &gen);
  const auto frequency = values(mean(samples, {0}));
  for (int c = 0; c < 4; ++c) {
    INFO("class " << c << ": frequency " << frequency[c] << ", probability " << probs[c]);
    CHECK(std::abs(frequency[c] - probs[c]) < 0.03);
  }
  // The soft samples at that temperature are nearly one-hot already.
  Generator again(2026);
  const Tensor soft = gumbel_softmax(logits, 0.05, false, 1, &again);
  CHECK(values(mean(amax(soft, {1})))[0] > 0.9);
}

}  // namespace dg::test
