// Mode masks as pictures (PAD-Net Figure 7): a 0/1 matrix written as a grayscale PNG, dynamic
// entries (1) black and static ones (0) white, one pixel per entry. A matrix wider or taller than
// `max_side` pixels is shrunk by an integer factor, each pixel then the share of dynamic entries in
// its block (darker = more dynamic), so a picture stays readable whatever the layer's size.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace dg::experiment {

// mask: [rows, cols], any real dtype, values in [0, 1]. Throws dg::Error for another rank or when
// the file cannot be written. Returns the shrink factor used (1 = one pixel per entry).
int64_t write_mask_image(const std::string& png_path, const Tensor& mask, int64_t max_side = 2048);

}  // namespace dg::experiment
