// Printing (Tensor::to_string): small tensors of every dtype print NumPy style with one number
// format per tensor, big ones are summarised with "...", long rows wrap, and the edge cases (0-dim,
// empty, non-contiguous, non-finite values, autograd state) print sensibly.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <sstream>

#include "engine/ops/ops.h"

using namespace dg;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("print: f32 matrix with aligned columns in fixed notation") {
  Tensor t = tensor({1.5f, -2.f, 3.25f, 0.f, 10.f, -0.125f}, {2, 3});
  CHECK(t.to_string() ==
        "tensor([[ 1.5000, -2.0000,  3.2500],\n"
        "        [ 0.0000, 10.0000, -0.1250]], shape=[2,3], dtype=f32)");
}

TEST_CASE("print: whole-number floats print as '3.'") {
  CHECK(tensor({1, 2, 3}).to_string() == "tensor([1., 2., 3.], shape=[3], dtype=f32)");
  CHECK(tensor_f64({-1, 0, 12}).to_string() == "tensor([-1.,  0., 12.], shape=[3], dtype=f64)");
}

TEST_CASE("print: widely spread or tiny magnitudes switch to scientific notation") {
  CHECK(tensor_f64({1e-5, 1.0}).to_string() ==
        "tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=f64)");
  CHECK(tensor({0.5f, 5000.f}).to_string() ==
        "tensor([5.0000e-01, 5.0000e+03], shape=[2], dtype=f32)");
  CHECK(tensor_f64({3e9, 1.0}).to_string() ==
        "tensor([3.0000e+09, 1.0000e+00], shape=[2], dtype=f64)");
}

TEST_CASE("print: i64 prints exact integers, even beyond 2^53") {
  CHECK(tensor_i64({-1, 20, 300}).to_string() == "tensor([ -1,  20, 300], shape=[3], dtype=i64)");
  CHECK(tensor_i64({(int64_t{1} << 60) + 1}).to_string() ==
        "tensor([1152921504606846977], shape=[1], dtype=i64)");
}

TEST_CASE("print: bool") {
  CHECK(from_vector(std::vector<bool>{true, false, true}, {3}).to_string() ==
        "tensor([ true, false,  true], shape=[3], dtype=bool)");
}

TEST_CASE("print: 0-dim tensors of each dtype") {
  CHECK(scalar(2.5).to_string() == "tensor(2.5000, shape=[], dtype=f32)");
  CHECK(scalar(-4, DType::f64).to_string() == "tensor(-4., shape=[], dtype=f64)");
  CHECK(scalar(7, DType::i64).to_string() == "tensor(7, shape=[], dtype=i64)");
  CHECK(scalar(1, DType::b8).to_string() == "tensor(true, shape=[], dtype=bool)");
}

TEST_CASE("print: empty tensors and undefined handles") {
  CHECK(zeros({0}).to_string() == "tensor([], shape=[0], dtype=f32)");
  CHECK(zeros({2, 0}).to_string() == "tensor([[],\n        []], shape=[2,0], dtype=f32)");
  CHECK(Tensor().to_string() == "tensor(undefined)");
}

TEST_CASE("print: non-finite values keep the column format of the finite ones") {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor t = tensor_f64({std::nan(""), inf, -inf, 1.5});
  CHECK(t.to_string() == "tensor([   nan,    inf,   -inf, 1.5000], shape=[4], dtype=f64)");
}

TEST_CASE("print: views print their own logical layout") {
  Tensor t = arange(6).reshape({2, 3}).transpose(0, 1);
  CHECK(t.to_string() == "tensor([[0, 3],\n        [1, 4],\n        [2, 5]], shape=[3,2], dtype=i64)");
  CHECK(narrow(arange(10), 0, 7, 3).to_string() == "tensor([7, 8, 9], shape=[3], dtype=i64)");
}

TEST_CASE("print: 3-D tensors separate matrices with a blank line") {
  CHECK(arange(8).reshape({2, 2, 2}).to_string() ==
        "tensor([[[0, 1],\n"
        "         [2, 3]],\n"
        "\n"
        "        [[4, 5],\n"
        "         [6, 7]]], shape=[2,2,2], dtype=i64)");
}

TEST_CASE("print: big tensors are summarised with the first and last three entries") {
  CHECK(arange(2000).to_string() ==
        "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000], dtype=i64)");

  const std::vector<std::string> lines = lines_of(arange(1600).reshape({40, 40}).to_string());
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] == "tensor([[   0,    1,    2, ...,   37,   38,   39],");
  CHECK(lines[2] == "        [  80,   81,   82, ...,  117,  118,  119],");
  CHECK(lines[3] == "        ...,");
  CHECK(lines[6] == "        [1560, 1561, 1562, ..., 1597, 1598, 1599]], shape=[40,40], dtype=i64)");

  // A 3-D tensor summarises every long dim, and the elided matrices keep the blank-line spacing.
  const std::string s = arange(11 * 11 * 11).reshape({11, 11, 11}).to_string();
  CHECK_THAT(s, Catch::StartsWith("tensor([[[   0,    1,    2, ...,    8,    9,   10],\n"
                                  "         [  11,   12,   13, ...,   19,   20,   21],\n"
                                  "         [  22,   23,   24, ...,   30,   31,   32],\n"
                                  "         ...,\n"));
  CHECK_THAT(s, Catch::Contains("]],\n\n        ...,\n\n        [["));
  CHECK_THAT(s, Catch::EndsWith("[1320, 1321, 1322, ..., 1328, 1329, 1330]]], shape=[11,11,11], dtype=i64)"));
  CHECK(lines_of(s).size() == 6 * 7 + 6 + 1);  // 6 matrices of 7 lines, 6 blank lines, "..."
}

TEST_CASE("print: the float format is chosen from the entries shown") {
  // 1e-9 is elided, so the shown entries are whole numbers.
  Tensor t = arange(0, 2000, 1, DType::f64);
  t.narrow(0, 1000, 1).fill_(1e-9);
  CHECK(t.to_string() ==
        "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape=[2000], dtype=f64)");
}

TEST_CASE("print: long rows wrap at 80 columns, under the opening bracket") {
  const std::string s = arange(0, 1000, 1, DType::f32).to_string();
  CHECK_THAT(s, !Catch::Contains("..."));  // 1000 entries are not yet summarised
  const std::vector<std::string> lines = lines_of(s);
  CHECK(lines.size() > 50);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    INFO("line " << i << ": " << lines[i]);
    CHECK(lines[i].size() <= 80);
    if (i > 0) CHECK_THAT(lines[i], Catch::StartsWith("        "));
  }
  CHECK_THAT(lines[0], Catch::StartsWith("tensor([  0.,   1.,   2.,"));
  CHECK_THAT(lines.back(), Catch::EndsWith("999.], shape=[1000], dtype=f32)"));
}

TEST_CASE("print: autograd state is shown") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  CHECK(x.to_string() == "tensor([1., 2.], shape=[2], dtype=f32, requires_grad=true)");
  CHECK((x * x).to_string() == "tensor([1., 4.], shape=[2], dtype=f32, grad_fn=mul)");
}
