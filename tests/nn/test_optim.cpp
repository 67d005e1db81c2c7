// Tests of SGD, Adam, AdamW and clip_grad_norm_: the first five steps of every optimizer variant
// against PyTorch 1.13 (tests/reference/optim_golden.txt, made by optim_golden.py), bit-exact
// resumption through state dicts (also through a safetensors file), parameter checks and errors,
// and that a step allocates no parameter-sized temporaries.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "engine/allocator.h"
#include "engine/ops/ops.h"
#include "nn/checkpoint.h"
#include "nn/clip.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::nn;

namespace {

// ---------------------------------------------------------------- the golden file

struct GoldenCase {
  std::string name, kind, dtype;
  std::vector<std::map<std::string, double>> groups;         // hyperparameters per group
  std::map<std::pair<int, std::string>, std::vector<double>> after;  // (step, param) -> values
};

struct ClipCase {
  double norm_type, max_norm, total;
  std::map<std::string, std::vector<double>> clipped;
};

struct Golden {
  std::map<std::string, std::map<std::string, std::vector<double>>> consts;  // param -> a|c|d
  std::map<std::string, std::vector<double>> init;
  std::vector<GoldenCase> cases;
  std::map<std::string, std::vector<double>> clip_grads;
  std::vector<ClipCase> clips;
};

std::vector<double> read_values(std::istringstream& line) {
  std::vector<double> v;
  std::string word;
  while (line >> word) v.push_back(std::stod(word));  // stod reads "inf" too
  return v;
}

const Golden& golden() {
  static const Golden g = [] {
    Golden g;
    std::ifstream in(std::string(DG_TEST_DATA_DIR) + "/reference/optim_golden.txt");
    REQUIRE(in.is_open());
    std::string text;
    while (std::getline(in, text)) {
      std::istringstream line(text);
      std::string tag, a, b;
      line >> tag;
      if (tag.empty() || tag[0] == '#') continue;
      if (tag == "const") {
        line >> a >> b;
        g.consts[a][b] = read_values(line);
      } else if (tag == "init") {
        line >> a;
        g.init[a] = read_values(line);
      } else if (tag == "case") {
        GoldenCase c;
        line >> c.name >> c.kind >> c.dtype;
        g.cases.push_back(c);
      } else if (tag == "group") {
        int index;
        line >> index;
        std::map<std::string, double> options;
        double value;
        while (line >> a >> value) options[a] = value;
        g.cases.back().groups.push_back(options);
      } else if (tag == "step") {
        int step;
        line >> step >> a;
        g.cases.back().after[{step, a}] = read_values(line);
      } else if (tag == "clip_grad") {
        line >> a;
        g.clip_grads[a] = read_values(line);
      } else if (tag == "clip") {
        const auto v = read_values(line);
        g.clips.push_back({v.at(0), v.at(1), v.at(2), {}});
      } else if (tag == "clipped") {
        line >> a;
        g.clips.back().clipped[a] = read_values(line);
      } else {
        FAIL("unknown line in optim_golden.txt: " << text);
      }
    }
    return g;
  }();
  return g;
}

// ---------------------------------------------------------------- the problem

const std::vector<std::pair<std::string, Shape>> kParams = {
    {"w", {3, 4}}, {"b", {4}}, {"frozen", {2}}, {"u", {2, 3}}};
const std::vector<std::vector<std::string>> kGroups = {{"w", "b", "frozen"}, {"u"}};
const std::vector<std::string> kInLoss = {"w", "b", "u"};

Tensor make(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return to_dtype(from_vector(values, shape), dtype);
}

// Four parameters and the loss sum(a (p - c)(p - c) + d sin(p)) over w, b and u (not `frozen`).
struct Problem {
  std::map<std::string, Tensor> params;
  std::map<std::string, std::map<std::string, Tensor>> consts;

  explicit Problem(DType dtype) {
    for (const auto& [name, shape] : kParams)
      params[name] = make(golden().init.at(name), shape, dtype).set_requires_grad(true);
    for (const auto& [name, shape] : kParams)
      if (golden().consts.count(name))
        for (const auto& [key, values] : golden().consts.at(name))
          consts[name][key] = make(values, shape, dtype);
  }

  Tensor loss() const {
    Tensor total;
    for (const std::string& name : kInLoss) {
      const Tensor& p = params.at(name);
      const auto& c = consts.at(name);
      Tensor diff = p - c.at("c");
      Tensor term = sum(c.at("a") * diff * diff + c.at("d") * sin(p));
      total = total.defined() ? total + term : term;
    }
    return total;
  }

  std::vector<Tensor> group(size_t g) const {
    std::vector<Tensor> out;
    for (const std::string& name : kGroups[g]) out.push_back(params.at(name));
    return out;
  }

  std::vector<Tensor> all() const { return {params.at("w"), params.at("b"), params.at("frozen"),
                                            params.at("u")}; }
};

std::unique_ptr<Optimizer> make_optimizer(const GoldenCase& c, const Problem& problem) {
  auto group = [&](size_t g) { return problem.group(g); };
  if (c.kind == "SGD") {
    std::vector<ParamGroup<SGDOptions>> groups;
    for (size_t g = 0; g < c.groups.size(); ++g) {
      const auto& o = c.groups[g];
      groups.push_back({group(g), {.lr = o.at("lr"), .momentum = o.at("momentum"),
                                   .dampening = o.at("dampening"),
                                   .weight_decay = o.at("weight_decay"),
                                   .nesterov = o.at("nesterov") != 0}});
    }
    return std::make_unique<SGD>(groups);
  }
  auto adam_options = [&]<class O>(const std::map<std::string, double>& o) {
    return O{.lr = o.at("lr"), .beta1 = o.at("beta1"), .beta2 = o.at("beta2"), .eps = o.at("eps"),
             .weight_decay = o.at("weight_decay")};
  };
  if (c.kind == "Adam") {
    std::vector<ParamGroup<AdamOptions>> groups;
    for (size_t g = 0; g < c.groups.size(); ++g)
      groups.push_back({group(g), adam_options.template operator()<AdamOptions>(c.groups[g])});
    return std::make_unique<Adam>(groups);
  }
  REQUIRE(c.kind == "AdamW");
  std::vector<ParamGroup<AdamWOptions>> groups;
  for (size_t g = 0; g < c.groups.size(); ++g)
    groups.push_back({group(g), adam_options.template operator()<AdamWOptions>(c.groups[g])});
  return std::make_unique<AdamW>(groups);
}

void train_step(Optimizer& opt, const Problem& problem) {
  opt.zero_grad();
  problem.loss().backward();
  opt.step();
}

std::vector<Tensor> snapshot(const Problem& p) {
  std::vector<Tensor> out;
  for (const Tensor& t : p.all()) out.push_back(t.detach().clone());
  return out;
}

const GoldenCase& find_case(const std::string& name, const std::string& dtype) {
  for (const GoldenCase& c : golden().cases)
    if (c.name == name && c.dtype == dtype) return c;
  FAIL("no golden case " << name << " " << dtype);
  throw;
}

}  // namespace

// ---------------------------------------------------------------- against PyTorch

TEST_CASE("optimizers: first five steps match PyTorch 1.13", "[nn][optim]") {
  REQUIRE(golden().cases.size() >= 24);
  for (const GoldenCase& c : golden().cases) {
    DYNAMIC_SECTION(c.name << " " << c.dtype) {
      const DType dtype = c.dtype == "f32" ? DType::f32 : DType::f64;
      const double tolerance = dtype == DType::f32 ? 1e-6 : 1e-12;
      Problem problem(dtype);
      auto opt = make_optimizer(c, problem);
      for (int step = 1; step <= 5; ++step) {
        train_step(*opt, problem);
        for (const auto& [name, shape] : kParams) {
          const Tensor expected = make(c.after.at({step, name}), shape, DType::f64);
          INFO("step " << step << ", parameter " << name);
          CHECK(test::max_abs_diff(problem.params.at(name), expected) <= tolerance);
        }
      }
      // The parameter that never had a gradient is untouched and has no state.
      CHECK(problem.params.at("frozen").to_vector<double>() ==
            make(golden().init.at("frozen"), {2}, dtype).to_vector<double>());
      for (const auto& [key, value] : opt->state_dict()) CHECK(key.rfind("state.2.", 0) != 0);
    }
  }
}

TEST_CASE("clip_grad_norm_ matches PyTorch 1.13", "[nn][optim][clip]") {
  REQUIRE(golden().clips.size() == 5);
  const std::map<std::string, Shape> shapes = {{"w", {3, 4}}, {"b", {4}}, {"u", {2, 3}}};
  for (const ClipCase& c : golden().clips) {
    DYNAMIC_SECTION("norm_type " << c.norm_type << " max_norm " << c.max_norm) {
      std::vector<Tensor> params;
      for (const auto& [name, shape] : shapes) {
        Tensor p = zeros(shape).set_requires_grad(true);
        p.set_grad(make(golden().clip_grads.at(name), shape, DType::f32));
        params.push_back(p);
      }
      params.push_back(zeros({5}).set_requires_grad(true));  // no gradient: ignored
      const double total = clip_grad_norm_(params, c.max_norm, c.norm_type);
      CHECK(total == Approx(c.total).epsilon(1e-6));
      size_t i = 0;
      for (const auto& [name, shape] : shapes) {
        INFO(name);
        CHECK(test::max_abs_diff(params[i++].grad(), make(c.clipped.at(name), shape, DType::f64)) <=
              1e-6);
      }
      CHECK_FALSE(params.back().grad().defined());
    }
  }
}

TEST_CASE("clip_grad_norm_: edge cases", "[nn][optim][clip]") {
  Tensor p = zeros({3}).set_requires_grad(true);
  CHECK(clip_grad_norm_({p}, 1.0) == 0.0);  // no gradients at all

  SECTION("below max_norm: gradients unchanged, bit for bit") {
    p.set_grad(tensor({0.3f, -0.4f, 0.0f}));
    CHECK(clip_grad_norm_({p}, 1.0) == Approx(0.5));
    CHECK(p.grad().to_vector<float>() == std::vector<float>{0.3f, -0.4f, 0.0f});
  }
  SECTION("above max_norm: scaled to max_norm / (total + 1e-6)") {
    p.set_grad(tensor({3.0f, -4.0f, 0.0f}));
    CHECK(clip_grad_norm_({p}, 1.0) == Approx(5.0));
    CHECK(p.grad().to_vector<double>()[0] == Approx(3.0 / (5.0 + 1e-6)).epsilon(1e-6));
    CHECK(std::sqrt(sum(p.grad() * p.grad()).item<double>()) == Approx(1.0).epsilon(1e-6));
  }
  SECTION("a NaN norm reaches the gradients, or is an error when asked") {
    p.set_grad(tensor({1.0f, NAN, 0.0f}));
    CHECK_THROWS_WITH(clip_grad_norm_({p}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                      Catch::Contains("total norm of order 2") && Catch::Contains("nan"));
    CHECK(p.grad().to_vector<float>()[0] == 1.0f);  // the error left it alone
    CHECK(std::isnan(clip_grad_norm_({p}, 1.0)));
    CHECK(std::isnan(p.grad().to_vector<float>()[0]));
  }
  SECTION("empty gradients and the inf-norm") {
    Tensor empty = zeros({0}).set_requires_grad(true);
    empty.set_grad(zeros({0}));
    p.set_grad(tensor({1.0f, -7.0f, 2.0f}));
    CHECK(clip_grad_norm_({empty, p}, 100.0, kInfNorm) == 7.0);
  }
  CHECK_THROWS_WITH(clip_grad_norm_({p}, 1.0, 0.0), Catch::Contains("norm_type must be positive"));
}

// ---------------------------------------------------------------- state dicts

TEST_CASE("optimizers: state_dict round trip resumes bit-exactly", "[nn][optim]") {
  const bool through_file = GENERATE(false, true);
  for (const std::string name : {"sgd_dampening_wd", "sgd_nesterov_wd", "sgd_groups", "adam_wd",
                                 "adamw_groups", "adam_groups"}) {
    DYNAMIC_SECTION(name << (through_file ? " via safetensors" : "")) {
      const GoldenCase& c = find_case(name, "f32");
      Problem a(DType::f32);
      auto opt_a = make_optimizer(c, a);
      LrScheduler sched_a(*opt_a, warmup_cosine(2, 10, 1e-4));
      for (int i = 0; i < 3; ++i) {
        train_step(*opt_a, a);
        sched_a.step();
      }
      StateDict state = opt_a->state_dict();
      StateDict sched_state = sched_a.state_dict();
      const std::vector<Tensor> params_at_3 = snapshot(a);
      if (through_file) {
        const std::string path = "/tmp/dg_test_optim_state.safetensors";
        save_safetensors(path, state);
        state = load_safetensors(path);
        std::remove(path.c_str());
      }
      for (int i = 0; i < 4; ++i) {
        train_step(*opt_a, a);
        sched_a.step();
      }

      // A fresh model and optimizer, deliberately built with other learning rates: the state
      // dicts must restore them.
      Problem b(DType::f32);
      for (size_t i = 0; i < params_at_3.size(); ++i) {
        NoGradGuard no_grad;
        b.all()[i].copy_(params_at_3[i]);
      }
      auto opt_b = make_optimizer(c, b);
      for (size_t g = 0; g < opt_b->num_param_groups(); ++g) opt_b->set_lr(g, 0.5);
      LrScheduler sched_b(*opt_b, warmup_cosine(2, 10, 1e-4));
      opt_b->load_state_dict(state);
      CHECK(opt_b->lr(0) == state.at("param_groups.0.lr").item<double>());
      CHECK(opt_b->lr(0) != 0.5);
      sched_b.load_state_dict(sched_state);
      for (int i = 0; i < 4; ++i) {
        train_step(*opt_b, b);
        sched_b.step();
      }
      for (size_t i = 0; i < params_at_3.size(); ++i)
        CHECK(a.all()[i].to_vector<float>() == b.all()[i].to_vector<float>());
      // And the states agree too.
      const StateDict sa = opt_a->state_dict(), sb = opt_b->state_dict();
      REQUIRE(sa.size() == sb.size());
      for (const auto& [key, value] : sa) {
        INFO(key);
        REQUIRE(sb.count(key));
        CHECK(value.to_vector<double>() == sb.at(key).to_vector<double>());
      }
    }
  }
}

TEST_CASE("optimizers: state_dict keys", "[nn][optim]") {
  Problem p(DType::f32);
  SECTION("SGD") {
    SGD opt({{p.group(0), {.lr = 0.1, .momentum = 0.9}}, {p.group(1), {.lr = 0.2}}});
    train_step(opt, p);
    std::vector<std::string> keys;
    for (const auto& [key, value] : opt.state_dict()) keys.push_back(key);
    CHECK(keys == std::vector<std::string>{
                      "param_groups.0.dampening", "param_groups.0.lr", "param_groups.0.momentum",
                      "param_groups.0.nesterov", "param_groups.0.params",
                      "param_groups.0.weight_decay", "param_groups.1.dampening",
                      "param_groups.1.lr", "param_groups.1.momentum", "param_groups.1.nesterov",
                      "param_groups.1.params", "param_groups.1.weight_decay",
                      "state.0.momentum_buffer", "state.1.momentum_buffer"});
    const StateDict s = opt.state_dict();
    CHECK(s.at("param_groups.1.params").to_vector<int64_t>() == std::vector<int64_t>{3});
    CHECK(s.at("param_groups.0.params").to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2});
    CHECK(s.at("param_groups.1.lr").item<double>() == 0.2);
    CHECK(s.at("param_groups.0.nesterov").dtype() == DType::b8);
  }
  SECTION("Adam") {
    Adam opt(p.all(), {.lr = 0.01});
    train_step(opt, p);
    train_step(opt, p);
    const StateDict s = opt.state_dict();
    for (int i : {0, 1, 3}) {
      CHECK(s.at(fmt::format("state.{}.step", i)).item<int64_t>() == 2);
      CHECK(s.at(fmt::format("state.{}.exp_avg", i)).shape() == p.all()[i].shape());
      CHECK(s.at(fmt::format("state.{}.exp_avg_sq", i)).dtype() == DType::f32);
    }
    CHECK(s.count("state.2.step") == 0);
    CHECK(s.count("param_groups.0.beta2") == 1);
    // A copy, not a view of the live state.
    Tensor m = s.at("state.0.exp_avg").clone();
    train_step(opt, p);
    CHECK(s.at("state.0.exp_avg").to_vector<float>() == m.to_vector<float>());
  }
}

TEST_CASE("optimizers: load_state_dict rejects mismatches and changes nothing", "[nn][optim]") {
  Problem p(DType::f32);
  Adam opt({{p.group(0), {.lr = 0.01}}, {p.group(1), {.lr = 0.02}}});
  train_step(opt, p);
  const StateDict good = opt.state_dict();
  auto unchanged = [&] {
    const StateDict now = opt.state_dict();
    REQUIRE(now.size() == good.size());
    for (const auto& [key, value] : good) CHECK(now.at(key).to_vector<double>() == value.to_vector<double>());
  };

  StateDict bad = good;
  SECTION("wrong shape") {
    bad["state.3.exp_avg"] = zeros({3, 2});
    CHECK_THROWS_WITH(opt.load_state_dict(bad),
                      Catch::Contains("'state.3.exp_avg' has shape [3,2]") &&
                          Catch::Contains("[2,3]"));
  }
  SECTION("missing key") {
    bad.erase("state.1.exp_avg_sq");
    CHECK_THROWS_WITH(opt.load_state_dict(bad), Catch::Contains("missing key 'state.1.exp_avg_sq'"));
  }
  SECTION("unexpected key (the state of another optimizer)") {
    bad["state.0.momentum_buffer"] = zeros({3, 4});
    CHECK_THROWS_WITH(opt.load_state_dict(bad),
                      Catch::Contains("unexpected key 'state.0.momentum_buffer'"));
  }
  SECTION("different grouping") {
    Adam one_group(p.all());
    CHECK_THROWS_WITH(one_group.load_state_dict(good),
                      Catch::Contains("has 2 parameter groups, this optimizer 1"));
    bad["param_groups.1.params"] = tensor_i64({2});
    CHECK_THROWS_WITH(opt.load_state_dict(bad), Catch::Contains("group 1 should hold parameters [3, 4)"));
  }
  SECTION("invalid hyperparameter") {
    bad["param_groups.0.beta1"] = scalar(1.5, DType::f64);
    bad["state.0.exp_avg"] = ones({3, 4});  // would change the state if anything were committed
    CHECK_THROWS_WITH(opt.load_state_dict(bad), Catch::Contains("invalid beta1 1.5"));
  }
  unchanged();
  CHECK(opt.lr(1) == 0.02);
}

// ---------------------------------------------------------------- behaviour and errors

TEST_CASE("optimizers: constructor checks", "[nn][optim]") {
  Tensor w = zeros({2}).set_requires_grad(true);
  CHECK_THROWS_WITH(SGD(std::vector<Tensor>{}), Catch::Contains("SGD: got an empty parameter list"));
  CHECK_THROWS_WITH(SGD({w, w}), Catch::Contains("appears more than once"));
  CHECK_THROWS_WITH(Adam({{{w}, {}}, {{w}, {}}}), Catch::Contains("appears more than once"));
  CHECK_THROWS_WITH(SGD({tensor_i64({1, 2})}), Catch::Contains("has dtype i64"));
  CHECK_THROWS_WITH(SGD({w * 2.0}), Catch::Contains("is not a leaf"));
  CHECK_THROWS_WITH(SGD({w}, {.lr = -1}), Catch::Contains("SGD: invalid learning rate -1"));
  CHECK_THROWS_WITH(SGD({w}, {.nesterov = true}),
                    Catch::Contains("Nesterov momentum requires momentum > 0"));
  CHECK_THROWS_WITH(Adam({w}, {.beta2 = 1.0}), Catch::Contains("Adam: invalid beta2 1"));
  CHECK_THROWS_WITH(AdamW({w}, {.eps = -1e-8}), Catch::Contains("AdamW: invalid eps"));
  CHECK(AdamW({w}).options(0).weight_decay == 1e-2);  // PyTorch's default
  CHECK(Adam({w}).options(0).weight_decay == 0.0);
}

TEST_CASE("optimizers: step, zero_grad and gradient checks", "[nn][optim]") {
  Tensor w = tensor({1.0f, 2.0f}).set_requires_grad(true);
  Tensor v = tensor({5.0f}).set_requires_grad(true);
  SGD opt({w, v}, {.lr = 0.5});
  w.set_grad(tensor({1.0f, -2.0f}));
  opt.step();
  CHECK(w.to_vector<float>() == std::vector<float>{0.5f, 3.0f});
  CHECK(v.to_vector<float>() == std::vector<float>{5.0f});  // no gradient: skipped
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());

  opt.zero_grad(/*set_to_none=*/false);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{0.0f, 0.0f});
  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());

  // A gradient of the wrong shape is refused before any parameter moves.
  w.set_grad(tensor({1.0f, 1.0f}));
  v.set_grad(tensor({1.0f, 1.0f}));
  CHECK_THROWS_WITH(opt.step(), Catch::Contains("SGD: parameter 1 (f32 [1] on cpu) has a gradient of shape [2]"));
  CHECK(w.to_vector<float>() == std::vector<float>{0.5f, 3.0f});

  // Hyperparameters changed between steps are checked at the step.
  v.zero_grad();
  opt.options(0).momentum = -1;
  CHECK_THROWS_WITH(opt.step(), Catch::Contains("invalid momentum -1"));
  CHECK_THROWS_WITH(opt.set_lr(0, -0.1), Catch::Contains("invalid learning rate"));
  CHECK_THROWS_WITH(opt.lr(3), Catch::Contains("no parameter group 3"));
}

TEST_CASE("optimizers: a step allocates no parameter-sized temporaries", "[nn][optim]") {
  // 256 KiB parameters; each temporary the size of one would show in the peak.
  const size_t n = 256 * 256;
  std::vector<Tensor> params;
  for (int i = 0; i < 3; ++i) {
    Tensor p = zeros({256, 256}).set_requires_grad(true);
    p.set_grad(full({256, 256}, 0.01 * (i + 1)));
    params.push_back(p);
  }
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  optimizers.push_back(std::make_unique<SGD>(
      params, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true}));
  optimizers.push_back(std::make_unique<Adam>(params, AdamOptions{.weight_decay = 0.1}));
  optimizers.push_back(std::make_unique<AdamW>(params));
  for (auto& opt : optimizers) {
    opt->step();  // the first step creates the state and the scratch buffers
    const size_t before = CpuAllocator::stats().bytes_in_use;
    CpuAllocator::reset_peak();
    opt->step();
    const AllocatorStats after = CpuAllocator::stats();
    CHECK(after.bytes_in_use == before);
    CHECK(after.peak_bytes_in_use - before < n * sizeof(float) / 4);  // a quarter parameter
  }
}
