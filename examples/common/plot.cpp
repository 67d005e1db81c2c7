// The charts of plot.h: a shared frame (title, legend, axes with ticks and grid) and the line and
// bar marks drawn inside it.
#include "examples/common/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace dg::plot {

namespace {

constexpr Rgb kInk{40, 40, 40};
constexpr Rgb kGrid{225, 225, 225};
constexpr int kTitleScale = 2;
constexpr int kSwatch = 8;        // legend colour square
constexpr int kPad = 8;           // space around the frame's parts
constexpr int kTickLength = 4;
constexpr int kTargetTicks = 5;

// An axis: the value range [low, high] shown, and the tick values in it.
struct Axis {
  double low = 0, high = 1;
  std::vector<double> ticks;
  int decimals = 0;  // for the tick labels
};

// The smallest 1, 2 or 5 times a power of ten that is at least `rough`.
double nice_step(double rough) {
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (double multiple : {1.0, 2.0, 5.0})
    if (multiple * power >= rough * (1 - 1e-9)) return multiple * power;
  return 10 * power;
}

// An axis covering [min, max], widened to whole tick steps. An empty range (one value) is widened
// around it so the data sits in the middle. With `whole_steps` (data that are counts, such as
// epochs) ticks fall on integers only.
Axis make_axis(double min, double max, bool whole_steps = false) {
  if (!(min <= max)) min = 0, max = 1;  // no finite data
  if (min == max) {
    const double half = min == 0 ? 1.0 : std::abs(min) * 0.1;
    min -= half;
    max += half;
  }
  double step = nice_step((max - min) / kTargetTicks);
  if (whole_steps) step = std::max(step, 1.0);
  Axis axis;
  axis.low = std::floor(min / step + 1e-9) * step;
  axis.high = std::ceil(max / step - 1e-9) * step;
  for (double t = axis.low; t <= axis.high + step * 1e-6; t += step)
    axis.ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  axis.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return axis;
}

std::string tick_label(double value, const Axis& axis) {
  const double largest = std::max(std::abs(axis.low), std::abs(axis.high));
  if (largest >= 1e6 || (largest > 0 && largest < 1e-3)) return fmt::format("{:.2g}", value);
  return fmt::format("{:.{}f}", value, axis.decimals);
}

// The outer layout every chart shares: title, legend rows under it, the plot area, the axis labels.
class Frame {
 public:
  Frame(int width, int height, const std::string& title, const std::vector<std::string>& legend,
        const Axis& y_axis, const std::string& y_label, bool has_x_label)
      : canvas_(width, height), y_axis_(y_axis) {
    int y = kPad;
    if (!title.empty()) {
      const int title_width = Canvas::text_width(title, kTitleScale);
      canvas_.draw_text((width - title_width) / 2, y, title, kInk, kTitleScale);
      y += Canvas::text_height(kTitleScale) + kPad / 2;
    }
    y = draw_legend(y, legend);
    top_ = y + kPad;

    int widest_tick = 0;
    for (double t : y_axis.ticks)
      widest_tick = std::max(widest_tick, Canvas::text_width(tick_label(t, y_axis)));
    left_ = kPad + (y_label.empty() ? 0 : Canvas::text_height() + kPad / 2) + widest_tick +
            kTickLength + 2;
    right_ = width - 2 * kPad;
    bottom_ = height - kPad - kTickLength - Canvas::text_height() -
              (has_x_label ? Canvas::text_height() + kPad / 2 : 0) - 2;
    check(right_ - left_ >= 20 && bottom_ - top_ >= 20,
          "plot: {}x{} is too small for the title, legend and labels", width, height);

    if (!y_label.empty()) {
      const int length = Canvas::text_width(y_label);
      canvas_.draw_text_vertical(kPad, (top_ + bottom_ - length) / 2, y_label, kInk);
    }
    for (double t : y_axis.ticks) {
      const int py = y_pixel(t);
      canvas_.draw_line(left_, py, right_, py, kGrid);
      canvas_.draw_line(left_ - kTickLength, py, left_, py, kInk);
      const std::string label = tick_label(t, y_axis);
      canvas_.draw_text(left_ - kTickLength - 2 - Canvas::text_width(label),
                        py - Canvas::text_height() / 2 + 1, label, kInk);
    }
  }

  // The frame lines, drawn last so the marks never cover them.
  void draw_axes() {
    canvas_.draw_line(left_, top_, left_, bottom_, kInk);
    canvas_.draw_line(left_, bottom_, right_, bottom_, kInk);
  }

  // A label centred under the plot area at pixel column `x`, on the tick-label row.
  void draw_x_tick_label(int x, const std::string& label) {
    canvas_.draw_line(x, bottom_, x, bottom_ + kTickLength, kInk);
    canvas_.draw_text(x - Canvas::text_width(label) / 2, bottom_ + kTickLength + 2, label, kInk);
  }
  void draw_x_label(const std::string& label) {
    canvas_.draw_text((left_ + right_ - Canvas::text_width(label)) / 2,
                      bottom_ + kTickLength + 2 + Canvas::text_height() + kPad / 2, label, kInk);
  }

  int y_pixel(double value) const {
    const double fraction = (value - y_axis_.low) / (y_axis_.high - y_axis_.low);
    return static_cast<int>(std::lround(bottom_ - fraction * (bottom_ - top_)));
  }

  Canvas& canvas() { return canvas_; }
  int left() const { return left_; }
  int right() const { return right_; }
  int top() const { return top_; }
  int bottom() const { return bottom_; }

 private:
  // Legend entries (colour square and name) left to right, wrapping to new rows; returns the y
  // below the last row.
  int draw_legend(int y, const std::vector<std::string>& names) {
    int x = kPad;
    bool any = false;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) continue;
      const int entry_width = kSwatch + 4 + Canvas::text_width(names[i]) + 2 * kPad;
      if (any && x + entry_width > canvas_.width() - kPad) {
        x = kPad;
        y += Canvas::text_height() + 4;
      }
      canvas_.fill_rect(x, y, x + kSwatch - 1, y + kSwatch - 2, series_color(i));
      canvas_.draw_text(x + kSwatch + 4, y, names[i], kInk);
      x += entry_width;
      any = true;
    }
    return any ? y + Canvas::text_height() : y;
  }

  Canvas canvas_;
  Axis y_axis_;
  int left_ = 0, right_ = 0, top_ = 0, bottom_ = 0;
};

void update_range(double value, double& min, double& max) {
  if (!std::isfinite(value)) return;
  min = std::min(min, value);
  max = std::max(max, value);
}

constexpr double kNone = std::numeric_limits<double>::infinity();

}  // namespace

Rgb series_color(size_t index) {
  // The "tableau 10" palette: distinct hues of similar weight, readable on white.
  static constexpr std::array<Rgb, 10> kPalette = {{{31, 119, 180},
                                                    {255, 127, 14},
                                                    {44, 160, 44},
                                                    {214, 39, 40},
                                                    {148, 103, 189},
                                                    {140, 86, 75},
                                                    {227, 119, 194},
                                                    {127, 127, 127},
                                                    {188, 189, 34},
                                                    {23, 190, 207}}};
  return kPalette[index % kPalette.size()];
}

// --------------------------------------------------------------------------- line plots

Canvas render_line_plot(const LinePlot& plot) {
  double x_min = kNone, x_max = -kNone, y_min = kNone, y_max = -kNone;
  bool x_all_integers = true;
  std::vector<std::string> names;
  for (const LineSeries& s : plot.series) {
    check(s.x.size() == s.y.size(), "line plot '{}': series '{}' has {} x values and {} y values",
          plot.title, s.name, s.x.size(), s.y.size());
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      update_range(s.x[i], x_min, x_max);
      update_range(s.y[i], y_min, y_max);
      x_all_integers = x_all_integers && s.x[i] == std::round(s.x[i]);
    }
    names.push_back(s.name);
  }
  const Axis x_axis = make_axis(x_min, x_max, x_all_integers);
  Frame frame(plot.width, plot.height, plot.title, names, make_axis(y_min, y_max), plot.y_label,
              !plot.x_label.empty());
  Canvas& canvas = frame.canvas();
  auto x_pixel = [&](double value) {
    const double fraction = (value - x_axis.low) / (x_axis.high - x_axis.low);
    return static_cast<int>(std::lround(frame.left() + fraction * (frame.right() - frame.left())));
  };
  for (double t : x_axis.ticks) {
    const int px = x_pixel(t);
    canvas.draw_line(px, frame.top(), px, frame.bottom(), kGrid);
    frame.draw_x_tick_label(px, tick_label(t, x_axis));
  }
  if (!plot.x_label.empty()) frame.draw_x_label(plot.x_label);

  for (size_t k = 0; k < plot.series.size(); ++k) {
    const LineSeries& s = plot.series[k];
    const Rgb color = series_color(k);
    const bool markers = s.x.size() <= 40;  // few points: show where they are
    bool have_previous = false;
    int previous_x = 0, previous_y = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        have_previous = false;
        continue;
      }
      const int px = x_pixel(s.x[i]), py = frame.y_pixel(s.y[i]);
      if (have_previous) canvas.draw_line(previous_x, previous_y, px, py, color, 2);
      if (markers) canvas.fill_rect(px - 2, py - 2, px + 2, py + 2, color);
      previous_x = px, previous_y = py;
      have_previous = true;
    }
  }
  frame.draw_axes();
  return canvas;
}

void write_line_plot(const std::string& png_path, const LinePlot& plot) {
  render_line_plot(plot).write_png(png_path);
}

// --------------------------------------------------------------------------- bar charts

Canvas render_bar_chart(const BarChart& chart) {
  const size_t categories = chart.categories.size();
  double y_min = 0, y_max = 0;  // bars start at zero, so zero is always on the axis
  std::vector<std::string> names;
  for (const BarSeries& s : chart.series) {
    check(s.values.size() == categories,
          "bar chart '{}': series '{}' has {} values for {} categories", chart.title, s.name,
          s.values.size(), categories);
    check(s.errors.empty() || s.errors.size() == categories,
          "bar chart '{}': series '{}' has {} errors for {} categories", chart.title, s.name,
          s.errors.size(), categories);
    for (size_t c = 0; c < categories; ++c) {
      const double error = s.errors.empty() ? 0.0 : s.errors[c];
      check(!(error < 0), "bar chart '{}': series '{}' has a negative error {}", chart.title,
            s.name, error);
      update_range(s.values[c] - (std::isfinite(error) ? error : 0), y_min, y_max);
      update_range(s.values[c] + (std::isfinite(error) ? error : 0), y_min, y_max);
    }
    names.push_back(s.name);
  }
  Frame frame(chart.width, chart.height, chart.title, names, make_axis(y_min, y_max),
              chart.y_label, false);
  Canvas& canvas = frame.canvas();
  if (categories == 0 || chart.series.empty()) {
    frame.draw_axes();
    return canvas;
  }

  const double group_width = static_cast<double>(frame.right() - frame.left()) / categories;
  const double bar_width = 0.8 * group_width / chart.series.size();
  const int zero = frame.y_pixel(0.0);
  for (size_t c = 0; c < categories; ++c) {
    const double group_left = frame.left() + c * group_width + 0.1 * group_width;
    frame.draw_x_tick_label(static_cast<int>(frame.left() + (c + 0.5) * group_width),
                            chart.categories[c]);
    for (size_t k = 0; k < chart.series.size(); ++k) {
      const BarSeries& s = chart.series[k];
      if (!std::isfinite(s.values[c])) continue;
      const int x0 = static_cast<int>(std::lround(group_left + k * bar_width));
      const int x1 = std::max(x0, static_cast<int>(std::lround(group_left + (k + 1) * bar_width)) - 2);
      canvas.fill_rect(x0, zero, x1, frame.y_pixel(s.values[c]), series_color(k));
      const double error = s.errors.empty() ? 0.0 : s.errors[c];
      if (error > 0 && std::isfinite(error)) {
        const int middle = (x0 + x1) / 2, cap = std::max(2, (x1 - x0) / 4);
        const int low = frame.y_pixel(s.values[c] - error), high = frame.y_pixel(s.values[c] + error);
        canvas.draw_line(middle, low, middle, high, kInk);
        canvas.draw_line(middle - cap, low, middle + cap, low, kInk);
        canvas.draw_line(middle - cap, high, middle + cap, high, kInk);
      }
    }
  }
  frame.draw_axes();
  return canvas;
}

void write_bar_chart(const std::string& png_path, const BarChart& chart) {
  render_bar_chart(chart).write_png(png_path);
}

LinePlot curves_plot(const train::RunLog& log, const std::string& x_column,
                     const std::vector<std::string>& y_columns, const std::string& title) {
  LinePlot plot;
  plot.title = title;
  plot.x_label = x_column;
  if (y_columns.size() == 1) plot.y_label = y_columns[0];
  const std::vector<double> x = log.column(x_column);
  for (const std::string& name : y_columns) plot.series.push_back({name, x, log.column(name)});
  return plot;
}

}  // namespace dg::plot
