// The CSV run log of run_log.h. Values are written in the shortest form that reads back to the
// same double, so the file loses nothing.
#include "nn/run_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "nn/plot.h"

namespace dg::nn {

RunLog::RunLog(std::string csv_path, std::vector<std::string> columns)
    : path_(std::move(csv_path)), columns_(std::move(columns)), file_(nullptr, &std::fclose) {
  check(!columns_.empty(), "RunLog {}: needs at least one column", path_);
  for (size_t i = 0; i < columns_.size(); ++i) {
    const std::string& name = columns_[i];
    check(!name.empty() && name.find_first_of(",\"\r\n") == std::string::npos,
          "RunLog {}: column name '{}' must be non-empty, without commas, quotes or line breaks",
          path_, name);
    check(std::find(columns_.begin(), columns_.begin() + i, name) == columns_.begin() + i,
          "RunLog {}: column '{}' appears twice", path_, name);
  }
  const std::filesystem::path folder = std::filesystem::path(path_).parent_path();
  if (!folder.empty()) {
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    check(!error, "RunLog: cannot create folder {}: {}", folder.string(), error.message());
  }
  file_.reset(std::fopen(path_.c_str(), "w"));
  check(file_ != nullptr, "RunLog: cannot open {} for writing", path_);
  fmt::print(file_.get(), "{}\n", fmt::join(columns_, ","));
  std::fflush(file_.get());
}

void RunLog::add(const std::vector<double>& row) {
  check(row.size() == columns_.size(), "RunLog {}: a row of {} values for {} columns ({})", path_,
        row.size(), columns_.size(), fmt::join(columns_, ","));
  fmt::print(file_.get(), "{}\n", fmt::join(row, ","));
  check(std::fflush(file_.get()) == 0, "RunLog {}: writing a row failed", path_);
  rows_.push_back(row);
}

size_t RunLog::column_index(const std::string& name) const {
  const auto found = std::find(columns_.begin(), columns_.end(), name);
  check(found != columns_.end(), "RunLog {}: no column '{}' (columns: {})", path_, name,
        fmt::join(columns_, ","));
  return static_cast<size_t>(found - columns_.begin());
}

std::vector<double> RunLog::column(const std::string& name) const {
  const size_t index = column_index(name);
  std::vector<double> values;
  values.reserve(rows_.size());
  for (const std::vector<double>& row : rows_) values.push_back(row[index]);
  return values;
}

void RunLog::write_plot(const std::string& png_path, const std::string& x_column,
                        const std::vector<std::string>& y_columns, const std::string& title) const {
  LinePlot plot;
  plot.title = title;
  plot.x_label = x_column;
  if (y_columns.size() == 1) plot.y_label = y_columns[0];
  const std::vector<double> x = column(x_column);
  for (const std::string& name : y_columns) plot.series.push_back({name, x, column(name)});
  write_line_plot(png_path, plot);
}

}  // namespace dg::nn
