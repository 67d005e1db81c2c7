// Small charts as PNG files, drawn by the program that produced the numbers: line plots (training
// curves, per-layer values; several series, a legend) and grouped bar charts with error bars
// ("mean +- std" over seeds, per method and setting). Axes get "nice" tick values (1, 2 or 5 times
// a power of ten) with labels, a light grid and a title, in the embedded bitmap font of
// nn/canvas.h. The figures are plain on purpose: enough to read a result, nothing to configure.
//
//   write_line_plot("runs/loss.png", {.title = "loss", .x_label = "epoch",
//                                     .series = {{"train", epochs, train_loss},
//                                                {"test", epochs, test_loss}}});
#pragma once

#include <string>
#include <vector>

#include "examples/common/canvas.h"
#include "nn/train/run_log.h"

namespace dg::plot {

// One curve: points (x[i], y[i]) joined in order; a NaN y leaves a gap. A series with an empty
// name has no legend entry.
struct LineSeries {
  std::string name;
  std::vector<double> x, y;
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  int width = 640, height = 400;
};

// values[c] is the bar of this series in category c; errors (empty for none) the half-length of
// its error bar, e.g. one standard deviation.
struct BarSeries {
  std::string name;
  std::vector<double> values, errors;
};

// One group of bars per category, one bar per series in each group.
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  int width = 640, height = 400;
};

// The colour of series i (a ten-colour palette that repeats).
Rgb series_color(size_t index);

// The figures on a canvas; bad input (lengths that differ, negative errors) throws dg::Error.
Canvas render_line_plot(const LinePlot& plot);
Canvas render_bar_chart(const BarChart& chart);
// The same, written as PNG files.
void write_line_plot(const std::string& png_path, const LinePlot& plot);
void write_bar_chart(const std::string& png_path, const BarChart& chart);

// A line plot of a run log's y_columns against its x_column (e.g. the curves of a training run).
LinePlot curves_plot(const train::RunLog& log, const std::string& x_column,
                     const std::vector<std::string>& y_columns, const std::string& title);

}  // namespace dg::plot
