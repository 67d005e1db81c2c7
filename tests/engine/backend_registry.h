// The machinery of the backend registry (test_backend_registry.cpp), which checks every entry of
// the Backend table of every backend against the reference backend (engine/reference/): the list
// of backends under test (adding a backend is one line in backends_under_test), the input
// layouts a case can ask for (contiguous, transposed, broadcast with stride 0, sliced with an
// offset, every other element), moving a case's inputs to a backend's device and its outputs
// back, the comparison of a backend's outputs with the reference's, and the helpers the case
// files (backend_registry_*.cpp) share.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "engine/reference/reference_backend.h"
#include "tests/engine/test_util.h"

namespace dg::test::registry {

enum class Entry {
#define DG_BACKEND_ENTRY(name) name,
#include "tests/engine/backend_entries.def"
#undef DG_BACKEND_ENTRY
};

inline const std::vector<std::string>& entry_names() {
  static const std::vector<std::string> names = {
#define DG_BACKEND_ENTRY(name) #name,
#include "tests/engine/backend_entries.def"
#undef DG_BACKEND_ENTRY
  };
  return names;
}
inline const std::string& entry_name(Entry e) { return entry_names()[static_cast<int>(e)]; }

// The fast paths a backend may decline (it returns an undefined tensor, or false, and the op layer
// composes the result from other entries).
inline bool is_optional(Entry e) {
  return e == Entry::inference_linear || e == Entry::inference_attention ||
         e == Entry::kernel_mixture_conv2d;
}

// One backend the registry checks: its name, the device its tensors live on, and the optional
// entries it must take in at least one case (so that their comparison cannot pass vacuously).
struct BackendUnderTest {
  const char* name;
  Device device;
  std::vector<Entry> must_take;
};

inline std::vector<BackendUnderTest> backends_under_test() {
  return {
      {"cpu", Device::cpu(),
       {Entry::inference_attention, Entry::kernel_mixture_conv2d,
#if defined(__AVX2__) && defined(__FMA__)  // the packed linear kernels need AVX2 and FMA
        Entry::inference_linear
#endif
       }},
      // The CUDA backend runs these cases in its own binary, against the CPU backend, where a
      // GPU is present (tests/cuda/test_cuda_backend.cpp).
  };
}

// How a case's input is laid out in memory.
enum class Layout {
  contiguous,
  transposed,  // the last two dims swapped (column-major inner matrix); rank >= 2
  broadcast,   // dim 0 has stride 0: every index along it reads the same elements
  sliced,      // a window of a larger tensor: an offset and padded rows
  strided,     // every other element along the last dim
};

inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::contiguous: return "contiguous";
    case Layout::transposed: return "transposed";
    case Layout::broadcast: return "broadcast";
    case Layout::sliced: return "sliced";
    case Layout::strided: return "strided";
  }
  return "?";
}

// A contiguous host tensor of hashed values in [lo, hi): integers (and every value when
// `whole`, so that ties and equalities occur) rounded down, bools true above the middle of the
// range.
inline Tensor hashed_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo, double hi,
                            bool whole = false) {
  std::vector<double> v = hashed_values(numel(shape), seed, lo, hi);
  if (whole)
    for (double& x : v) x = std::floor(x);
  switch (dtype) {
    case DType::f64: return from_vector(v, shape);
    case DType::f32: return to_dtype(from_vector(v, shape), DType::f32);
    case DType::i64: {
      std::vector<int64_t> n(v.size());
      for (size_t i = 0; i < v.size(); ++i) n[i] = static_cast<int64_t>(std::floor(v[i]));
      return from_vector(n, shape);
    }
    case DType::b8: {
      std::vector<bool> b(v.size());
      for (size_t i = 0; i < v.size(); ++i) b[i] = v[i] > (lo + hi) / 2;
      return from_vector(b, shape);
    }
  }
  return Tensor();
}

// A host tensor of `shape` laid out as `layout`, over a base filled as hashed_tensor fills it.
inline Tensor make_input(const Shape& shape, DType dtype, Layout layout, uint64_t seed,
                         double lo = -2.0, double hi = 2.0, bool whole = false) {
  const int last = shape.size() - 1;
  Shape base_shape = shape;
  switch (layout) {
    case Layout::contiguous: return hashed_tensor(shape, dtype, seed, lo, hi, whole);
    case Layout::transposed: {
      std::swap(base_shape[last], base_shape[last - 1]);
      const Tensor base = hashed_tensor(base_shape, dtype, seed, lo, hi, whole);
      Shape strides = base.strides();
      std::swap(strides[last], strides[last - 1]);
      return make_view(base, shape, strides, 0);
    }
    case Layout::broadcast: {
      base_shape[0] = 1;
      const Tensor base = hashed_tensor(base_shape, dtype, seed, lo, hi, whole);
      Shape strides = base.strides();
      strides[0] = 0;
      return make_view(base, shape, strides, 0);
    }
    case Layout::sliced: {
      for (int d = 0; d <= last; ++d) base_shape[d] += d == last ? 3 : 1;
      const Tensor base = hashed_tensor(base_shape, dtype, seed, lo, hi, whole);
      int64_t offset = 0;
      for (int d = 0; d <= last; ++d) offset += base.strides()[d];  // start at (1, 1, ..., 1)
      return make_view(base, shape, base.strides(), offset);
    }
    case Layout::strided: {
      base_shape[last] = 2 * shape[last];
      const Tensor base = hashed_tensor(base_shape, dtype, seed, lo, hi, whole);
      Shape strides = base.strides();
      strides[last] = 2;
      return make_view(base, shape, strides, 1);
    }
  }
  return Tensor();
}

// `host` on `device`: its whole storage travels, so a view keeps its offset and strides.
inline Tensor to_device(const Tensor& host, Device device) {
  if (!host.defined()) return host;
  const size_t nbytes = host.storage()->nbytes();
  const Tensor base = Tensor::empty({static_cast<int64_t>(nbytes / itemsize(host.dtype()))},
                                    host.dtype(), device);
  if (nbytes > 0) backend(device).copy_from_host(base.raw_data(), host.storage()->data(), nbytes);
  return make_view(base, host.shape(), host.strides(), host.offset());
}

// A contiguous host copy of `t` (copied to contiguous memory on its own device first).
inline Tensor to_host(const Tensor& t) {
  Backend& b = backend(t.device());
  const Tensor dense = Tensor::empty(t.shape(), t.dtype(), t.device());
  if (t.numel() > 0) b.copy(dense, t);
  const Tensor host = Tensor::empty(t.shape(), t.dtype(), Device::cpu());
  if (t.numel() > 0)
    b.copy_to_host(host.raw_data(), dense.raw_data(), t.numel() * itemsize(t.dtype()));
  return host;
}

// Allowed difference |got - want| <= tolerance * max(1, |want|), by dtype; integers and bools
// must match exactly, NaN must meet NaN and an infinity the same infinity.
struct Tolerance {
  double f32 = 1e-5, f64 = 1e-11;
};

// An empty string when `got` matches `want`, else what differs and where.
inline std::string mismatch(const Tensor& got, const Tensor& want, Tolerance tol) {
  std::ostringstream why;
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) {
    why << "got " << fmt::format("{} {}", got.shape(), got.dtype()) << ", want "
        << fmt::format("{} {}", want.shape(), want.dtype());
    return why.str();
  }
  const double allowed = want.dtype() == DType::f32   ? tol.f32
                         : want.dtype() == DType::f64 ? tol.f64
                                                      : 0;
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const bool same_special = (std::isnan(g[i]) && std::isnan(w[i])) || g[i] == w[i];
    if (same_special) continue;
    if (std::isnan(g[i]) || std::isnan(w[i]) || std::isinf(g[i]) || std::isinf(w[i]) ||
        std::abs(g[i] - w[i]) > allowed * std::max(1.0, std::abs(w[i]))) {
      why << "element " << i << ": got " << g[i] << ", want " << w[i] << " (tolerance " << allowed
          << ")";
      return why.str();
    }
  }
  return "";
}

// One case: the host inputs it builds, and how it runs its entry on a backend. `run` gets the
// inputs already on `device` and returns the tensors to compare: its outputs, and the inputs it
// updates in place. An empty result means the backend declined (optional entries only).
using Tensors = std::vector<Tensor>;
struct Case {
  Entry entry;
  std::string name;
  std::function<Tensors()> inputs;
  std::function<Tensors(Backend& backend, Device device, const Tensors& inputs)> run;
  Tolerance tolerance;
  // topk with sorted = false may list its k results in any order: when >= 0, both results
  // (values, indices) are put in index order along this dim before comparing.
  int unordered_dim = -1;
};

// ---- what the case files (backend_registry_*.cpp) share ----

using Geometry = Backend::Conv2dGeometry;
using PoolGeometry = Backend::Pool2dGeometry;
constexpr Layout kContiguous = Layout::contiguous, kTransposed = Layout::transposed,
                 kBroadcast = Layout::broadcast, kSliced = Layout::sliced,
                 kStrided = Layout::strided;
constexpr DType f32 = DType::f32, f64 = DType::f64, i64 = DType::i64, b8 = DType::b8;
constexpr Tolerance kSums{1e-4, 1e-10};  // for entries that add many terms

// Every case, in registration order.
inline std::vector<Case>& table() {
  static std::vector<Case> cases;
  return cases;
}
// A fresh seed for each case's inputs.
inline uint64_t next_seed() {
  static uint64_t seed = 1000;
  return ++seed;
}
inline void add(Entry entry, std::string name, std::function<Tensors()> inputs,
                std::function<Tensors(Backend&, Device, const Tensors&)> run, Tolerance tol = {},
                int unordered_dim = -1) {
  table().push_back(
      {entry, std::move(name), std::move(inputs), std::move(run), tol, unordered_dim});
}

inline Tensor empty(Device d, const Shape& shape, DType dtype) {
  return Tensor::empty(shape, dtype, d);
}

// A host tensor of the given i64 values.
inline Tensor indices(const std::vector<int64_t>& v, const Shape& shape) {
  return from_vector(v, shape);
}

// Hashed indices in [0, bound) for `shape`.
inline Tensor hashed_indices(const Shape& shape, int64_t bound, uint64_t seed) {
  return hashed_tensor(shape, i64, seed, 0, static_cast<double>(bound));
}

// Sets every `every`-th element of a floating host tensor's storage to `value`.
inline Tensor poke(Tensor t, int64_t every, double value) {
  const int64_t n = static_cast<int64_t>(t.storage()->nbytes() / itemsize(t.dtype()));
  for (int64_t i = 0; i < n; i += every) {
    if (t.dtype() == f32) static_cast<float*>(t.storage()->data())[i] = static_cast<float>(value);
    if (t.dtype() == f64) static_cast<double*>(t.storage()->data())[i] = value;
  }
  return t;
}

// `s` with size `size` at `dim`.
inline Shape with(Shape s, int dim, int64_t size) {
  s[dim] = size;
  return s;
}

// Puts each row along `dim` of (values, indices) in increasing index order, so that two topk
// results holding the same k entries compare equal whatever order they list them in.
inline void order_by_index(Tensor& values, Tensor& at, int dim) {
  const Tensor v = contiguous(to_dtype(values, f64)), ix = contiguous(at);
  const int64_t k = v.shape()[dim];
  REQUIRE(v.dim() == 2);
  const int64_t rows = v.shape()[1 - dim];
  auto index_of = [&](int64_t r, int64_t j) { return dim == 1 ? r * k + j : j * rows + r; };
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<std::pair<int64_t, double>> row(k);
    for (int64_t j = 0; j < k; ++j)
      row[j] = {ix.data<int64_t>()[index_of(r, j)], v.data<double>()[index_of(r, j)]};
    std::sort(row.begin(), row.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int64_t j = 0; j < k; ++j) {
      ix.data<int64_t>()[index_of(r, j)] = row[j].first;
      v.data<double>()[index_of(r, j)] = row[j].second;
    }
  }
  values = to_dtype(v, values.dtype());
  at = ix;
}

// The case files' registration functions.
void register_elementwise_cases();        // backend_registry_elementwise.cpp
void register_product_and_index_cases();  // backend_registry_products_index.cpp
void register_nn_cases();                 // backend_registry_nn.cpp

}  // namespace dg::test::registry
