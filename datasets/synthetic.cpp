// The adding and copy tasks (see synthetic.h), drawn example by example, in order, from one
// dg::Generator seeded with the caller's seed.
#include "datasets/synthetic.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/random.h"

namespace dg::data {

TensorDataset make_adding_task(int64_t num_examples, int64_t length, uint64_t seed) {
  check(num_examples > 0, "make_adding_task: num_examples must be positive, got {}", num_examples);
  check(length >= 2, "make_adding_task: length must be at least 2, got {}", length);
  Generator gen(seed);
  Tensor inputs = Tensor::empty({num_examples, length, 2}, DType::f32);
  Tensor targets = Tensor::empty({num_examples, 1}, DType::f32);
  float* x = inputs.data<float>();
  float* y = targets.data<float>();
  const int64_t first_end = std::max<int64_t>(1, length / 10);
  const int64_t second_start = length / 2;
  for (int64_t n = 0; n < num_examples; ++n) {
    float* seq = x + n * length * 2;
    for (int64_t t = 0; t < length; ++t) {
      seq[2 * t] = gen.next_float() - 0.5f;
      seq[2 * t + 1] = 0.0f;
    }
    const int64_t a = static_cast<int64_t>(gen.next_below(first_end));
    const int64_t b = second_start + static_cast<int64_t>(gen.next_below(length - second_start));
    seq[2 * a + 1] = 1.0f;
    seq[2 * b + 1] = 1.0f;
    y[n] = seq[2 * a] + seq[2 * b];
  }
  return TensorDataset(std::move(inputs), std::move(targets));
}

TensorDataset make_copy_task(int64_t num_examples, int64_t delay, uint64_t seed,
                             int64_t sequence_length, int64_t num_symbols) {
  check(num_examples > 0, "make_copy_task: num_examples must be positive, got {}", num_examples);
  check(delay >= 1, "make_copy_task: delay must be at least 1, got {}", delay);
  check(sequence_length >= 1, "make_copy_task: sequence_length must be at least 1, got {}",
        sequence_length);
  check(num_symbols >= 1, "make_copy_task: num_symbols must be at least 1, got {}", num_symbols);
  Generator gen(seed);
  const int64_t total = delay + 2 * sequence_length;
  const int64_t delimiter = num_symbols + 1;
  Tensor inputs = Tensor::empty({num_examples, total}, DType::i64);
  Tensor targets = Tensor::empty({num_examples, total}, DType::i64);
  int64_t* x = inputs.data<int64_t>();
  int64_t* y = targets.data<int64_t>();
  std::fill(x, x + inputs.numel(), 0);
  std::fill(y, y + targets.numel(), 0);
  for (int64_t n = 0; n < num_examples; ++n) {
    int64_t* in = x + n * total;
    int64_t* out = y + n * total;
    for (int64_t s = 0; s < sequence_length; ++s) {
      const int64_t symbol = 1 + static_cast<int64_t>(gen.next_below(num_symbols));
      in[s] = symbol;
      out[delay + sequence_length + s] = symbol;
    }
    in[sequence_length + delay - 1] = delimiter;
  }
  return TensorDataset(std::move(inputs), std::move(targets));
}

}  // namespace dg::data
