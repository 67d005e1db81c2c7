// Packing and unpacking of mode-mask bitmasks: see bitmask.h.
#include "partition/bitmask.h"

#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::partition {

void check_bitmask(const Tensor& bitmask, int64_t size, const std::string& what) {
  check(bitmask.defined() && bitmask.dtype() == DType::i64 && bitmask.dim() == 1 &&
            bitmask.numel() * 64 >= size,
        "{} needs an i64 bitmask of {} words for {} positions, got {} {}", what, (size + 63) / 64,
        size, bitmask.defined() ? fmt::format("{}", bitmask.dtype()) : std::string("undefined"),
        bitmask.defined() ? fmt::format("{}", bitmask.shape()) : std::string("tensor"));
}

Tensor pack_bitmask(const Tensor& mask) {
  const std::vector<double> values = mask.to_vector<double>();
  std::vector<int64_t> words((values.size() + 63) / 64, 0);
  for (size_t j = 0; j < values.size(); ++j)
    if (values[j] != 0.0)
      words[j / 64] = static_cast<int64_t>(static_cast<uint64_t>(words[j / 64]) | (uint64_t{1} << (j % 64)));
  return from_vector(words, {static_cast<int64_t>(words.size())});
}

Tensor bitmask_positions(const Tensor& bitmask, int64_t size, bool set) {
  check_bitmask(bitmask, size, "bitmask_positions");
  const Tensor words = bitmask.contiguous();
  const int64_t* w = words.data<int64_t>();
  std::vector<int64_t> positions;
  for (int64_t j = 0; j < size; ++j)
    if (bit(w, j) == set) positions.push_back(j);
  return from_vector(positions, {static_cast<int64_t>(positions.size())});
}

}  // namespace dg::partition
