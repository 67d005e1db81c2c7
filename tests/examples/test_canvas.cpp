// Tests of the raster under the plots: clipping, rectangles, lines of a given thickness, and that
// text draws ink only inside its character cells (and none for spaces), horizontally and turned.
#include <catch2/catch.hpp>

#include "engine/error.h"
#include "examples/common/canvas.h"

using namespace dg;
using namespace dg::plot;

namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kRed{200, 0, 0};

// The number of pixels of `color` in [x0, x1] x [y0, y1].
int count(const Canvas& canvas, Rgb color, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) n += canvas.at(x, y) == color;
  return n;
}
int count(const Canvas& canvas, Rgb color) {
  return count(canvas, color, 0, 0, canvas.width() - 1, canvas.height() - 1);
}

}  // namespace

TEST_CASE("Canvas: background, rectangles and clipping", "[nn][canvas]") {
  Canvas canvas(20, 10);
  CHECK(count(canvas, kWhite) == 200);
  canvas.fill_rect(5, 6, 2, 3, kRed);  // corners in any order, inclusive
  CHECK(count(canvas, kRed) == 4 * 4);
  CHECK(canvas.at(2, 3) == kRed);
  CHECK(canvas.at(5, 6) == kRed);
  canvas.fill_rect(-5, -5, 0, 0, kRed);  // clipped to the one pixel inside
  CHECK(count(canvas, kRed) == 17);
  canvas.set(100, 100, kRed);  // outside: ignored
  CHECK(count(canvas, kRed) == 17);
  CHECK_THROWS_AS(canvas.at(20, 0), Error);
  CHECK_THROWS_AS(Canvas(0, 5), Error);
}

TEST_CASE("Canvas: lines join their end points with the given thickness", "[nn][canvas]") {
  Canvas canvas(30, 30);
  canvas.draw_line(2, 3, 20, 3, kRed);  // horizontal, 1 pixel
  CHECK(count(canvas, kRed) == 19);
  CHECK(count(canvas, kRed, 2, 3, 20, 3) == 19);

  Canvas diagonal(30, 30);
  diagonal.draw_line(25, 25, 5, 5, kRed);  // either direction
  for (int i = 5; i <= 25; ++i) CHECK(diagonal.at(i, i) == kRed);
  CHECK(count(diagonal, kRed) == 21);

  Canvas thick(30, 30);
  thick.draw_line(5, 10, 15, 10, kRed, 3);
  // A 3x3 brush on every point: rows 9 to 11, overhanging each end point by one pixel.
  CHECK(count(thick, kRed) == 13 * 3);
  CHECK(count(thick, kRed, 4, 9, 16, 11) == 13 * 3);
}

TEST_CASE("Canvas: text draws ink inside its cells only", "[nn][canvas]") {
  Canvas canvas(100, 40);
  canvas.draw_text(10, 5, "A b", kRed);
  // Each character owns a 6x8 cell; ink stays within the 5x7 glyph of each.
  CHECK(count(canvas, kRed, 10, 5, 14, 11) > 10);  // 'A'
  CHECK(count(canvas, kRed, 16, 5, 21, 12) == 0);  // ' '
  CHECK(count(canvas, kRed, 22, 5, 26, 11) > 10);  // 'b'
  CHECK(count(canvas, kRed) == count(canvas, kRed, 10, 5, 26, 11));
  CHECK(Canvas::text_width("A b") == 18);

  // Scaled text covers scale^2 times the pixels.
  Canvas big(100, 40);
  big.draw_text(0, 0, "A b", kRed, 2);
  CHECK(count(big, kRed) == 4 * count(canvas, kRed));

  // Turned text: the same ink, in a column of the text's length reading upwards.
  Canvas turned(40, 100);
  turned.draw_text_vertical(5, 10, "A b", kRed);
  CHECK(count(turned, kRed) == count(canvas, kRed));
  CHECK(count(turned, kRed, 5, 10, 11, 27) == count(canvas, kRed));
  CHECK(count(turned, kRed, 5, 22, 11, 27) > 10);  // 'A' comes first, at the bottom
}
