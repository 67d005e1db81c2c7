// The figures of examples/common/plot.h, read back from disk: each is a PNG of the requested size
// (decoded with stb_image) with ink on it in the series' colours and anti-aliased edges (many grey
// levels, which a one-bit raster would not have), and its CSV beside it holds the data drawn. Also
// the Pareto front's definition and the errors for bad input.
#include <catch2/catch.hpp>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "../datasets/data_test_util.h"
#include "engine/error.h"
#include "examples/common/mask_image.h"
#include "examples/common/plot.h"
#include "engine/ops/ops.h"
#include "nn/train/run_log.h"

using namespace dg;
using namespace dg::plot;

namespace {

struct Png {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
  Rgb at(int x, int y) const {
    const size_t i = 3 * (static_cast<size_t>(y) * width + x);
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

Png read_png(const std::string& path) {
  Png png;
  int channels = 0;
  unsigned char* data = stbi_load(path.c_str(), &png.width, &png.height, &channels, 3);
  REQUIRE(data != nullptr);
  png.rgb.assign(data, data + 3 * png.width * png.height);
  stbi_image_free(data);
  return png;
}

// Pixels within `tolerance` of `color` in each channel.
int count_near(const Png& png, Rgb color, int tolerance = 12) {
  int n = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) {
      const Rgb c = png.at(x, y);
      n += std::abs(c.r - color.r) <= tolerance && std::abs(c.g - color.g) <= tolerance &&
           std::abs(c.b - color.b) <= tolerance;
    }
  return n;
}

// The number of distinct grey levels (r == g == b) strictly between black and white.
int grey_levels(const Png& png) {
  std::set<int> levels;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) {
      const Rgb c = png.at(x, y);
      if (c.r == c.g && c.g == c.b && c.r > 0 && c.r < 255) levels.insert(c.r);
    }
  return static_cast<int>(levels.size());
}

// A plain figure: mostly white, some black (axes, text), anti-aliased.
void check_figure(const Png& png, int width, int height) {
  CHECK(png.width == width);
  CHECK(png.height == height);
  const int pixels = width * height;
  CHECK(count_near(png, {255, 255, 255}, 0) > pixels / 2);
  CHECK(count_near(png, {0, 0, 0}, 40) > 200);
  CHECK(grey_levels(png) > 20);
}

}  // namespace

TEST_CASE("series_color: ten distinct colours, then repeating", "[examples][plot]") {
  std::set<std::tuple<int, int, int>> colours;
  for (size_t i = 0; i < 10; ++i)
    colours.insert({series_color(i).r, series_color(i).g, series_color(i).b});
  CHECK(colours.size() == 10);
  CHECK(series_color(10) == series_color(0));
  CHECK(csv_path_for("a/b/fig.png") == "a/b/fig_data.csv");
}

TEST_CASE("line chart: a PNG of the requested size with each series' colour, and its CSV",
          "[examples][plot]") {
  test::TempDir dir;
  const std::string png = dir.file("sub/curves.png");  // the folder is made
  const double nan = std::numeric_limits<double>::quiet_NaN();
  write_line_chart(png, {.title = "loss",
                         .x_label = "epoch",
                         .y_label = "loss",
                         .series = {{"train", {1, 2, 3, 4}, {1.0, 0.6, 0.4, 0.3}},
                                    {"test", {1, 2, 3, 4}, {1.1, nan, 0.5, 0.45}}},
                         .width = 640,
                         .height = 400});
  const Png image = read_png(png);
  check_figure(image, 640, 400);
  CHECK(count_near(image, series_color(0), 20) > 100);
  CHECK(count_near(image, series_color(1), 20) > 100);
  const train::CsvTable csv = train::read_csv(csv_path_for(png));
  CHECK(csv.columns == std::vector<std::string>{"series", "x", "y"});
  CHECK(csv.rows.size() == 8);
  CHECK(csv.texts("series")[4] == "test");
  CHECK(std::isnan(csv.numbers("y")[5]));  // the gap is kept in the data
  CHECK_THROWS_WITH(
      write_line_chart(
          dir.file("bad.png"),
          {.title = "t", .x_label = "", .y_label = "", .series = {{"s", {1, 2}, {1}}}}),
      Catch::Contains("series 's' has 2 x values and 1 y values"));
  CHECK_THROWS_WITH(
      write_line_chart(
          dir.file("tiny.png"),
          {.title = "t", .x_label = "", .y_label = "", .series = {}, .width = 10, .height = 10}),
      Catch::Contains("figure size 10x10"));
}

TEST_CASE("seed chart: per-seed points, mean and 95% interval in the CSV", "[examples][plot]") {
  test::TempDir dir;
  const std::string png = dir.file("seeds.png");
  write_seed_chart(png, {.title = "top-1",
                         .y_label = "top-1 %",
                         .groups = {{"IMP", {81.0, 82.0, 83.0}}, {"MP", {80.0, 80.5, 80.2}}}});
  const Png image = read_png(png);
  check_figure(image, 800, 500);
  CHECK(count_near(image, series_color(0), 20) > 30);  // three dots of the first group
  CHECK(count_near(image, series_color(1), 20) > 30);
  const train::CsvTable csv = train::read_csv(csv_path_for(png));
  CHECK(csv.columns == std::vector<std::string>{"group", "value", "mean", "ci95_low", "ci95_high"});
  REQUIRE(csv.rows.size() == 6);
  CHECK(csv.numbers("mean")[0] == Approx(82.0));
  CHECK(csv.numbers("ci95_high")[0] == Approx(82.0 + 4.303 / std::sqrt(3.0)));  // std 1, t(2)
}

TEST_CASE("paired chart: differences against the reference, with the zero line",
          "[examples][plot]") {
  test::TempDir dir;
  const std::string png = dir.file("paired.png");
  write_paired_chart(
      png, {.title = "against DY-Conv",
            .y_label = "top-1 points",
            .reference = "DY-Conv",
            .differences = {{"PAD-Net", {0.5, 0.7, 0.2}}, {"Static", {-2.0, -1.5, -2.2}}}});
  check_figure(read_png(png), 800, 500);
  const train::CsvTable csv = train::read_csv(csv_path_for(png));
  CHECK(csv.columns[1] == "difference");
  CHECK(csv.texts("group")[3] == "Static");
}

TEST_CASE("pareto_front: the points nothing beats on both cost and value, by cost",
          "[examples][plot]") {
  const std::vector<ParetoPoint> points = {
      {"a", 10, 0.80}, {"b", 20, 0.85}, {"c", 15, 0.70}, {"d", 30, 0.85}, {"e", 5, 0.60}};
  // c is beaten by a (cheaper and better); d by b (same value, cheaper).
  CHECK(pareto_front(points) == std::vector<size_t>{4, 0, 1});
  test::TempDir dir;
  const std::string png = dir.file("pareto.png");
  write_pareto_chart(png, {.title = "cost and accuracy",
                           .x_label = "parameters",
                           .y_label = "top-1",
                           .points = points});
  check_figure(read_png(png), 800, 500);
  const train::CsvTable csv = train::read_csv(csv_path_for(png));
  CHECK(csv.numbers("on_front") == std::vector<double>{1, 1, 0, 0, 1});
}

TEST_CASE("mask image: dynamic entries black, static white, large masks shrunk by block shares",
          "[examples][plot]") {
  test::TempDir dir;
  // 2 x 3, one pixel per entry.
  const std::string small = dir.file("small.png");
  CHECK(experiment::write_mask_image(small, from_vector(std::vector<double>{1, 0, 1, 0, 0, 1}, {2, 3})) == 1);
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(small.c_str(), &width, &height, &channels, 1);
  REQUIRE(pixels != nullptr);
  CHECK(width == 3);
  CHECK(height == 2);
  const std::vector<int> expected = {0, 255, 0, 255, 255, 0};
  for (size_t i = 0; i < expected.size(); ++i) CHECK(int(pixels[i]) == expected[i]);
  stbi_image_free(pixels);
  // 4 x 4 with max_side 2: each pixel a 2 x 2 block; the top-left block has 1 dynamic entry of 4
  // (gray 255 * 3/4 = 191), the others none or all.
  const std::string shrunk = dir.file("shrunk.png");
  const Tensor mask = from_vector(std::vector<double>{1, 0, 1, 1,  //
                                                      0, 0, 1, 1,  //
                                                      0, 0, 0, 0,  //
                                                      0, 0, 0, 0},
                                  {4, 4});
  CHECK(experiment::write_mask_image(shrunk, mask, 2) == 2);
  pixels = stbi_load(shrunk.c_str(), &width, &height, &channels, 1);
  REQUIRE(pixels != nullptr);
  CHECK(width == 2);
  CHECK(height == 2);
  CHECK(int(pixels[0]) == 191);
  CHECK(int(pixels[1]) == 0);
  CHECK(int(pixels[2]) == 255);
  CHECK(int(pixels[3]) == 255);
  stbi_image_free(pixels);
  CHECK_THROWS_WITH(experiment::write_mask_image(dir.file("x.png"), zeros({2, 2, 2})),
                    Catch::Contains("needs [rows, cols]"));
  CHECK_THROWS_WITH(experiment::write_mask_image(dir.file("x.png"), full({2, 2}, 2.0)),
                    Catch::Contains("needs [0, 1]"));
}
