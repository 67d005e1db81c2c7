// The common vocabulary of the data library: an Example (one input and its target), a Batch (many
// of them collated into batched tensors, with a padding mask for variable-length sequences), the
// Dataset interface the DataLoader reads from, and the two datasets everything else is built on:
// TensorDataset (examples are rows of two tensors held in memory) and Subset (a view of another
// dataset through a list of indices). Labelled text before tokenization is a TextDataset. All data
// lives on the CPU; a training loop moves each batch to its device.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dg::data {

// One example: an input (e.g. [1,28,28] f32 pixels, or [L] i64 token ids) and its target (e.g. a
// 0-dim i64 class id, a 0-dim f32 regression value, or a [T] i64 sequence).
struct Example {
  Tensor input;
  Tensor target;
};

// Examples collated along a new leading batch dim. For padded sequences, `mask` is [B, Lmax] bool
// (true at real positions) and `lengths` is [B] i64; both are undefined otherwise.
struct Batch {
  Tensor input;
  Tensor target;
  Tensor mask;
  Tensor lengths;
  std::vector<int64_t> indices;  // the dataset index of each row
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// How examples are collated. Without padding every input (and every target) of a batch must have
// the same shape; with padding, inputs may differ in their first dim and are padded at the end to
// the longest of the batch with `input_pad`; targets that differ in length are padded with
// `target_pad` (-100, the ignore_index of cross_entropy by convention).
struct CollateOptions {
  bool pad_inputs = false;
  double input_pad = 0.0;
  double target_pad = -100.0;
};

// Stacks (or pads and stacks) examples into a Batch; `indices` are recorded in it. Uses only
// allocation and memcpy, so it is safe to call on a worker thread.
Batch collate(const std::vector<Example>& examples, std::span<const int64_t> indices,
              const CollateOptions& options = {});

// A finite, indexable collection of examples. get and get_batch are const and must be safe to call
// from a worker thread while the consumer works (the DataLoader does exactly that).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  // The examples at `indices`, collated. The default collates get(i) with collate_options();
  // datasets that can gather rows directly override it.
  virtual Batch get_batch(std::span<const int64_t> indices) const;
  virtual CollateOptions collate_options() const { return {}; }
};

// Examples are the rows of `inputs` [N, ...] and `targets` [N, ...] (contiguous CPU tensors;
// the constructor makes them so). get(i) returns views of row i (no copy: do not write into them);
// get_batch gathers rows into fresh tensors with memcpy, without per-example tensors.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets, std::vector<std::string> class_names = {});

  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t index) const override;
  Batch get_batch(std::span<const int64_t> indices) const override;

  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }
  // Names of the target classes, in class-id order (empty when targets are not class ids).
  const std::vector<std::string>& class_names() const { return class_names_; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }

 private:
  Tensor inputs_, targets_;
  std::vector<std::string> class_names_;
};

// The examples of `base` at `indices`, renumbered 0 .. indices.size()-1.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(std::span<const int64_t> indices) const override;
  CollateOptions collate_options() const override { return base_->collate_options(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

// A seeded random partition of 0 .. n-1 into parts of sizes floor(n * fractions[k]) (the last
// part takes whatever is left), from one dg::randperm with dg::Generator(seed): the same seed gives
// the same parts on every run and platform. Fractions must be non-negative and sum to at most 1
// (plus rounding slack); each part keeps the permutation's order.
std::vector<std::vector<int64_t>> split_indices(int64_t n, const std::vector<double>& fractions,
                                                uint64_t seed);

// ---- labelled text, before tokenization ----

// One or more pieces of text (a sentence, or a sentence pair for GLUE tasks such as MRPC) with a
// class id (classification) or a real value (regression, e.g. STS-B).
struct TextExample {
  std::vector<std::string> texts;
  int64_t label = -1;  // class id; -1 when unlabelled or a regression task
  double value = 0.0;  // regression target
};

struct TextDataset {
  std::vector<TextExample> examples;
  std::vector<std::string> class_names;  // class-id order; empty for regression
  bool regression = false;

  int64_t size() const { return static_cast<int64_t>(examples.size()); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  // The examples at `indices`, in that order, with the same class names.
  TextDataset subset(std::span<const int64_t> indices) const;
  // Every text of every example (all columns), e.g. to build a vocabulary from.
  std::vector<std::string> all_texts() const;
};

}  // namespace dg::data
