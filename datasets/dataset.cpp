// Collation of examples into batches, and the in-memory datasets (TensorDataset, Subset) and index
// splitting every reader builds on. Collation and row gathering use only allocation (the engine's
// allocator is mutex-protected) and memcpy, never ops that record autograd or start OpenMP teams,
// so the DataLoader may run them on its worker thread.
#include "datasets/dataset.h"

#include <cstring>
#include <numeric>

#include "engine/ops/ops.h"
#include "engine/random.h"

namespace dg::data {
namespace {

// Shape of `t` without its first dim.
Shape tail_shape(const Shape& s) {
  Shape tail;
  for (int d = 1; d < s.size(); ++d) tail.push_back(s[d]);
  return tail;
}

Shape prepend(int64_t first, const Shape& rest) {
  Shape s{first};
  for (int64_t d : rest) s.push_back(d);
  return s;
}

// A contiguous CPU tensor filled with `value`, by a plain loop (no kernel, no OpenMP).
Tensor filled(const Shape& shape, DType dtype, double value) {
  Tensor t = Tensor::empty(shape, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    const T v = static_cast<T>(value);
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = v;
  });
  return t;
}

Tensor host_contiguous(const Tensor& t, const char* what) {
  check(t.device().is_cpu(), "collate: {} is on {}; datasets hold CPU tensors", what, t.device());
  return t.is_contiguous() ? t : t.contiguous();
}

// All tensors share one shape and dtype: copy them into rows of a new [B, ...] tensor.
Tensor stack_rows(const std::vector<Tensor>& rows, const char* what) {
  const Tensor& first = rows[0];
  for (size_t i = 1; i < rows.size(); ++i) {
    check(rows[i].dtype() == first.dtype(),
          "collate: example {} has {} dtype {} but example 0 has {}", i, what, rows[i].dtype(),
          first.dtype());
    check(rows[i].shape() == first.shape(),
          "collate: example {} has {} shape {} but example 0 has {}; sequences of different "
          "lengths need padding (CollateOptions::pad_inputs)",
          i, what, rows[i].shape(), first.shape());
  }
  Tensor out =
      Tensor::empty(prepend(static_cast<int64_t>(rows.size()), first.shape()), first.dtype());
  const size_t row_bytes = first.numel() * itemsize(first.dtype());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Tensor row = host_contiguous(rows[i], what);
    if (row_bytes) std::memcpy(dst + i * row_bytes, row.raw_data(), row_bytes);
  }
  return out;
}

// Tensors of shape [L_i, rest...]: pad each at the end of dim 0 to the longest. Fills mask/lengths
// when asked.
Tensor pad_rows(const std::vector<Tensor>& rows, double pad, const char* what, Tensor* mask,
                Tensor* lengths) {
  const Tensor& first = rows[0];
  check(first.dim() >= 1, "collate: padded {} must have at least one dim, got shape {}", what,
        first.shape());
  const Shape rest = tail_shape(first.shape());
  int64_t max_len = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    check(rows[i].dtype() == first.dtype(),
          "collate: example {} has {} dtype {} but example 0 has {}", i, what, rows[i].dtype(),
          first.dtype());
    check(rows[i].dim() >= 1 && tail_shape(rows[i].shape()) == rest,
          "collate: example {} has {} shape {} but example 0 has {}; padding only lets the first "
          "dim differ",
          i, what, rows[i].shape(), first.shape());
    max_len = std::max(max_len, rows[i].size(0));
  }
  const int64_t batch = static_cast<int64_t>(rows.size());
  Tensor out = filled(prepend(batch, prepend(max_len, rest)), first.dtype(), pad);
  const size_t step_bytes = numel(rest) * itemsize(first.dtype());
  char* dst = static_cast<char*>(out.raw_data());
  bool* m = nullptr;
  int64_t* len = nullptr;
  if (mask) {
    *mask = filled({batch, max_len}, DType::b8, 0.0);
    m = mask->data<bool>();
  }
  if (lengths) {
    *lengths = Tensor::empty({batch}, DType::i64);
    len = lengths->data<int64_t>();
  }
  for (int64_t i = 0; i < batch; ++i) {
    const Tensor row = host_contiguous(rows[i], what);
    const int64_t n = row.size(0);
    if (n > 0 && step_bytes > 0)
      std::memcpy(dst + i * max_len * step_bytes, row.raw_data(), n * step_bytes);
    if (m) std::fill(m + i * max_len, m + i * max_len + n, true);
    if (len) len[i] = n;
  }
  return out;
}

// Copies rows `indices` of the contiguous tensor `t` [N, ...] into a new [B, ...] tensor.
Tensor gather_rows(const Tensor& t, std::span<const int64_t> indices) {
  Tensor out = Tensor::empty(prepend(static_cast<int64_t>(indices.size()), tail_shape(t.shape())),
                             t.dtype());
  const size_t row_bytes = numel(tail_shape(t.shape())) * itemsize(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < indices.size(); ++i)
    if (row_bytes) std::memcpy(dst + i * row_bytes, src + indices[i] * row_bytes, row_bytes);
  return out;
}

}  // namespace

Batch collate(const std::vector<Example>& examples, std::span<const int64_t> indices,
              const CollateOptions& options) {
  check(!examples.empty(), "collate: no examples");
  check(examples.size() == indices.size(), "collate: {} examples but {} indices", examples.size(),
        indices.size());
  Batch batch;
  batch.indices.assign(indices.begin(), indices.end());

  std::vector<Tensor> inputs, targets;
  inputs.reserve(examples.size());
  targets.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    check(examples[i].input.defined(), "collate: example {} has no input", i);
    check(examples[i].target.defined() == examples[0].target.defined(),
          "collate: example {} {} a target but example 0 {}", i,
          examples[i].target.defined() ? "has" : "lacks",
          examples[0].target.defined() ? "has" : "lacks");
    inputs.push_back(examples[i].input);
    if (examples[i].target.defined()) targets.push_back(examples[i].target);
  }

  batch.input = options.pad_inputs
                    ? pad_rows(inputs, options.input_pad, "input", &batch.mask, &batch.lengths)
                    : stack_rows(inputs, "input");
  if (!targets.empty()) {
    const bool same_shape = std::all_of(targets.begin(), targets.end(), [&](const Tensor& t) {
      return t.shape() == targets[0].shape();
    });
    batch.target = (options.pad_inputs && !same_shape)
                       ? pad_rows(targets, options.target_pad, "target", nullptr, nullptr)
                       : stack_rows(targets, "target");
  }
  return batch;
}

Batch Dataset::get_batch(std::span<const int64_t> indices) const {
  std::vector<Example> examples;
  examples.reserve(indices.size());
  for (int64_t i : indices) examples.push_back(get(i));
  return collate(examples, indices, collate_options());
}

// ---------------------------------------------------------------- TensorDataset

TensorDataset::TensorDataset(Tensor inputs, Tensor targets, std::vector<std::string> class_names)
    : class_names_(std::move(class_names)) {
  check(inputs.defined() && targets.defined(), "TensorDataset: inputs and targets must be defined");
  check(inputs.device().is_cpu() && targets.device().is_cpu(),
        "TensorDataset: inputs ({}) and targets ({}) must be CPU tensors", inputs.device(),
        targets.device());
  check(inputs.dim() >= 1 && targets.dim() >= 1 && inputs.size(0) == targets.size(0),
        "TensorDataset: inputs {} and targets {} must have the same first dim (the example count)",
        inputs.shape(), targets.shape());
  check(!inputs.requires_grad() && !targets.requires_grad(),
        "TensorDataset: inputs and targets must not require grad");
  inputs_ = inputs.is_contiguous() ? inputs : inputs.contiguous();
  targets_ = targets.is_contiguous() ? targets : targets.contiguous();
}

Example TensorDataset::get(int64_t index) const {
  check(index >= 0 && index < size(), "TensorDataset: index {} out of range for {} examples", index,
        size());
  return {select(inputs_, 0, index), select(targets_, 0, index)};
}

Batch TensorDataset::get_batch(std::span<const int64_t> indices) const {
  check(!indices.empty(), "TensorDataset: empty batch");
  for (int64_t i : indices)
    check(i >= 0 && i < size(), "TensorDataset: index {} out of range for {} examples", i, size());
  Batch batch;
  batch.input = gather_rows(inputs_, indices);
  batch.target = gather_rows(targets_, indices);
  batch.indices.assign(indices.begin(), indices.end());
  return batch;
}

// ---------------------------------------------------------------- Subset

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  check(base_ != nullptr, "Subset: no base dataset");
  const int64_t n = base_->size();
  for (int64_t i : indices_)
    check(i >= 0 && i < n, "Subset: index {} out of range for a dataset of {} examples", i, n);
}

Example Subset::get(int64_t index) const {
  check(index >= 0 && index < size(), "Subset: index {} out of range for {} examples", index,
        size());
  return base_->get(indices_[index]);
}

Batch Subset::get_batch(std::span<const int64_t> indices) const {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) {
    check(i >= 0 && i < size(), "Subset: index {} out of range for {} examples", i, size());
    mapped.push_back(indices_[i]);
  }
  Batch batch = base_->get_batch(mapped);
  batch.indices.assign(indices.begin(), indices.end());
  return batch;
}

// ---------------------------------------------------------------- splitting

std::vector<std::vector<int64_t>> split_indices(int64_t n, const std::vector<double>& fractions,
                                                uint64_t seed) {
  check(n >= 0, "split_indices: negative count {}", n);
  check(!fractions.empty(), "split_indices: no fractions");
  double total = 0;
  for (double f : fractions) {
    check(f >= 0, "split_indices: negative fraction {}", f);
    total += f;
  }
  check(total <= 1.0 + 1e-9, "split_indices: fractions sum to {} > 1", total);

  Generator gen(seed);
  const std::vector<int64_t> perm =
      n ? randperm(n, gen).to_vector<int64_t>() : std::vector<int64_t>{};
  std::vector<std::vector<int64_t>> parts(fractions.size());
  int64_t start = 0;
  for (size_t k = 0; k < fractions.size(); ++k) {
    const int64_t count = (k + 1 == fractions.size())
                              ? n - start
                              : std::min(n - start, static_cast<int64_t>(n * fractions[k]));
    parts[k].assign(perm.begin() + start, perm.begin() + start + count);
    start += count;
  }
  return parts;
}

// ---------------------------------------------------------------- TextDataset

TextDataset TextDataset::subset(std::span<const int64_t> indices) const {
  TextDataset out;
  out.class_names = class_names;
  out.regression = regression;
  out.examples.reserve(indices.size());
  for (int64_t i : indices) {
    check(i >= 0 && i < size(), "TextDataset::subset: index {} out of range for {} examples", i,
          size());
    out.examples.push_back(examples[i]);
  }
  return out;
}

std::vector<std::string> TextDataset::all_texts() const {
  std::vector<std::string> texts;
  for (const TextExample& e : examples) texts.insert(texts.end(), e.texts.begin(), e.texts.end());
  return texts;
}

}  // namespace dg::data
