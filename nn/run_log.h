// A run's curves, kept as a CSV file that grows one row at a time (an epoch, an evaluation) and
// can be drawn as a PNG line plot next to it. The header is written when the log is made and
// every row is flushed as it is added, so a run that stops early (or is still going) leaves a
// readable file behind; the rows are also kept in memory for the plot.
//
//   RunLog log("runs/fmnist_cnn.csv", {"epoch", "train_loss", "test_acc"});
//   log.add({1, 0.41, 0.88});
//   log.write_plot("runs/fmnist_cnn.png", "epoch", {"train_loss"}, "Fashion-MNIST CNN");
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace dg::nn {

class RunLog {
 public:
  // Creates (or truncates) csv_path, making its folder if needed, and writes the header line.
  // Column names must be non-empty, distinct and free of commas, quotes and line breaks.
  RunLog(std::string csv_path, std::vector<std::string> columns);

  // Appends one row (one value per column, in order) and flushes it to the file.
  void add(const std::vector<double>& row);

  // A line plot of y_columns against x_column over the rows so far, as a 640x400 PNG.
  void write_plot(const std::string& png_path, const std::string& x_column,
                  const std::vector<std::string>& y_columns, const std::string& title) const;

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<double>>& rows() const { return rows_; }
  // Every row's value in `name`.
  std::vector<double> column(const std::string& name) const;

 private:
  size_t column_index(const std::string& name) const;

  std::string path_;
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> rows_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
};

}  // namespace dg::nn
