// Readable printing of tensors, NumPy style: nested brackets, right-aligned columns, one shared
// number format per tensor, long rows wrapped, and big tensors summarised with "..." (the first
// and last three entries of each long dim). Only the entries shown are copied off the device and
// formatted, so printing a 16M-element tensor costs no more than printing a 6x6 one.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg {

namespace {

constexpr int64_t kSummariseAbove = 1000;  // more elements than this: summarise
constexpr int64_t kEdgeItems = 3;          // entries kept at each end of a summarised dim
constexpr size_t kLineWidth = 80;

bool is_summarised_dim(int64_t size, bool summarise) { return summarise && size > 2 * kEdgeItems; }

// The entries to show: the whole tensor, or the edges of every long dim glued together.
Tensor shown_entries(const Tensor& t, bool summarise) {
  NoGradGuard no_grad;
  Tensor shown = t.detach();
  for (int d = 0; d < shown.dim(); ++d) {
    const int64_t n = shown.size(d);
    if (is_summarised_dim(n, summarise))
      shown = cat({narrow(shown, d, 0, kEdgeItems), narrow(shown, d, n - kEdgeItems, kEdgeItems)}, d);
  }
  return shown;
}

// Floating values share one style, picked from the magnitudes shown (as PyTorch does): whole
// numbers as "3.", plain "0.1235", or scientific "1.2346e-05" when the magnitudes are very large,
// very small, or span more than three decades.
enum class FloatStyle { whole, fixed, scientific };

FloatStyle choose_float_style(const std::vector<double>& values) {
  double max_abs = 0, min_abs = INFINITY;
  bool all_whole = true;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const double a = std::abs(v);
    max_abs = std::max(max_abs, a);
    if (a != 0) min_abs = std::min(min_abs, a);
    all_whole = all_whole && v == std::nearbyint(v);
  }
  if (all_whole) return max_abs > 1e8 ? FloatStyle::scientific : FloatStyle::whole;
  if (max_abs > 1e8 || min_abs < 1e-4 || max_abs / min_abs > 1e3) return FloatStyle::scientific;
  return FloatStyle::fixed;
}

std::string format_float(double v, FloatStyle style) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  switch (style) {
    case FloatStyle::whole: return fmt::format("{:.0f}.", v);
    case FloatStyle::fixed: return fmt::format("{:.4f}", v);
    case FloatStyle::scientific: return fmt::format("{:.4e}", v);
  }
  return "?";
}

// Every shown entry as text, in row-major order, formatted from its own type (so an i64 above 2^53
// prints exactly).
std::vector<std::string> format_entries(const Tensor& shown) {
  std::vector<std::string> out;
  out.reserve(shown.numel());
  switch (shown.dtype()) {
    case DType::b8:
      for (bool v : shown.to_vector<bool>()) out.push_back(v ? "true" : "false");
      break;
    case DType::i64:
      for (int64_t v : shown.to_vector<int64_t>()) out.push_back(fmt::format("{}", v));
      break;
    case DType::f32:
    case DType::f64: {
      const std::vector<double> values = shown.to_vector<double>();
      const FloatStyle style = choose_float_style(values);
      for (double v : values) out.push_back(format_float(v, style));
      break;
    }
  }
  return out;
}

struct Layout {
  const std::vector<std::string>& entries;
  const Shape& full_shape;   // the tensor's shape (where "..." goes)
  const Shape& shown_shape;  // the shape of the entries shown
  bool summarise;
  size_t width;  // every entry is right-aligned to this width
};

// Prints dim `dim` of the entries starting at flat index `first`; `column` is where its "[" sits.
void print_dim(std::string& os, const Layout& L, int dim, int64_t first, size_t column) {
  const int ndim = L.shown_shape.size();
  if (dim == ndim) {
    const std::string& s = L.entries[first];
    os.append(L.width - s.size(), ' ');
    os += s;
    return;
  }
  const int64_t shown = L.shown_shape[dim];
  const bool elided = is_summarised_dim(L.full_shape[dim], L.summarise);
  int64_t inner = 1;
  for (int d = dim + 1; d < ndim; ++d) inner *= L.shown_shape[d];
  // Between sub-arrays: a comma, one line break per dim below this one (a blank line between
  // matrices of a 3-D tensor), and indentation under this dim's "[". Within a row: ", ", with the
  // row wrapped to kLineWidth.
  const bool innermost = dim == ndim - 1;
  std::string block_separator(1, ',');
  block_separator.append(ndim - dim - 1, '\n').append(column + 1, ' ');
  const size_t per_line = std::max<size_t>(1, (kLineWidth - column - 1) / (L.width + 2));
  os += '[';
  size_t on_line = 0;
  for (int64_t i = 0; i < shown; ++i) {
    if (i > 0) {
      if (!innermost) {
        os += block_separator;
      } else if (on_line == per_line) {
        os.append(",\n").append(column + 1, ' ');
        on_line = 0;
      } else {
        os += ", ";
      }
    }
    if (elided && i == kEdgeItems) {
      os += "...";
      os += innermost ? std::string(", ") : block_separator;
      ++on_line;
    }
    print_dim(os, L, dim + 1, first + i * inner, column + 1);
    ++on_line;
  }
  os += ']';
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const bool summarise = numel() > kSummariseAbove;
  const Tensor shown = shown_entries(*this, summarise);
  const std::vector<std::string> entries = format_entries(shown);
  size_t width = 1;
  for (const std::string& s : entries) width = std::max(width, s.size());

  std::string os = "tensor(";
  print_dim(os, Layout{entries, shape(), shown.shape(), summarise, width}, 0, 0, os.size());
  os += ", shape=" + dg::to_string(shape()) + ", dtype=" + std::string(dtype_name(dtype()));
  if (!device().is_cpu()) os += fmt::format(", device={}", device());
  if (grad_fn()) os += fmt::format(", grad_fn={}", grad_fn()->name());
  else if (requires_grad()) os += ", requires_grad=true";
  os += ")";
  return os;
}

}  // namespace dg
