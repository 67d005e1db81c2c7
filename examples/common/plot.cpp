// The figures of plot.h, drawn with PLplot's C API on its cairo PNG driver. PLplot keeps its state
// in streams; each figure makes a fresh stream, draws, and ends it, under a lock (PLplot's stream
// table is global). Coordinates: the plot area is a viewport in normalised page coordinates, with
// room above for the title and the legend; categorical x axes put category i at x = i.
#include "examples/common/plot.h"

#include <plplot.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>

#include "engine/error.h"
#include "examples/common/statistics.h"
#include "nn/train/run_log.h"

namespace dg::plot {

namespace {

constexpr int kInk = 1;   // colour-map-0 index of the axes and text
constexpr int kGrid = 2;  // of the grid lines
constexpr int kFirstSeries = 3;
constexpr const char* kDot = "\u25cf";  // a filled circle, drawn in the font (anti-aliased)

std::mutex& plplot_lock() {
  static std::mutex lock;
  return lock;
}

void check_driver() {
  // PLplot exits the process when asked for a device it does not have; ask first.
  static const bool available = [] {
    std::array<const char*, 128> menu_array{}, name_array{};
    const char** menus = menu_array.data();
    const char** names = name_array.data();
    int count = 128;
    plgDevs(&menus, &names, &count);
    for (int i = 0; i < count; ++i)
      if (std::string(names[i]) == "pngcairo") return true;
    return false;
  }();
  check(available,
        "plot: PLplot has no 'pngcairo' device; install the Debian package plplot-driver-cairo");
}

void set_color(int index, Rgb c) { plscol0(index, c.r, c.g, c.b); }

// A figure on its own PLplot stream: begun in the constructor, ended (the PNG written) in finish().
class Figure {
 public:
  Figure(const std::string& png_path, int width, int height, size_t series) {
    check(width >= 100 && height >= 100 && width <= 8000 && height <= 8000,
          "plot: figure size {}x{} must be between 100x100 and 8000x8000", width, height);
    check_driver();
    const std::filesystem::path folder = std::filesystem::path(png_path).parent_path();
    if (!folder.empty()) std::filesystem::create_directories(folder);
    plmkstrm(&stream_);
    plsdev("pngcairo");
    plsfnam(png_path.c_str());
    plspage(0, 0, width, height, 0, 0);
    plscmap0n(static_cast<int>(kFirstSeries + std::max<size_t>(series, 1)));
    plscolbg(255, 255, 255);
    set_color(kInk, {0, 0, 0});
    set_color(kGrid, {220, 220, 220});
    for (size_t i = 0; i < series; ++i)
      set_color(static_cast<int>(kFirstSeries + i), series_color(i));
    plinit();
    pladv(0);
    plschr(0, 0.85);
  }
  ~Figure() {
    if (!finished_) plend1();
  }
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

  // The plot area and its world coordinates; `x_numbers` false for a categorical x axis.
  void frame(double x0, double x1, double y0, double y1, bool x_numbers, const std::string& title,
             const std::string& x_label, const std::string& y_label, bool legend_row) {
    plvpor(0.1, 0.96, x_numbers ? 0.11 : 0.16, legend_row ? 0.84 : 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(kGrid);
    plwidth(1);
    plbox(x_numbers ? "g" : "", 0, 0, "g", 0, 0);
    plcol0(kInk);
    plbox(x_numbers ? "bcnst" : "bc", 0, 0, "bcnstv", 0, 0);
    pllab(x_label.c_str(), y_label.c_str(), "");
    plschr(0, 1.05);
    plmtex("t", legend_row ? 3.4 : 1.6, 0.5, 0.5, title.c_str());
    plschr(0, 0.85);
  }

  // Names in their series' colours in one row above the plot area.
  void legend(const std::vector<std::string>& names) {
    size_t total = 0;
    for (const auto& n : names) total += n.size() + 4;
    double position = 0.0;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) continue;
      plcol0(static_cast<int>(kFirstSeries + i));
      const std::string entry = std::string(kDot) + " " + names[i];
      plmtex("t", 1.2, position, 0.0, entry.c_str());
      position += static_cast<double>(names[i].size() + 4) /
                  static_cast<double>(std::max<size_t>(total, 1));
    }
    plcol0(kInk);
  }

  void category_labels(const std::vector<std::string>& names) {
    plcol0(kInk);
    for (size_t i = 0; i < names.size(); ++i)
      plmtex("b", 1.6, (static_cast<double>(i) + 0.5) / static_cast<double>(names.size()), 0.5,
             names[i].c_str());
  }

  void finish() {
    plend1();
    finished_ = true;
  }

 private:
  PLINT stream_ = 0;
  bool finished_ = false;
};

// [low, high] widened by 8% of the span on each side (a span of zero gets a unit around it).
std::pair<double, double> padded(double low, double high) {
  if (!(low < high)) {
    const double half = low == 0 ? 1.0 : std::abs(low) * 0.1;
    return {low - half, high + half};
  }
  const double pad = 0.08 * (high - low);
  return {low - pad, high + pad};
}

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  bool empty() const { return low > high; }
};

void draw_points(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.empty()) return;
  plstring(static_cast<PLINT>(x.size()), x.data(), y.data(), kDot);
}

// Points, mean bars and 95% intervals of groups at x = 0, 1, ...; returns the y range used.
void draw_groups(const std::vector<Group>& groups) {
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<double>& values = groups[g].values;
    if (values.empty()) continue;
    std::vector<double> x, y;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) continue;
      // Spread the seeds over [-0.18, 0.18] around the group, in seed order.
      const double offset = values.size() == 1 ? 0.0
                                               : -0.18 + 0.36 * static_cast<double>(i) /
                                                             static_cast<double>(values.size() - 1);
      x.push_back(static_cast<double>(g) + offset);
      y.push_back(values[i]);
    }
    plcol0(static_cast<int>(kFirstSeries + g));
    draw_points(x, y);
    const experiment::MeanInterval ci = experiment::mean_ci95(values);
    plcol0(kInk);
    plwidth(2.5);
    const double gx = static_cast<double>(g) + 0.3;
    double bar_x[2] = {gx - 0.07, gx + 0.07}, bar_y[2] = {ci.mean, ci.mean};
    plline(2, bar_x, bar_y);
    if (ci.half_width > 0) {
      double ex[1] = {gx}, lo[1] = {ci.low()}, hi[1] = {ci.high()};
      plwidth(1.5);
      plerry(1, ex, lo, hi);
    }
    plwidth(1);
  }
}

Range groups_range(const std::vector<Group>& groups) {
  Range r;
  for (const Group& g : groups) {
    for (double v : g.values) r.add(v);
    if (!g.values.empty()) {
      const experiment::MeanInterval ci = experiment::mean_ci95(g.values);
      r.add(ci.low());
      r.add(ci.high());
    }
  }
  return r;
}

void write_groups_csv(const std::string& png_path, const std::vector<Group>& groups,
                      const char* value_column) {
  train::RunLog csv(csv_path_for(png_path),
                    {"group", value_column, "mean", "ci95_low", "ci95_high"});
  for (const Group& g : groups) {
    if (g.values.empty()) continue;
    const experiment::MeanInterval ci = experiment::mean_ci95(g.values);
    for (double v : g.values) csv.add({g.name, v, ci.mean, ci.low(), ci.high()});
  }
}

void draw_group_chart(const std::string& png_path, const std::string& title,
                      const std::string& y_label, const std::vector<Group>& groups, int width,
                      int height, bool zero_line) {
  Range r = groups_range(groups);
  if (zero_line) r.add(0.0);
  if (r.empty()) r.add(0.0);
  const auto [y0, y1] = padded(r.low, r.high);
  std::vector<std::string> names;
  for (const Group& g : groups) names.push_back(g.name);
  std::lock_guard<std::mutex> hold(plplot_lock());
  Figure figure(png_path, width, height, groups.size());
  figure.frame(-0.5, static_cast<double>(groups.size()) - 0.5, y0, y1, false, title, "", y_label,
               false);
  figure.category_labels(names);
  if (zero_line) {
    plcol0(kInk);
    pllsty(2);
    double x[2] = {-0.5, static_cast<double>(groups.size()) - 0.5}, y[2] = {0.0, 0.0};
    plline(2, x, y);
    pllsty(1);
  }
  draw_groups(groups);
  figure.finish();
}

}  // namespace

Rgb series_color(size_t index) {
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

std::string csv_path_for(const std::string& png_path) {
  std::filesystem::path path(png_path);
  return path.replace_extension().string() + "_data.csv";
}

// --------------------------------------------------------------------------- line charts

void write_line_chart(const std::string& png_path, const LineChart& chart) {
  Range x_range, y_range;
  std::vector<std::string> names;
  for (const Series& s : chart.series) {
    check(s.x.size() == s.y.size(), "line chart '{}': series '{}' has {} x values and {} y values",
          chart.title, s.name, s.x.size(), s.y.size());
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) x_range.add(s.x[i]), y_range.add(s.y[i]);
    names.push_back(s.name);
  }
  if (x_range.empty()) x_range.add(0.0), y_range.add(0.0);
  const auto [y0, y1] = padded(y_range.low, y_range.high);
  const double x_pad = x_range.low < x_range.high ? 0.02 * (x_range.high - x_range.low) : 1.0;
  const bool any_name =
      std::any_of(names.begin(), names.end(), [](const auto& n) { return !n.empty(); });
  {
    std::lock_guard<std::mutex> hold(plplot_lock());
    Figure figure(png_path, chart.width, chart.height, chart.series.size());
    figure.frame(x_range.low - x_pad, x_range.high + x_pad, y0, y1, true, chart.title,
                 chart.x_label, chart.y_label, any_name);
    if (any_name) figure.legend(names);
    for (size_t k = 0; k < chart.series.size(); ++k) {
      const Series& s = chart.series[k];
      plcol0(static_cast<int>(kFirstSeries + k));
      plwidth(2);
      std::vector<double> x, y;  // one unbroken run at a time
      auto flush = [&] {
        if (x.size() > 1) plline(static_cast<PLINT>(x.size()), x.data(), y.data());
        if (s.x.size() <= 40) draw_points(x, y);  // few points: show where they are
        x.clear(), y.clear();
      };
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          flush();
          continue;
        }
        x.push_back(s.x[i]), y.push_back(s.y[i]);
      }
      flush();
      plwidth(1);
    }
    figure.finish();
  }
  train::RunLog csv(csv_path_for(png_path), {"series", "x", "y"});
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size(); ++i) csv.add({s.name, s.x[i], s.y[i]});
}

LineChart curves_chart(const train::RunLog& log, const std::string& x_column,
                       const std::vector<std::string>& y_columns, const std::string& title) {
  LineChart chart{.title = title,
                  .x_label = x_column,
                  .y_label = y_columns.size() == 1 ? y_columns[0] : "",
                  .series = {}};
  const std::vector<double> x = log.column(x_column);
  for (const std::string& name : y_columns) chart.series.push_back({name, x, log.column(name)});
  return chart;
}

// --------------------------------------------------------------------------- per-seed values

void write_seed_chart(const std::string& png_path, const SeedChart& chart) {
  draw_group_chart(png_path, chart.title, chart.y_label, chart.groups, chart.width, chart.height,
                   false);
  write_groups_csv(png_path, chart.groups, "value");
}

void write_paired_chart(const std::string& png_path, const PairedChart& chart) {
  draw_group_chart(png_path, chart.title, chart.y_label + " minus " + chart.reference,
                   chart.differences, chart.width, chart.height, true);
  write_groups_csv(png_path, chart.differences, "difference");
}

// --------------------------------------------------------------------------- Pareto fronts

std::vector<size_t> pareto_front(const std::vector<ParetoPoint>& points) {
  std::vector<size_t> front;
  for (size_t i = 0; i < points.size(); ++i) {
    bool beaten = false;
    for (size_t j = 0; j < points.size() && !beaten; ++j) {
      const bool no_worse = points[j].cost <= points[i].cost && points[j].value >= points[i].value;
      const bool better = points[j].cost < points[i].cost || points[j].value > points[i].value;
      beaten = j != i && no_worse && better;
    }
    if (!beaten) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) {
    return points[a].cost < points[b].cost ||
           (points[a].cost == points[b].cost && points[a].value > points[b].value);
  });
  return front;
}

void write_pareto_chart(const std::string& png_path, const ParetoChart& chart) {
  Range x_range, y_range;
  for (const ParetoPoint& p : chart.points) x_range.add(p.cost), y_range.add(p.value);
  if (x_range.empty()) x_range.add(0.0), y_range.add(0.0);
  auto [x0, x1] = padded(x_range.low, x_range.high);
  x1 += 0.12 * (x1 - x0);  // room for the last point's name
  const auto [y0, y1] = padded(y_range.low, y_range.high);
  const std::vector<size_t> front = pareto_front(chart.points);
  {
    std::lock_guard<std::mutex> hold(plplot_lock());
    Figure figure(png_path, chart.width, chart.height, chart.points.size());
    figure.frame(x0, x1, y0, y1, true, chart.title, chart.x_label, chart.y_label, false);
    std::vector<double> fx, fy;
    for (size_t i : front) fx.push_back(chart.points[i].cost), fy.push_back(chart.points[i].value);
    plcol0(kInk);
    plwidth(1.5);
    if (fx.size() > 1) plline(static_cast<PLINT>(fx.size()), fx.data(), fy.data());
    plwidth(1);
    for (size_t i = 0; i < chart.points.size(); ++i) {
      const ParetoPoint& p = chart.points[i];
      double x[1] = {p.cost}, y[1] = {p.value};
      plcol0(static_cast<int>(kFirstSeries + i));
      plstring(1, x, y, kDot);
      plcol0(kInk);
      plptex(p.cost + 0.012 * (x1 - x0), p.value, 1.0, 0.0, 0.0, p.name.c_str());
    }
    figure.finish();
  }
  train::RunLog csv(csv_path_for(png_path), {"name", "cost", "value", "on_front"});
  for (size_t i = 0; i < chart.points.size(); ++i) {
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    csv.add({chart.points[i].name, chart.points[i].cost, chart.points[i].value, on_front ? 1 : 0});
  }
}

}  // namespace dg::plot
