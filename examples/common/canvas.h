// A tiny RGB raster for drawing figures without a graphics library: pixels, filled rectangles,
// lines of a given thickness, and text in an embedded 5x7 bitmap font (printable ASCII, 32-126),
// written out as PNG through stb_image_write. It is what nn/plot.h draws its charts on; nothing
// here knows about axes or data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dg::plot {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

class Canvas {
 public:
  // Glyphs are 5x7 pixels in a 6x8 cell (one column and one row of spacing), times `scale`.
  static constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kCellWidth = 6, kCellHeight = 8;

  Canvas(int width, int height, Rgb background = {255, 255, 255});

  int width() const { return width_; }
  int height() const { return height_; }
  // Pixels outside the canvas are ignored by every drawing call (figures clip, they never fail).
  void set(int x, int y, Rgb color);
  Rgb at(int x, int y) const;
  // The rectangle [x0, x1] x [y0, y1] (inclusive, corners in any order).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb color);
  // A straight line from (x0, y0) to (x1, y1), `thickness` pixels wide.
  void draw_line(int x0, int y0, int x1, int y1, Rgb color, int thickness = 1);
  // `text` with its top-left corner at (x, y); characters outside 32-126 draw as '?'.
  void draw_text(int x, int y, const std::string& text, Rgb color, int scale = 1);
  // The same, turned a quarter counter-clockwise (reading bottom to top), its top-left at (x, y).
  void draw_text_vertical(int x, int y, const std::string& text, Rgb color, int scale = 1);
  static int text_width(const std::string& text, int scale = 1) {
    return static_cast<int>(text.size()) * kCellWidth * scale;
  }
  static int text_height(int scale = 1) { return kCellHeight * scale; }

  // Writes the canvas as an 8-bit RGB PNG; throws dg::Error when the file cannot be written.
  void write_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<uint8_t> pixels_;  // row-major RGB
};

}  // namespace dg::plot
