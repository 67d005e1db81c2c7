// Mode masks as pictures (see mask_image.h).
#include "examples/common/mask_image.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "engine/error.h"

// The writer's functions stay private to this file (other targets may link their own copy).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace dg::experiment {

int64_t write_mask_image(const std::string& png_path, const Tensor& mask, int64_t max_side) {
  check(mask.dim() == 2, "write_mask_image: a mask of shape {} (needs [rows, cols])", mask.shape());
  check(max_side >= 1, "write_mask_image: max_side {} (needs at least 1)", max_side);
  const int64_t rows = mask.shape()[0], cols = mask.shape()[1];
  check(rows > 0 && cols > 0, "write_mask_image: an empty mask of shape {}", mask.shape());
  const int64_t factor = std::max((std::max(rows, cols) + max_side - 1) / max_side, int64_t{1});
  const int64_t height = (rows + factor - 1) / factor, width = (cols + factor - 1) / factor;

  const Tensor values = mask.to(DType::f64).contiguous();
  const double* m = values.data<double>();
  std::vector<double> dynamic_share(static_cast<size_t>(height * width), 0.0);
  std::vector<int64_t> entries(dynamic_share.size(), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double v = m[r * cols + c];
      check(v >= 0.0 && v <= 1.0, "write_mask_image: entry ({}, {}) is {} (needs [0, 1])", r, c, v);
      const size_t pixel = static_cast<size_t>((r / factor) * width + c / factor);
      dynamic_share[pixel] += v;
      ++entries[pixel];
    }
  std::vector<unsigned char> gray(dynamic_share.size());
  for (size_t i = 0; i < gray.size(); ++i)  // 1 (dynamic) -> 0 (black), 0 (static) -> 255 (white)
    gray[i] = static_cast<unsigned char>(255.0 * (1.0 - dynamic_share[i] / entries[i]) + 0.5);

  const std::filesystem::path folder = std::filesystem::path(png_path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder);
  check(stbi_write_png(png_path.c_str(), static_cast<int>(width), static_cast<int>(height), 1,
                       gray.data(), static_cast<int>(width)) != 0,
        "write_mask_image: cannot write {}", png_path);
  return factor;
}

}  // namespace dg::experiment
