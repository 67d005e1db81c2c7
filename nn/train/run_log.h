// A run's results, kept as a CSV file that grows one row at a time (an epoch, one training run of
// a sweep) and read back later (to draw its figures, or to redraw them without re-running). The
// header is written when the log is made and every row is flushed as it is added, so a run that
// stops early (or is still going) leaves a readable file behind; the rows are also kept in memory.
// A cell is a number or a short text (a method's name), so a row says what it is about by name:
//
//   RunLog log("runs/sweep.csv", {"method", "seed", "top1"});
//   log.add({"PAD-Net", 0, 0.88});
//   const CsvTable table = read_csv("runs/sweep.csv");   // table.numbers("top1"),
//   table.texts("method")
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace dg::train {

// One cell: a number (written in the shortest form that reads back to the same double) or a text
// (written as is, or quoted as RFC 4180 has it when it holds a comma or quote; no line breaks).
class CsvValue {
 public:
  CsvValue(double value) : value_(value) {}
  CsvValue(int value) : value_(static_cast<double>(value)) {}
  CsvValue(int64_t value) : value_(static_cast<double>(value)) {}
  CsvValue(uint64_t value) : value_(static_cast<double>(value)) {}
  CsvValue(const char* text) : value_(std::string(text)) {}
  CsvValue(std::string text) : value_(std::move(text)) {}

  bool is_number() const { return std::holds_alternative<double>(value_); }
  double number() const;            // throws dg::Error for a text
  const std::string& text() const;  // throws dg::Error for a number
  std::string to_csv() const;

 private:
  std::variant<double, std::string> value_;
};

class RunLog {
 public:
  // Creates (or truncates) csv_path, making its folder if needed, and writes the header line.
  // Column names must be non-empty, distinct and free of commas, quotes and line breaks.
  RunLog(std::string csv_path, std::vector<std::string> columns);

  // Appends one row (one value per column, in order) and flushes it to the file.
  void add(const std::vector<CsvValue>& row);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<CsvValue>>& rows() const { return rows_; }
  // Every row's value in `name` (numbers only; a text cell is an error).
  std::vector<double> column(const std::string& name) const;

 private:
  size_t column_index(const std::string& name) const;

  std::string path_;
  std::vector<std::string> columns_;
  std::vector<std::vector<CsvValue>> rows_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
};

// A CSV file read back: the header and the cells as text (quotes removed).
struct CsvTable {
  std::string path;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;

  size_t column_index(const std::string& name) const;  // throws dg::Error naming the columns
  std::vector<std::string> texts(const std::string& column) const;
  std::vector<double> numbers(const std::string& column) const;  // throws on a non-number
};

// Reads a CSV file with a header line; a row with the wrong number of cells is an error naming the
// file and line.
CsvTable read_csv(const std::string& path);

}  // namespace dg::train
