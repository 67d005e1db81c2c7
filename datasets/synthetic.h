// Synthetic sequence tasks generated from a seed (dg::Generator, so every platform gets the same
// data): the adding task and the copy task, the usual tests of whether a recurrent network (such as
// the skimming RNNs) keeps information over long spans.
#pragma once

#include <cstdint>

#include "datasets/dataset.h"

namespace dg::data {

// The adding task (Hochreiter & Schmidhuber 1997; as in the Skip RNN paper). Each example is a
// sequence of `length` steps of two features: a value drawn from U(-0.5, 0.5) and a marker, 1 at
// exactly two steps and 0 elsewhere. The first marked step is uniform in the first 10% of the
// sequence (steps [0, max(1, length / 10))), the second uniform in the last half
// ([length / 2, length)); integer division. The target is the sum of the two marked values.
// Inputs f32 [N, length, 2], targets f32 [N, 1] (the shape of a one-output regression head).
// length must be at least 2.
TensorDataset make_adding_task(int64_t num_examples, int64_t length, uint64_t seed);

// The copy task (Arjovsky, Shah & Bengio 2016). Symbols: 0 is the blank, 1 .. num_symbols the data
// symbols, num_symbols + 1 the delimiter. Input: `sequence_length` random data symbols, then
// delay - 1 blanks, the delimiter, and sequence_length blanks; target: delay + sequence_length
// blanks, then the data symbols. Inputs and targets i64 [N, delay + 2 * sequence_length]; the
// vocabulary has num_symbols + 2 entries. delay must be at least 1.
TensorDataset make_copy_task(int64_t num_examples, int64_t delay, uint64_t seed,
                             int64_t sequence_length = 10, int64_t num_symbols = 8);

}  // namespace dg::data
