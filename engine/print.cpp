// Readable printing of tensors, NumPy style: nested brackets, aligned columns, and big tensors
// summarised with "..." (the first and last three entries of each dim).
#include <sstream>

#include "engine/ops/ops.h"

namespace dg {

namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;

std::string format_value(double v, DType dtype) {
  if (dtype == DType::b8) return v != 0 ? "true" : "false";
  if (dtype == DType::i64) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.4f}", v);
}

void print_dim(std::ostringstream& os, const std::vector<double>& values, const Shape& shape,
               const Shape& strides, int dim, int64_t offset, bool summarise, DType dtype,
               size_t width, int indent) {
  if (dim == shape.size()) {
    std::string s = format_value(values[offset], dtype);
    os << std::string(width > s.size() ? width - s.size() : 0, ' ') << s;
    return;
  }
  os << "[";
  const int64_t n = shape[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << "...";
      i = n - kEdgeItems - 1;
      if (dim + 1 < shape.size()) os << ",\n" << std::string(indent + 1, ' ');
      else os << ", ";
      continue;
    }
    print_dim(os, values, shape, strides, dim + 1, offset + i * strides[dim], summarise, dtype,
              width, indent + 1);
    if (i + 1 < n) {
      if (dim + 1 < shape.size()) os << "," << std::string(shape.size() - dim - 1, '\n')
                                     << std::string(indent + 1, ' ');
      else os << ", ";
    }
  }
  os << "]";
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = to_vector<double>();
  const bool summarise = numel() > kSummariseAbove;
  size_t width = 1;
  for (double v : values) width = std::max(width, format_value(v, dtype()).size());
  std::ostringstream os;
  os << "tensor(";
  print_dim(os, values, shape(), contiguous_strides(shape()), 0, 0, summarise, dtype(), width, 7);
  os << ", shape=" << dg::to_string(shape()) << ", dtype=" << dtype_name(dtype());
  if (requires_grad()) os << ", requires_grad=true";
  os << ")";
  return os.str();
}

}  // namespace dg
