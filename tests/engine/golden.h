// A reader for the golden reference files in tests/reference/*.txt, which make_golden.py writes from
// PyTorch: each case names an op, its attributes, its inputs, PyTorch's outputs, a projection v per
// projected output and the gradients of sum(output * v). The format (see tests/reference/README.md)
// is whitespace-separated tokens, '#' starting a comment:
//
//   case <name...>            the rest of the line is the name
//   op <op>
//   attr <key> <value>
//   input|output|proj|grad <name> <f64|f32|i64> [d0,d1,...]   then numel values, row-major
//   end
//
// Values are "%.17g" decimals, "inf", "-inf" or "nan" (parsed with strtod, since istream cannot).
#pragma once

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops/ops.h"

namespace dg::test {

struct GoldenTensor {
  std::string name;
  DType dtype = DType::f64;
  Shape shape;
  std::vector<double> values;  // row-major; i64 values are exact (|v| < 2^53 is checked)

  // A fresh contiguous tensor (a leaf, not requiring grad) holding the values.
  Tensor to_tensor() const {
    Tensor t = Tensor::empty(shape, dtype);
    visit_dtype(dtype, [&]<class T>() {
      T* out = t.data<T>();
      for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<T>(values[i]);
    });
    return t;
  }
};

struct GoldenCase {
  std::string name;
  std::string op;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<GoldenTensor> inputs, outputs, projections, grads;

  const std::string& attr(const std::string& key) const {
    for (const auto& [k, v] : attrs)
      if (k == key) return v;
    throw std::runtime_error("golden case '" + name + "': no attribute '" + key + "'");
  }
  int64_t attr_int(const std::string& key) const { return std::stoll(attr(key)); }
  bool attr_bool(const std::string& key) const { return attr_int(key) != 0; }
  double attr_double(const std::string& key) const { return std::strtod(attr(key).c_str(), nullptr); }
  // A comma-separated list such as "0,-1".
  std::vector<int64_t> attr_ints(const std::string& key) const {
    std::vector<int64_t> out;
    std::stringstream list(attr(key));
    for (std::string item; std::getline(list, item, ',');) out.push_back(std::stoll(item));
    return out;
  }

  // The tensor named `name` in `list` (inputs, outputs, ...), or null.
  static const GoldenTensor* find(const std::vector<GoldenTensor>& list, const std::string& name) {
    for (const GoldenTensor& t : list)
      if (t.name == name) return &t;
    return nullptr;
  }
};

namespace golden_detail {

// A token and the line it came from (for error messages).
struct Token {
  std::string text;
  int line;
};

class Parser {
 public:
  Parser(const std::string& text, std::string source) : source_(std::move(source)) {
    std::istringstream in(text);
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      line = line.substr(0, line.find('#'));
      std::istringstream words(line);
      for (std::string w; words >> w;) tokens_.push_back({w, line_no});
    }
  }

  std::vector<GoldenCase> parse() {
    std::vector<GoldenCase> cases;
    while (pos_ < tokens_.size()) {
      expect("case");
      GoldenCase c;
      c.name = rest_of_line();
      for (std::string key = next(); key != "end"; key = next()) {
        if (key == "op") c.op = next();
        else if (key == "attr") {
          std::string k = next();
          c.attrs.emplace_back(k, next());
        } else if (key == "input") c.inputs.push_back(read_tensor());
        else if (key == "output") c.outputs.push_back(read_tensor());
        else if (key == "proj") c.projections.push_back(read_tensor());
        else if (key == "grad") c.grads.push_back(read_tensor());
        else error("unknown keyword '" + key + "'");
      }
      if (c.op.empty()) error("case '" + c.name + "' has no op");
      cases.push_back(std::move(c));
    }
    return cases;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    int line = pos_ == 0 ? 0 : tokens_[pos_ - 1].line;
    throw std::runtime_error(source_ + ":" + std::to_string(line) + ": " + what);
  }
  std::string next() {
    if (pos_ >= tokens_.size()) error("unexpected end of file");
    return tokens_[pos_++].text;
  }
  void expect(const std::string& word) {
    if (std::string got = next(); got != word) error("expected '" + word + "', got '" + got + "'");
  }
  // The remaining words of the current token's line, joined by single spaces.
  std::string rest_of_line() {
    if (pos_ == 0 || pos_ >= tokens_.size()) error("missing case name");
    const int line = tokens_[pos_ - 1].line;
    std::string out;
    while (pos_ < tokens_.size() && tokens_[pos_].line == line) {
      if (!out.empty()) out += ' ';
      out += tokens_[pos_++].text;
    }
    if (out.empty()) error("missing case name");
    return out;
  }
  double number(const std::string& text, bool integer) {
    errno = 0;
    char* end = nullptr;
    double v = integer ? static_cast<double>(std::strtoll(text.c_str(), &end, 10))
                       : std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || (integer && errno == ERANGE))
      error("bad value '" + text + "'");
    if (integer && std::abs(v) >= 9007199254740992.0) error("i64 value too large: '" + text + "'");
    return v;
  }
  GoldenTensor read_tensor() {
    GoldenTensor t;
    t.name = next();
    const std::string dtype = next();
    if (dtype == "f64") t.dtype = DType::f64;
    else if (dtype == "f32") t.dtype = DType::f32;
    else if (dtype == "i64") t.dtype = DType::i64;
    else error("unknown dtype '" + dtype + "'");
    const std::string shape = next();
    if (shape.size() < 2 || shape.front() != '[' || shape.back() != ']') error("bad shape '" + shape + "'");
    std::stringstream dims(shape.substr(1, shape.size() - 2));
    std::vector<int64_t> sizes;
    for (std::string d; std::getline(dims, d, ',');) sizes.push_back(static_cast<int64_t>(number(d, true)));
    t.shape = Shape(sizes);
    const int64_t count = numel(t.shape);
    t.values.reserve(count);
    for (int64_t i = 0; i < count; ++i) {
      const std::string v = next();
      if (!v.empty() && std::isalpha(static_cast<unsigned char>(v[0])) && v != "inf" && v != "nan")
        error("tensor '" + t.name + "' " + shape + ": expected " + std::to_string(count) +
              " values, found " + std::to_string(i) + " before '" + v + "'");
      t.values.push_back(number(v, t.dtype == DType::i64));
    }
    return t;
  }

  std::string source_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace golden_detail

// Parses golden-format text; `source` names it in errors ("file:line: what").
inline std::vector<GoldenCase> parse_golden(const std::string& text, const std::string& source) {
  return golden_detail::Parser(text, source).parse();
}

// Reads tests/reference/<file_name> (found through DG_TEST_DATA_DIR, the tests/ directory).
inline std::vector<GoldenCase> read_golden(const std::string& file_name) {
  const std::string path = std::string(DG_TEST_DATA_DIR) + "/reference/" + file_name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_golden(text.str(), path);
}

}  // namespace dg::test
