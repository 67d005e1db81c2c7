// Image classification data laid out as one sub-folder per class (root/cat/001.png,
// root/dog/xyz.jpg, ...), as torchvision's ImageFolder reads it. Class ids follow the sorted
// (byte-order) sub-folder names; within a class, files are in sorted name order; hidden entries
// and files that are not .png, .jpg, .jpeg or .bmp are ignored. Images are decoded with stb_image
// (from libstb-dev) when an example is requested, so a DataLoader's worker thread does the
// decoding, converted to 1 or 3 channels, resized to a fixed size by bilinear interpolation and
// scaled to [0, 1] (optionally standardised per channel).
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace dg::data {

struct ImageFolderOptions {
  int64_t height = 32;
  int64_t width = 32;
  int channels = 3;         // 1 (grey) or 3 (RGB); images are converted as they are decoded
  std::vector<float> mean;  // per channel (on the [0, 1] scale); empty: no standardisation
  std::vector<float> std;
};

// Decodes an image file into f32 [channels, h, w] in [0, 1], at its own size. A file that does not
// decode, whose header declares a side over 16384 pixels, or more pixels than its bytes could
// encode, is a dg::Error naming the path.
Tensor load_image(const std::string& path, int channels = 3);

// Bilinear resize of f32 [C, H, W] or [N, C, H, W] to [.., height, width], sampling at pixel
// centres (PyTorch's interpolate(mode="bilinear", align_corners=False) without antialiasing).
Tensor resize_bilinear(const Tensor& images, int64_t height, int64_t width);

class ImageFolder : public Dataset {
 public:
  ImageFolder(const std::string& root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  // Input f32 [channels, height, width], target a 0-dim i64 class id.
  Example get(int64_t index) const override;

  const std::vector<std::string>& class_names() const { return class_names_; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }
  const std::vector<std::string>& paths() const { return paths_; }
  const std::vector<int64_t>& labels() const { return labels_; }

  // Decodes every image now: a TensorDataset of [N, C, H, W] and [N], for small folders.
  TensorDataset load_all() const;

 private:
  ImageFolderOptions options_;
  std::vector<std::string> class_names_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
};

}  // namespace dg::data
