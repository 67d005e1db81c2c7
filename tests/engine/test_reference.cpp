// Compares dyngrad with PyTorch on fixed inputs: replays every case of the golden files in
// tests/reference/ (written by make_golden.py, committed so no Python is needed here), checking the
// forward outputs and the gradients of sum(output * v) for the stored projections v. float64 must
// agree to ~1e-10, float32 forwards to ~1e-5 (relative, or absolute below 1), indices exactly.
// On failure the section names the case and the message gives the max difference and where it is.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>

#include "tests/engine/golden.h"

namespace dg::test {
namespace {

using Named = std::map<std::string, Tensor>;
// Runs one golden case's op on dyngrad: named inputs in, named outputs out.
using RunOp = std::function<Named(const GoldenCase&, const Named&)>;

Named one(Tensor out) { return {{"out", std::move(out)}}; }

RunOp binary(Tensor (*op)(const Tensor&, const Tensor&)) {
  return [op](const GoldenCase&, const Named& in) { return one(op(in.at("a"), in.at("b"))); };
}

// Every op the golden files use, by the name make_golden.py writes.
const std::map<std::string, RunOp>& runners() {
  static const std::map<std::string, RunOp> table = {
      {"matmul",
       [](const GoldenCase& c, const Named& in) {
         // A transposed operand is stored untransposed and passed as a strided view.
         Tensor a = c.attr_bool("transpose_a") ? transpose(in.at("a"), -1, -2) : in.at("a");
         Tensor b = c.attr_bool("transpose_b") ? transpose(in.at("b"), -1, -2) : in.at("b");
         return one(matmul(a, b));
       }},
      {"logsumexp",
       [](const GoldenCase& c, const Named& in) {
         return one(logsumexp(in.at("x"), c.attr_ints("dims"), c.attr_bool("keepdim")));
       }},
      {"topk",
       [](const GoldenCase& c, const Named& in) {
         auto [values, indices] = topk(in.at("x"), c.attr_int("k"), c.attr_int("dim"),
                                       c.attr_bool("largest"), /*sorted=*/true);
         return Named{{"values", values}, {"indices", indices}};
       }},
      {"gather",
       [](const GoldenCase& c, const Named& in) {
         return one(gather(in.at("x"), c.attr_int("dim"), in.at("index")));
       }},
      {"scatter",
       [](const GoldenCase& c, const Named& in) {
         return one(scatter(in.at("x"), c.attr_int("dim"), in.at("index"), in.at("src")));
       }},
      {"scatter_add",
       [](const GoldenCase& c, const Named& in) {
         return one(scatter_add(in.at("x"), c.attr_int("dim"), in.at("index"), in.at("src")));
       }},
      {"cumsum",
       [](const GoldenCase& c, const Named& in) {
         return one(cumsum(in.at("x"), c.attr_int("dim")));
       }},
      {"add", binary(add)},
      {"sub", binary(sub)},
      {"mul", binary(mul)},
      {"div", binary(div)},
      {"pow", binary(pow)},
      {"pow_scalar",
       [](const GoldenCase& c, const Named& in) {
         return one(pow(in.at("x"), c.attr_double("exponent")));
       }},
      {"softplus",
       [](const GoldenCase& c, const Named& in) {
         return one(softplus(in.at("x"), c.attr_double("beta"), c.attr_double("threshold")));
       }},
      {"gelu",
       [](const GoldenCase& c, const Named& in) {
         const std::string& approx = c.attr("approximate");
         REQUIRE((approx == "none" || approx == "tanh"));
         return one(gelu(in.at("x"), approx == "tanh" ? GeluApprox::tanh : GeluApprox::none));
       }},
      {"silu", [](const GoldenCase&, const Named& in) { return one(silu(in.at("x"))); }},
  };
  return table;
}

std::string shape_str(const Shape& s) {
  std::ostringstream out;
  out << '[';
  for (int i = 0; i < s.size(); ++i) out << (i ? "," : "") << s[i];
  out << ']';
  return out.str();
}

struct Comparison {
  bool ok = true;
  std::string message;
};

// Compares `actual` with the golden tensor: dtype and shape exactly, i64 values exactly, floats
// within tol * max(1, |expected|); infinities must match exactly and nan only nan.
Comparison compare(const std::string& what, const Tensor& actual, const GoldenTensor& expected) {
  std::ostringstream msg;
  msg << what << " '" << expected.name << "': ";
  if (actual.dtype() != expected.dtype || actual.shape() != expected.shape) {
    msg << "expected " << dtype_name(expected.dtype) << ' ' << shape_str(expected.shape) << ", got "
        << dtype_name(actual.dtype()) << ' ' << shape_str(actual.shape());
    return {false, msg.str()};
  }
  const double tol = expected.dtype == DType::f64 ? 1e-10 : expected.dtype == DType::f32 ? 1e-5 : 0.0;
  const std::vector<double> got = actual.to_vector<double>();
  double max_diff = 0, worst_excess = 0;
  int64_t worst = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = expected.values[i], a = got[i];
    const bool same_special = (std::isnan(e) && std::isnan(a)) || (std::isinf(e) && e == a);
    const double diff = same_special ? 0.0 : std::abs(a - e);  // nan when only one is nan/inf
    const double allowed = tol * std::max(1.0, std::isfinite(e) ? std::abs(e) : 0.0);
    if (!(diff <= allowed)) {
      const double excess = std::isnan(diff) ? INFINITY : diff - allowed;
      if (worst < 0 || excess > worst_excess) worst = static_cast<int64_t>(i), worst_excess = excess;
    }
    if (!std::isnan(diff)) max_diff = std::max(max_diff, diff);
  }
  msg.precision(17);
  msg << "max |diff| " << max_diff << " (tolerance " << tol << " x max(1,|expected|))";
  if (worst >= 0)
    msg << "; worst at flat index " << worst << ": expected " << expected.values[worst] << ", got "
        << got[worst];
  return {worst < 0, msg.str()};
}

// Replays one golden case: forward, then (when the case stores gradients) dg::grad of the
// projected outputs with the stored projections as grad_outputs, i.e. d sum(output * v).
void replay(const GoldenCase& c) {
  const auto runner = runners().find(c.op);
  INFO("golden case '" << c.name << "' (op " << c.op << ")");
  REQUIRE(runner != runners().end());

  Named inputs;
  std::vector<Tensor> wrt;
  for (const GoldenTensor& g : c.grads) REQUIRE(GoldenCase::find(c.inputs, g.name) != nullptr);
  for (const GoldenTensor& t : c.inputs) {
    Tensor leaf = t.to_tensor();
    if (GoldenCase::find(c.grads, t.name)) leaf.set_requires_grad(true);
    inputs.emplace(t.name, leaf);
  }
  for (const GoldenTensor& g : c.grads) wrt.push_back(inputs.at(g.name));

  const Named outputs = runner->second(c, inputs);
  for (const GoldenTensor& expected : c.outputs) {
    REQUIRE(outputs.count(expected.name) == 1);
    const Comparison r = compare("output", outputs.at(expected.name), expected);
    INFO(r.message);
    CHECK(r.ok);
  }
  if (c.grads.empty()) return;

  std::vector<Tensor> projected, projections;
  for (const GoldenTensor& v : c.projections) {
    REQUIRE(outputs.count(v.name) == 1);
    projected.push_back(outputs.at(v.name));
    projections.push_back(v.to_tensor());
  }
  const std::vector<Tensor> grads = grad(projected, wrt, projections);
  REQUIRE(grads.size() == c.grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    // An undefined gradient means zero.
    const Tensor g = grads[i].defined() ? grads[i] : zeros_like(wrt[i]);
    const Comparison r = compare("gradient of", g, c.grads[i]);
    INFO(r.message);
    CHECK(r.ok);
  }
}

void replay_file(const std::string& file_name) {
  const std::vector<GoldenCase> cases = read_golden(file_name);
  REQUIRE(!cases.empty());
  for (const GoldenCase& c : cases) {
    DYNAMIC_SECTION(file_name << ": " << c.name) { replay(c); }
  }
}

}  // namespace

TEST_CASE("reference: golden reader parses values, specials, shapes and reports errors", "[reference]") {
  const std::string text = R"(# a comment
case two words
op demo
attr dims 0,-1
input x f64 [2,2]
  1.5 -inf   # trailing comment
  nan 2.5e-3
output i i64 [3]
  0 -7 42
output s f32 []
  0.25
end
case second
op other
end
)";
  const std::vector<GoldenCase> cases = parse_golden(text, "inline");
  REQUIRE(cases.size() == 2);
  const GoldenCase& c = cases[0];
  CHECK(c.name == "two words");
  CHECK(c.op == "demo");
  CHECK(c.attr_ints("dims") == std::vector<int64_t>{0, -1});
  REQUIRE(c.inputs.size() == 1);
  CHECK(c.inputs[0].shape == Shape{2, 2});
  CHECK(c.inputs[0].values[0] == 1.5);
  CHECK(c.inputs[0].values[1] == -INFINITY);
  CHECK(std::isnan(c.inputs[0].values[2]));
  CHECK(c.inputs[0].values[3] == 2.5e-3);
  REQUIRE(c.outputs.size() == 2);
  CHECK(c.outputs[0].dtype == DType::i64);
  CHECK(c.outputs[0].to_tensor().to_vector<int64_t>() == std::vector<int64_t>{0, -7, 42});
  CHECK(c.outputs[1].to_tensor().dim() == 0);
  CHECK(c.outputs[1].to_tensor().item<float>() == 0.25f);
  CHECK(cases[1].name == "second");
  CHECK_THROWS_WITH(c.attr("missing"), Catch::Contains("no attribute 'missing'"));

  CHECK_THROWS_WITH(parse_golden("case a\nop x\ninput x f64 [3]\n 1 2\nend\n", "short"),
                    Catch::Contains("short:5: tensor 'x' [3]: expected 3 values, found 2"));
  CHECK_THROWS_WITH(parse_golden("case a\nop x\ninput x f16 [1]\n 1\nend\n", "dt"),
                    Catch::Contains("unknown dtype 'f16'"));
  CHECK_THROWS_WITH(parse_golden("case a\nop x\ninput x i64 [1]\n 1.5\nend\n", "int"),
                    Catch::Contains("bad value '1.5'"));
  CHECK_THROWS_WITH(parse_golden("case a\nop x\n", "eof"), Catch::Contains("unexpected end of file"));
}

TEST_CASE("reference: the comparison catches a wrong value, a wrong shape and a lone nan", "[reference]") {
  GoldenTensor expected{"out", DType::f64, Shape{3}, {1.0, -INFINITY, 1000.0}};
  CHECK(compare("output", from_vector(std::vector<double>{1.0, -INFINITY, 1000.0 + 1e-8}, {3}), expected).ok);
  const Comparison off = compare("output", from_vector(std::vector<double>{1.0, -INFINITY, 1000.1}, {3}), expected);
  CHECK(!off.ok);
  CHECK_THAT(off.message, Catch::Contains("flat index 2") && Catch::Contains("got 1000.1"));
  CHECK(!compare("output", from_vector(std::vector<double>{1.0, NAN, 1000.0}, {3}), expected).ok);
  CHECK(!compare("output", from_vector(std::vector<double>{1.0, -INFINITY, 1000.0}, {1, 3}), expected).ok);
  CHECK(!compare("output", from_vector(std::vector<float>{1.0f, -INFINITY, 1000.0f}, {3}), expected).ok);
}

TEST_CASE("reference: broadcasting elementwise ops and activations match PyTorch", "[reference]") {
  replay_file("elementwise.txt");
}

TEST_CASE("reference: matmul matches PyTorch", "[reference]") { replay_file("matmul.txt"); }

TEST_CASE("reference: logsumexp matches PyTorch", "[reference]") { replay_file("logsumexp.txt"); }

TEST_CASE("reference: topk matches PyTorch", "[reference]") { replay_file("topk.txt"); }

TEST_CASE("reference: gather, scatter and scatter_add match PyTorch", "[reference]") {
  replay_file("gather_scatter.txt");
}

TEST_CASE("reference: cumsum matches PyTorch", "[reference]") { replay_file("cumsum.txt"); }

}  // namespace dg::test
