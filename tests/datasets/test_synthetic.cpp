// The synthetic sequence tasks: shapes, the defining properties of each example (two markers in
// the right ranges and a target equal to their values' sum; the copy target is the input's symbols
// after the delay), and seeding.
#include <catch2/catch.hpp>

#include "datasets/synthetic.h"

using namespace dg;
using namespace dg::data;

TEST_CASE("synthetic: the adding task", "[datasets][synthetic]") {
  const int64_t n = 64, length = 50;
  const TensorDataset data = make_adding_task(n, length, 7);
  REQUIRE(data.inputs().shape() == Shape{n, length, 2});
  REQUIRE(data.targets().shape() == Shape{n, 1});
  const auto x = data.inputs().to_vector<float>();
  const auto y = data.targets().to_vector<float>();
  bool all_ok = true;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> marked;
    for (int64_t t = 0; t < length; ++t) {
      const float value = x[(i * length + t) * 2], marker = x[(i * length + t) * 2 + 1];
      all_ok &= value >= -0.5f && value < 0.5f;
      all_ok &= marker == 0.0f || marker == 1.0f;
      if (marker == 1.0f) marked.push_back(t);
    }
    REQUIRE(marked.size() == 2);
    all_ok &= marked[0] < length / 10 && marked[1] >= length / 2;
    all_ok &= y[i] == x[(i * length + marked[0]) * 2] + x[(i * length + marked[1]) * 2];
  }
  CHECK(all_ok);

  CHECK(make_adding_task(n, length, 7).inputs().to_vector<float>() == x);
  CHECK(make_adding_task(n, length, 8).inputs().to_vector<float>() != x);
  // Short sequences still get a valid first-marker range.
  CHECK(make_adding_task(3, 2, 1).inputs().shape() == Shape{3, 2, 2});
  CHECK_THROWS_WITH(make_adding_task(3, 1, 1), Catch::Contains("length must be at least 2"));
}

TEST_CASE("synthetic: the copy task", "[datasets][synthetic]") {
  const int64_t n = 16, delay = 5, seq = 4, symbols = 3;
  const TensorDataset data = make_copy_task(n, delay, 3, seq, symbols);
  const int64_t total = delay + 2 * seq;
  REQUIRE(data.inputs().shape() == Shape{n, total});
  REQUIRE(data.targets().shape() == Shape{n, total});
  const auto x = data.inputs().to_vector<int64_t>();
  const auto y = data.targets().to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* in = x.data() + i * total;
    const int64_t* out = y.data() + i * total;
    for (int64_t s = 0; s < seq; ++s) {
      CHECK(in[s] >= 1);
      CHECK(in[s] <= symbols);
      CHECK(out[delay + seq + s] == in[s]);
    }
    for (int64_t t = seq; t < total; ++t) CHECK(in[t] == (t == seq + delay - 1 ? symbols + 1 : 0));
    for (int64_t t = 0; t < delay + seq; ++t) CHECK(out[t] == 0);
  }
  CHECK(make_copy_task(n, delay, 3, seq, symbols).inputs().to_vector<int64_t>() == x);
  CHECK_THROWS_WITH(make_copy_task(1, 0, 1), Catch::Contains("delay must be at least 1"));
}
