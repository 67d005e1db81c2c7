// Figures for results, drawn with PLplot (libplplot-dev) through its cairo PNG driver
// (plplot-driver-cairo): real fonts, anti-aliased lines and points, axes that fit the data (no bar
// starting at zero to hide a one-point difference). Each figure type answers one kind of claim:
//
//   - line charts: curves (loss per epoch, a value per layer, accuracy against a ratio);
//   - seed charts: one point per seed for each method, with the mean and its 95% interval
//     (Student's t), so the reader sees the spread that the means hide;
//   - paired-difference charts: per seed, each method minus a reference method trained on the same
//     seed, with mean and 95% interval and a line at zero: "better than the reference" is a claim
//     about these differences, not about two overlapping intervals;
//   - Pareto charts: methods as points in (cost, accuracy), the front of those no other method
//     beats on both drawn as a line through its points.
//
// Every figure is written as PNG with a CSV of exactly the data it shows beside it (x.png beside
// x_data.csv, a name that cannot be a program's own x.csv), so a figure can be checked or redrawn
// elsewhere.
//
//   write_seed_chart("out/top1.png", {.title = "top-1", .y_label = "top-1 %",
//                                     .groups = {{"IMP", {81.2, 80.9, 81.5}}, {"MP", {...}}}});
#pragma once

#include <string>
#include <vector>

#include "nn/train/run_log.h"

namespace dg::plot {

struct Rgb {
  int r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};
// The colour of series i (the ten-colour "tableau 10" palette, repeating).
Rgb series_color(size_t index);

// The CSV written beside a figure: "dir/x.png" -> "dir/x_data.csv".
std::string csv_path_for(const std::string& png_path);

// ---------------------------------------------------------------- line charts

// Points (x[i], y[i]) joined in order; a NaN y leaves a gap. An empty name has no legend entry.
struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  int width = 800, height = 500;
};
// CSV: series,x,y.
void write_line_chart(const std::string& png_path, const LineChart& chart);
// The curves of a run log: y_columns against x_column (e.g. losses per epoch).
LineChart curves_chart(const train::RunLog& log, const std::string& x_column,
                       const std::vector<std::string>& y_columns, const std::string& title);

// ---------------------------------------------------------------- per-seed values

// One method's values, one per seed.
struct Group {
  std::string name;
  std::vector<double> values;
};

struct SeedChart {
  std::string title, y_label;
  std::vector<Group> groups;
  int width = 800, height = 500;
};
// Each group's points (spread sideways so they do not hide each other), its mean as a black bar
// and the 95% interval of the mean as a black error bar. CSV: group,value,mean,ci95_low,ci95_high.
void write_seed_chart(const std::string& png_path, const SeedChart& chart);

struct PairedChart {
  std::string title, y_label;
  std::string reference;           // the method subtracted, named in the axis label
  std::vector<Group> differences;  // method - reference, per seed
  int width = 800, height = 500;
};
// As a seed chart, plus a dashed line at zero. CSV: group,difference,mean,ci95_low,ci95_high.
void write_paired_chart(const std::string& png_path, const PairedChart& chart);

// ---------------------------------------------------------------- Pareto fronts

struct ParetoPoint {
  std::string name;
  double cost = 0.0;   // x: lower is better (parameters, FLOPs, time)
  double value = 0.0;  // y: higher is better (accuracy)
};

// The points no other point beats (lower or equal cost and higher or equal value, one of them
// strictly), as indices sorted by cost.
std::vector<size_t> pareto_front(const std::vector<ParetoPoint>& points);

struct ParetoChart {
  std::string title, x_label, y_label;
  std::vector<ParetoPoint> points;
  int width = 800, height = 500;
};
// Every point, labelled with its name, and the front as a line through its points.
// CSV: name,cost,value,on_front.
void write_pareto_chart(const std::string& png_path, const ParetoChart& chart);

}  // namespace dg::plot
