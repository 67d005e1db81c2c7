// The autograd engine's contract: implicit and explicit root gradients, accumulation, retained and
// freed graphs, functional grad(), grad modes, hooks, version checks on saved tensors, higher-order
// gradients, unbounded depth, and no reference cycles.
#include <catch2/catch.hpp>

#include "engine/ops/ops.h"
#include "tests/engine/test_util.h"

using namespace dg;
using dg::test::values;

TEST_CASE("autograd: implicit gradient only for one-element outputs") {
  Tensor x = tensor({1, 2, 3}).set_requires_grad();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("backward: grad can be implicitly created only for a one-element output, got shape [3]"));
  y.backward(tensor({1, 10, 100}));
  CHECK(values(x.grad()) == std::vector<double>{2, 20, 200});
}

TEST_CASE("autograd: explicit gradient must match the output's shape") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor y = x * x;
  CHECK_THROWS_WITH(y.backward(tensor({1, 2, 3})), Catch::Contains("gradient has shape [3]"));
}

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  sum(x * x).backward();
  sum(x * 3.0).backward();
  CHECK(values(x.grad()) == std::vector<double>{2 + 3, 4 + 3});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  CHECK(values(x.grad()) == std::vector<double>{1, 1});
}

TEST_CASE("autograd: a second backward through a freed graph is an error; retain_graph keeps it") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor loss = sum(exp(x));
  loss.backward();
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("backward through the graph a second time"));

  Tensor loss2 = sum(exp(x));
  x.zero_grad();
  loss2.backward(Tensor(), /*retain_graph=*/true);
  loss2.backward();
  const auto g = values(x.grad());
  CHECK(g[0] == Approx(2 * std::exp(1.0)));
  CHECK(g[1] == Approx(2 * std::exp(2.0)));
}

TEST_CASE("autograd: a gradient used by two paths is summed (diamond)") {
  Tensor x = tensor({3}).set_requires_grad();
  Tensor a = x * 2.0, b = x * x;
  (a * b).sum().backward();  // d/dx 2x^3 = 6x^2
  CHECK(x.grad().item<double>() == Approx(54));
}

TEST_CASE("autograd: broadcast gradients are reduced to each input's shape") {
  Tensor a = ones({3, 1}).set_requires_grad();
  Tensor b = ones({4}).set_requires_grad();
  Tensor s = ones({}).set_requires_grad();
  sum((a + b) * s).backward();
  CHECK(a.grad().shape() == Shape{3, 1});
  CHECK(values(a.grad()) == std::vector<double>{4, 4, 4});
  CHECK(b.grad().shape() == Shape{4});
  CHECK(values(b.grad()) == std::vector<double>{3, 3, 3, 3});
  CHECK(s.grad().shape() == Shape{});
  CHECK(s.grad().item<double>() == 24);
}

TEST_CASE("autograd: grad() returns gradients without touching .grad") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor y = tensor({5}).set_requires_grad();
  Tensor unused = tensor({7}).set_requires_grad();
  Tensor loss = sum(x * x) * y;
  auto g = grad({loss}, {x, y}, {}, /*retain_graph=*/true);
  CHECK(values(g[0]) == std::vector<double>{10, 20});
  CHECK(values(g[1]) == std::vector<double>{5});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(y.grad().defined());
  CHECK_THROWS_WITH(grad({loss}, {unused}, {}, true), Catch::Contains("not reachable"));
  auto g2 = grad({loss}, {x, unused}, {}, false, false, /*allow_unused=*/true);
  CHECK(g2[0].defined());
  CHECK_FALSE(g2[1].defined());
}

TEST_CASE("autograd: grad() of an intermediate (non-leaf) tensor") {
  Tensor x = tensor({2}).set_requires_grad();
  Tensor h = x * 3.0;
  Tensor loss = sum(h * h);
  auto g = grad({loss}, {h});
  CHECK(g[0].item<double>() == Approx(12));
}

TEST_CASE("autograd: NoGradGuard stops recording; EnableGradGuard restores it inside") {
  Tensor x = tensor({1}).set_requires_grad();
  {
    NoGradGuard no_grad;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    {
      EnableGradGuard enable;
      CHECK((x * 2.0).requires_grad());
    }
    CHECK_FALSE(grad_enabled());
  }
  CHECK(grad_enabled());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("autograd: detach shares storage and cuts the graph") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  CHECK(d.storage() == y.storage());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  sum(d * x).backward();
  CHECK(values(x.grad()) == std::vector<double>{2, 4});  // d counted as a constant
}

TEST_CASE("autograd: leaf and non-leaf hooks see and may replace the gradient") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    seen = values(g);
    return g * 10.0;
  });
  Tensor h = x * 3.0;
  h.register_hook([](const Tensor& g) { return g + 1.0; });
  sum(h).backward();
  CHECK(seen == std::vector<double>{6, 6});  // (1 + 1) * 3
  CHECK(values(x.grad()) == std::vector<double>{60, 60});
}

TEST_CASE("autograd: retain_grad keeps a non-leaf's gradient") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor h = x * 3.0;
  h.retain_grad();
  sum(h * h).backward();
  CHECK(values(h.grad()) == std::vector<double>{6, 12});
}

TEST_CASE("autograd: an in-place change to a saved tensor is detected at backward") {
  Tensor w = tensor({1, 2}).set_requires_grad();
  Tensor x = tensor({3, 4});
  Tensor loss = sum(w * x);  // mul saves x
  x.add_(1.0);
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("saved by 'mul' for its backward was modified by an in-place operation (version 0 -> 1)"));
}

TEST_CASE("autograd: an in-place change through a view is detected too") {
  Tensor w = tensor({1, 2, 3, 4}).set_requires_grad();
  Tensor x = tensor({1, 1, 1, 1});
  Tensor loss = sum(exp(w) * x);
  Tensor view_of_x = x.narrow(0, 1, 2);
  view_of_x.fill_(5.0);
  CHECK(values(x) == std::vector<double>{1, 5, 5, 1});
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("modified by an in-place operation"));
}

TEST_CASE("autograd: an in-place change to a saved output is detected") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor y = exp(x);  // exp saves its output
  Tensor loss = sum(y);
  {
    NoGradGuard no_grad;
    y.mul_(2.0);
  }
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("output of 'exp'"));
}

TEST_CASE("autograd: in-place ops on tensors that require grad are refused in grad mode") {
  Tensor w = tensor({1, 2}).set_requires_grad();
  CHECK_THROWS_WITH(w.add_(1.0), Catch::Contains("add_: in-place operation on a tensor of shape [2] that requires grad"));
  {
    NoGradGuard no_grad;
    w.add_(1.0);
  }
  CHECK(values(w) == std::vector<double>{2, 3});
}

TEST_CASE("autograd: second-order gradients through create_graph") {
  Tensor x = tensor_f64({2.0}).set_requires_grad();
  Tensor y = x * x * x;
  auto dy = grad({y.sum()}, {x}, {}, true, /*create_graph=*/true);
  CHECK(dy[0].item<double>() == Approx(12.0));
  CHECK(dy[0].requires_grad());
  auto d2y = grad({dy[0].sum()}, {x});
  CHECK(d2y[0].item<double>() == Approx(12.0));  // 6x
  // Through an op that saves its output: d2/dx2 exp(sin x)
  Tensor z = tensor_f64({0.3}).set_requires_grad();
  auto dz = grad({exp(sin(z)).sum()}, {z}, {}, true, true);
  auto d2z = grad({dz[0].sum()}, {z});
  const double s = std::sin(0.3), c = std::cos(0.3);
  CHECK(d2z[0].item<double>() == Approx(std::exp(s) * (c * c - s)));
}

TEST_CASE("autograd: backward over a very deep graph does not recurse") {
  Tensor x = tensor({1}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 1.0;
  y.sum().backward();
  CHECK(x.grad().item<double>() == 1.0);
}

TEST_CASE("autograd: a very deep graph is destroyed without recursion") {
  // Dropping the last handle frees the whole chain; done recursively this would overflow the stack.
  Tensor x = tensor({1}).set_requires_grad();
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = (y * 1.0) + 1.0;  // edges and saved tensors
  }
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = exp(y * 0.0);  // saved outputs
    sum(y).backward(Tensor(), /*retain_graph=*/true);
  }
  CHECK(x.grad().defined());
}

TEST_CASE("autograd: the graph is freed after backward and holds no reference cycles") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  std::weak_ptr<Storage> intermediate;
  std::weak_ptr<Node> node;
  Tensor loss;
  {
    Tensor t = exp(x * 2.0);  // exp saves its own output: a potential cycle
    intermediate = t.storage();
    node = t.grad_fn();
    loss = sum(t * t);
  }
  CHECK_FALSE(intermediate.expired());  // the graph holds it for backward
  loss.backward();
  CHECK(intermediate.expired());  // freed with the graph's saved tensors
  loss = Tensor();
  CHECK(node.expired());
}

TEST_CASE("autograd: set_requires_grad only on floating leaves") {
  CHECK_THROWS_WITH(tensor_i64({1, 2}).set_requires_grad(), Catch::Contains("only floating tensors can require grad, got dtype i64"));
  Tensor x = tensor({1}).set_requires_grad();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH(y.set_requires_grad(false), Catch::Contains("only leaves can change requires_grad"));
}

TEST_CASE("autograd: optional (undefined) tensors can be passed to needs_grad and saved") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor missing;
  CHECK_FALSE(missing.requires_grad());
  CHECK(needs_grad(x, missing));
  CHECK_FALSE(needs_grad(missing));
  Tensor y = x * 2.0;
  record(OpId::mul, y, {x}, {missing}, [](const BackwardArgs& a) -> Grads {
    CHECK_FALSE(a.saved[0].defined());
    return {a.grad * 2.0};
  });
  sum(y).backward();
  CHECK(values(x.grad()) == std::vector<double>{2, 2});
}

TEST_CASE("autograd: in-place accumulation never writes into a gradient shared with another path") {
  // add's backward hands one tensor to both inputs; the hook keeps a handle to a pending buffer.
  Tensor x = tensor({1, 2, 3}).set_requires_grad();
  Tensor a = x * 1.0, b = x * 1.0;
  Tensor seen;
  a.register_hook([&seen](const Tensor& g) {
    seen = g;
    return Tensor();
  });
  Tensor y = (a + b) + a;  // a receives two contributions, the first shared with b
  y.backward(tensor({1, 10, 100}));
  CHECK(values(x.grad()) == std::vector<double>{3, 30, 300});
  CHECK(values(seen) == std::vector<double>{2, 20, 200});
}

TEST_CASE("autograd: slices of one tensor accumulate into its gradient region by region") {
  // Overlapping narrows, a select, chunks and a use of the whole tensor: the gradient must be the
  // sum of every contribution in its region, the same as padding each one (the create_graph path).
  Tensor x = arange(24).to(DType::f64).reshape({4, 6}).set_requires_grad();
  auto loss_of = [](const Tensor& x) {
    const std::vector<Tensor> parts = chunk(x, 3, 1);
    Tensor loss = sum(parts[0] * 2.0) + sum(parts[2] * parts[2]);
    loss = loss + sum(narrow(x, 0, 1, 2) * 5.0) + sum(narrow(x, 0, 2, 2) * 7.0);
    loss = loss + sum(select(x, 1, 3) * 11.0) + sum(x * 0.5);
    return loss;
  };
  loss_of(x).backward();
  const Tensor fast = x.grad().clone();
  const Tensor composed = grad({loss_of(x)}, {x}, {}, false, /*create_graph=*/true)[0];
  REQUIRE(fast.shape() == Shape{4, 6});
  CHECK(values(fast) == values(composed.detach()));
  // One element by hand: x[2][5] = 17 is in chunk 2 (2x), rows 1-2 (5) and 2-3 (7), plus 0.5.
  CHECK(values(fast)[2 * 6 + 5] == 2 * 17.0 + 5 + 7 + 0.5);
  CHECK(values(fast)[3 * 6 + 3] == 7 + 11 + 0.5);
}
