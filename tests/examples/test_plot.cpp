// Tests of the PNG charts: the files read back (with stb_image) at the requested size and equal to
// the rendered canvas; the marks land where the data says (a rising line is low on the left and
// high on the right, a bar twice as tall has twice the pixels); legends show the series colours;
// and mismatched input is an error.
#include <catch2/catch.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#include <stb_image.h>

#include <memory>

#include "../datasets/data_test_util.h"
#include "engine/error.h"
#include "examples/common/plot.h"

using namespace dg;
using namespace dg::plot;

namespace {

// A chart of only these series (GCC 12 warns about the members a designated initializer omits).
LinePlot line_plot(std::vector<LineSeries> series) {
  LinePlot plot;
  plot.series = std::move(series);
  return plot;
}
BarChart bar_chart(std::vector<std::string> categories, std::vector<BarSeries> series) {
  BarChart chart;
  chart.categories = std::move(categories);
  chart.series = std::move(series);
  return chart;
}

// The pixels of `color`: their number and mean position.
struct Ink {
  int count = 0;
  double mean_x = 0, mean_y = 0;
};
Ink find_ink(const Canvas& canvas, Rgb color, int x0, int x1) {
  Ink ink;
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = x0; x <= x1; ++x)
      if (canvas.at(x, y) == color) {
        ++ink.count;
        ink.mean_x += x;
        ink.mean_y += y;
      }
  if (ink.count > 0) ink.mean_x /= ink.count, ink.mean_y /= ink.count;
  return ink;
}
Ink find_ink(const Canvas& canvas, Rgb color) {
  return find_ink(canvas, color, 0, canvas.width() - 1);
}

// The PNG at `path` equals `canvas`, pixel for pixel.
void check_png_matches(const std::string& path, const Canvas& canvas) {
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &width, &height, &channels, 3),
                                                   stbi_image_free);
  REQUIRE(pixels != nullptr);
  CHECK(width == canvas.width());
  CHECK(height == canvas.height());
  int differing = 0;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const stbi_uc* p = pixels.get() + (static_cast<size_t>(y) * width + x) * 3;
      differing += !(Rgb{p[0], p[1], p[2]} == canvas.at(x, y));
    }
  CHECK(differing == 0);
}

}  // namespace

TEST_CASE("series_color: ten distinct colours, then repeating", "[nn][plot]") {
  for (size_t i = 0; i < 10; ++i)
    for (size_t j = 0; j < i; ++j) CHECK(!(series_color(i) == series_color(j)));
  CHECK(series_color(12) == series_color(2));
}

TEST_CASE("line plot: PNG of the requested size; a rising line rises", "[nn][plot]") {
  std::vector<double> x, up, down;
  for (int i = 0; i <= 20; ++i) {
    x.push_back(i);
    up.push_back(i * 0.5);
    down.push_back(10 - i * 0.5);
  }
  // Unnamed series have no legend entry, so every pixel of their colour is the line.
  LinePlot plot{.title = "Two lines", .x_label = "step", .y_label = "value",
                .series = {{"", x, up}, {"", x, down}}, .width = 500, .height = 300};
  const Canvas canvas = render_line_plot(plot);
  CHECK(canvas.width() == 500);
  CHECK(canvas.height() == 300);
  const int middle = canvas.width() / 2;
  const Ink up_left = find_ink(canvas, series_color(0), 0, middle);
  const Ink up_right = find_ink(canvas, series_color(0), middle + 1, canvas.width() - 1);
  REQUIRE(up_left.count > 50);
  REQUIRE(up_right.count > 50);
  CHECK(up_left.mean_y > up_right.mean_y + 50);  // image rows grow downwards
  const Ink down_left = find_ink(canvas, series_color(1), 0, middle);
  const Ink down_right = find_ink(canvas, series_color(1), middle + 1, canvas.width() - 1);
  CHECK(down_left.mean_y < down_right.mean_y - 50);
  // The two lines cross in the middle: their centres of ink sit at the same height.
  CHECK(find_ink(canvas, series_color(0)).mean_y ==
        Approx(find_ink(canvas, series_color(1)).mean_y).margin(3));

  test::TempDir dir;
  write_line_plot(dir.file("lines.png"), plot);
  check_png_matches(dir.file("lines.png"), canvas);
}

TEST_CASE("line plot: named series get a legend swatch; NaN leaves a gap", "[nn][plot]") {
  const LinePlot plot = line_plot({{"loss", {0, 1, 2, 3}, {1, 0.5, NAN, 0.2}}});
  const Canvas canvas = render_line_plot(plot);
  CHECK(canvas.width() == 640);
  CHECK(canvas.height() == 400);
  // The legend's swatch sits in the top rows, above the plot area.
  const Ink ink = find_ink(canvas, series_color(0));
  int legend_pixels = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 30; ++x) legend_pixels += canvas.at(x, y) == series_color(0);
  CHECK(legend_pixels >= 30);
  CHECK(ink.count > legend_pixels);
  // A constant series (an empty range) is drawn, not rejected.
  CHECK(find_ink(render_line_plot(line_plot({{"", {0, 1}, {3, 3}}})), series_color(0)).count > 0);
  CHECK_THROWS_WITH(render_line_plot(line_plot({{"bad", {0, 1}, {1}}})),
                    Catch::Contains("series 'bad' has 2 x values and 1 y values"));
}

TEST_CASE("bar chart: bar areas follow the values; error bars; PNG size", "[nn][plot]") {
  // One category, two unnamed series: 10 and 5, so the first bar has twice the pixels.
  BarChart chart{.title = "bars", .y_label = "accuracy", .categories = {"only"},
                 .series = {{"", {10.0}, {}}, {"", {5.0}, {}}}};
  const Canvas canvas = render_bar_chart(chart);
  const Ink tall = find_ink(canvas, series_color(0)), short_ = find_ink(canvas, series_color(1));
  REQUIRE(short_.count > 100);
  CHECK(static_cast<double>(tall.count) / short_.count == Approx(2.0).epsilon(0.03));
  CHECK(tall.mean_y < short_.mean_y);  // the taller bar reaches higher
  CHECK(tall.mean_x < short_.mean_x);  // series in order within the group

  // Error bars are drawn in the ink colour across the top of the bar.
  BarChart with_errors = chart;
  with_errors.series[0].errors = {2.0};
  with_errors.series[1].errors = {0.0};
  const Canvas errors = render_bar_chart(with_errors);
  const Ink ink_before = find_ink(canvas, Rgb{40, 40, 40});
  const Ink ink_after = find_ink(errors, Rgb{40, 40, 40});
  CHECK(ink_after.count > ink_before.count + 10);

  test::TempDir dir;
  chart.width = 320;
  chart.height = 240;
  write_bar_chart(dir.file("bars.png"), chart);
  check_png_matches(dir.file("bars.png"), render_bar_chart(chart));

  CHECK_THROWS_WITH(render_bar_chart(bar_chart({"a", "b"}, {{"s", {1.0}, {}}})),
                    Catch::Contains("series 's' has 1 values for 2 categories"));
  CHECK_THROWS_WITH(render_bar_chart(bar_chart({"a"}, {{"s", {1.0}, {-1.0}}})),
                    Catch::Contains("negative error"));
}
