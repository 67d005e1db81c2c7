// Image-folder reading (see image_folder.h): the directory scan, decoding through stb_image and a
// bilinear resize written out here. This file holds the one stb_image implementation of the
// project, compiled with STB_IMAGE_STATIC so its symbols stay private to this file.
#include "datasets/image_folder.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <filesystem>
#include <memory>

#include "datasets/io.h"
#include "engine/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
// A side past 16384 pixels is refused before any pixel buffer is allocated (stb's default, 2^24,
// lets a few hostile header bytes ask for gigabytes); a data-set image is never that large.
#define STBI_MAX_DIMENSIONS (1 << 14)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace dg::data {
namespace {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

bool is_hidden(const fs::path& p) { return p.filename().string().starts_with('.'); }

// Source coordinate of output pixel `dst` for pixel-centre sampling, clamped at the low edge as
// PyTorch does; returns the lower neighbour and the weight of the upper one.
struct Tap {
  int64_t lo, hi;
  float frac;
};
std::vector<Tap> taps(int64_t in, int64_t out) {
  std::vector<Tap> t(out);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t d = 0; d < out; ++d) {
    const double src = std::max(0.0, (d + 0.5) * scale - 0.5);
    const int64_t lo = std::min(static_cast<int64_t>(src), in - 1);
    t[d] = {lo, std::min(lo + 1, in - 1), static_cast<float>(src - lo)};
  }
  return t;
}

// stb_image grows its buffer for PNG image data to a chunk's declared length before it reads the
// chunk, so one corrupt length field in a 100-byte file made it allocate 2 GiB (found by
// tests/fuzz/fuzz_image_folder). A PNG's chunk lengths are therefore checked against the bytes
// that follow them first.
void check_png_chunks(const std::vector<uint8_t>& b, const std::string& path) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 8 || !std::equal(kSignature, kSignature + 8, b.begin())) return;
  for (size_t pos = 8; pos + 8 <= b.size();) {
    const uint32_t length = static_cast<uint32_t>(b[pos]) << 24 | b[pos + 1] << 16 |
                            b[pos + 2] << 8 | b[pos + 3];
    std::string type(b.begin() + pos + 4, b.begin() + pos + 8);
    const bool printable = std::all_of(type.begin(), type.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    });
    if (!printable) type = "?";
    const size_t remaining = b.size() - pos - 8;  // data and CRC of this chunk, and what follows
    check(length <= remaining,
          "load_image: '{}' is a corrupt PNG: chunk '{}' at byte {} declares {} bytes but only {} "
          "follow",
          path, type, pos, length, remaining);
    if (type == "IEND") return;
    pos += 12 + static_cast<size_t>(length);
  }
}

// stb_image 2.27 builds a JPEG Huffman table from a DHT segment's 16 code counts without checking
// that they add up to at most 256, the size of the table it writes them into: a corrupt count
// writes past it (found by tests/fuzz/fuzz_image_folder). So every DHT segment of a JPEG is read
// here first: each table's counts must add up to at most 256, and every segment must fit in the
// file. Entropy-coded data after a scan header is skipped up to the next marker.
void check_jpeg_huffman_tables(const std::vector<uint8_t>& b, const std::string& path) {
  if (b.size() < 2 || b[0] != 0xFF || b[1] != 0xD8) return;  // not a JPEG
  auto corrupt = [&](size_t at, std::string_view what) {
    fail("load_image: '{}' is a corrupt JPEG: {} at byte {}", path, what, at);
  };
  size_t pos = 2;
  while (pos + 1 < b.size()) {
    if (b[pos] != 0xFF) {
      ++pos;  // entropy-coded data of a scan (or padding): look for the next marker
      continue;
    }
    const uint8_t marker = b[pos + 1];
    // 0xFF 0x00 is a stuffed data byte, 0xFF 0xFF fill, and RSTn, SOI and TEM have no length.
    if (marker == 0x00 || marker == 0xFF || (marker >= 0xD0 && marker <= 0xD8) || marker == 0x01) {
      pos += marker == 0xFF ? 1 : 2;
      continue;
    }
    if (marker == 0xD9) return;  // end of image
    if (pos + 4 > b.size()) corrupt(pos, "a segment header cut short");
    const size_t length = static_cast<size_t>(b[pos + 2]) << 8 | b[pos + 3];
    if (length < 2 || pos + 2 + length > b.size()) corrupt(pos, "a segment longer than the file");
    if (marker == 0xC4) {  // DHT: one or more tables of (class/id, 16 counts, the symbols)
      size_t at = pos + 4;
      const size_t end = pos + 2 + length;
      while (at < end) {
        if (at + 17 > end) corrupt(at, "a Huffman table cut short");
        size_t codes = 0;
        for (int i = 1; i <= 16; ++i) codes += b[at + i];
        if (codes > 256) corrupt(at, fmt::format("a Huffman table of {} codes (at most 256)", codes));
        if (at + 17 + codes > end) corrupt(at, "a Huffman table longer than its segment");
        at += 17 + codes;
      }
    }
    pos += 2 + length;
  }
}

}  // namespace

Tensor load_image(const std::string& path, int channels) {
  check(channels == 1 || channels == 3, "load_image: channels must be 1 or 3, got {}", channels);
  const std::vector<uint8_t> bytes = read_file_bytes(path, "load_image");
  check(bytes.size() < (size_t{1} << 31), "load_image: '{}' is too large to be an image", path);
  const int size = static_cast<int>(bytes.size());
  check_png_chunks(bytes, path);
  check_jpeg_huffman_tables(bytes, path);
  int w = 0, h = 0, file_channels = 0;
  // stb allocates the whole pixel buffer from the header's width and height before it decodes
  // any pixel data. A header may not promise more pixels than its file could hold compressed
  // (8 pixels per byte for 1-bit data, times deflate's 1032x), so a few hostile bytes cannot ask
  // for gigabytes; a real image is far below this bound.
  if (stbi_info_from_memory(bytes.data(), size, &w, &h, &file_channels)) {
    check(static_cast<uint64_t>(w) * static_cast<uint64_t>(h) <=
              (static_cast<uint64_t>(size) + 4096) * 8 * kMaxDeflateExpansion,
          "load_image: '{}' declares {}x{} pixels, more than its {} bytes can encode", path, w, h,
          size);
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), size, &w, &h, &file_channels, channels),
      stbi_image_free);
  if (!pixels) fail("load_image: cannot decode '{}': {}", path, stbi_failure_reason());
  // Interleaved HWC bytes -> planar CHW floats.
  Tensor image = Tensor::empty({channels, h, w}, DType::f32);
  float* out = image.data<float>();
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < channels; ++c) out[c * plane + i] = pixels.get()[i * channels + c] / 255.0f;
  return image;
}

Tensor resize_bilinear(const Tensor& images, int64_t height, int64_t width) {
  check(images.dtype() == DType::f32 && (images.dim() == 3 || images.dim() == 4),
        "resize_bilinear: expected f32 [C,H,W] or [N,C,H,W], got {} {}", images.dtype(),
        images.shape());
  check(images.device().is_cpu(), "resize_bilinear: expected a CPU tensor, got {}",
        images.device());
  check(height > 0 && width > 0, "resize_bilinear: output size {}x{} must be positive", height,
        width);
  const Tensor src = images.is_contiguous() ? images : images.contiguous();
  const int64_t in_h = src.size(-2), in_w = src.size(-1);
  check(in_h > 0 && in_w > 0, "resize_bilinear: empty input {}", src.shape());
  Shape out_shape = src.shape();
  out_shape[out_shape.size() - 2] = height;
  out_shape[out_shape.size() - 1] = width;
  Tensor out = Tensor::empty(out_shape, DType::f32);
  const int64_t planes = src.numel() / (in_h * in_w);
  const std::vector<Tap> ty = taps(in_h, height), tx = taps(in_w, width);
  const float* s = src.data<float>();
  float* d = out.data<float>();
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = s + p * in_h * in_w;
    float* dst = d + p * height * width;
    for (int64_t y = 0; y < height; ++y) {
      const float* row0 = plane + ty[y].lo * in_w;
      const float* row1 = plane + ty[y].hi * in_w;
      const float fy = ty[y].frac;
      for (int64_t x = 0; x < width; ++x) {
        const Tap& t = tx[x];
        const float top = row0[t.lo] + t.frac * (row0[t.hi] - row0[t.lo]);
        const float bottom = row1[t.lo] + t.frac * (row1[t.hi] - row1[t.lo]);
        dst[y * width + x] = top + fy * (bottom - top);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- ImageFolder

ImageFolder::ImageFolder(const std::string& root, ImageFolderOptions options)
    : options_(std::move(options)) {
  check(options_.channels == 1 || options_.channels == 3,
        "ImageFolder: channels must be 1 or 3, got {}", options_.channels);
  check(options_.height > 0 && options_.width > 0, "ImageFolder: size {}x{} must be positive",
        options_.height, options_.width);
  check(
      options_.mean.size() == options_.std.size() &&
          (options_.mean.empty() || options_.mean.size() == static_cast<size_t>(options_.channels)),
      "ImageFolder: mean and std must both be empty or hold one value per channel ({}); got {} "
      "and {}",
      options_.channels, options_.mean.size(), options_.std.size());
  for (float s : options_.std) check(s > 0, "ImageFolder: std must be positive, got {}", s);
  std::error_code ec;
  check(fs::is_directory(root, ec), "ImageFolder: '{}' is not a directory", root);

  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& e : fs::directory_iterator(root))
    if (e.is_directory() && !is_hidden(e.path())) class_dirs.push_back(e.path());
  std::sort(class_dirs.begin(), class_dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  check(!class_dirs.empty(), "ImageFolder: '{}' has no class sub-folders", root);

  for (size_t c = 0; c < class_dirs.size(); ++c) {
    std::vector<std::string> files;
    for (const fs::directory_entry& e : fs::directory_iterator(class_dirs[c]))
      if (e.is_regular_file() && !is_hidden(e.path()) && is_image_file(e.path()))
        files.push_back(e.path().string());
    check(!files.empty(), "ImageFolder: class folder '{}' holds no .png, .jpg, .jpeg or .bmp files",
          class_dirs[c].string());
    std::sort(files.begin(), files.end());
    class_names_.push_back(class_dirs[c].filename().string());
    for (std::string& f : files) {
      paths_.push_back(std::move(f));
      labels_.push_back(static_cast<int64_t>(c));
    }
  }
}

Example ImageFolder::get(int64_t index) const {
  check(index >= 0 && index < size(), "ImageFolder: index {} out of range for {} images", index,
        size());
  Tensor image = load_image(paths_[index], options_.channels);
  if (image.size(1) != options_.height || image.size(2) != options_.width)
    image = resize_bilinear(image, options_.height, options_.width);
  if (!options_.mean.empty()) {
    float* p = image.data<float>();
    const int64_t plane = options_.height * options_.width;
    for (int c = 0; c < options_.channels; ++c)
      for (int64_t i = 0; i < plane; ++i)
        p[c * plane + i] = (p[c * plane + i] - options_.mean[c]) / options_.std[c];
  }
  Tensor label = Tensor::empty({}, DType::i64);
  *label.data<int64_t>() = labels_[index];
  return {image, label};
}

TensorDataset ImageFolder::load_all() const {
  std::vector<int64_t> all(size());
  for (int64_t i = 0; i < size(); ++i) all[i] = i;
  Batch batch = get_batch(all);
  return TensorDataset(batch.input, batch.target, class_names_);
}

}  // namespace dg::data
