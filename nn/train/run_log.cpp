// The CSV run log of run_log.h: writing rows as they come, and reading a file back.
#include "nn/train/run_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>

#include "engine/error.h"

namespace dg::train {

namespace {

bool plain_text(const std::string& text) {
  return text.find_first_of(",\"\r\n") == std::string::npos;
}

// A text cell as CSV (RFC 4180): quoted, with its quotes doubled, when it holds a comma or quote.
std::string quoted(const std::string& text) {
  if (text.find_first_of(",\"") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The cells of one line; a quoted cell may hold commas and doubled quotes. Returns nothing for an
// unterminated quote.
std::optional<std::vector<std::string>> split_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool in_quotes = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        cells.back() += '"', ++i;
      else if (c == '"')
        in_quotes = false;
      else
        cells.back() += c;
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  if (in_quotes) return std::nullopt;
  return cells;
}

}  // namespace

double CsvValue::number() const {
  if (!is_number()) fail("CsvValue: '{}' is a text, not a number", std::get<std::string>(value_));
  return std::get<double>(value_);
}

const std::string& CsvValue::text() const {
  if (is_number()) fail("CsvValue: {} is a number, not a text", std::get<double>(value_));
  return std::get<std::string>(value_);
}

std::string CsvValue::to_csv() const {
  return is_number() ? fmt::format("{}", std::get<double>(value_))
                     : quoted(std::get<std::string>(value_));
}

RunLog::RunLog(std::string csv_path, std::vector<std::string> columns)
    : path_(std::move(csv_path)), columns_(std::move(columns)), file_(nullptr, &std::fclose) {
  check(!columns_.empty(), "RunLog {}: needs at least one column", path_);
  for (size_t i = 0; i < columns_.size(); ++i) {
    const std::string& name = columns_[i];
    check(!name.empty() && plain_text(name),
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

void RunLog::add(const std::vector<CsvValue>& row) {
  check(row.size() == columns_.size(), "RunLog {}: a row of {} values for {} columns ({})", path_,
        row.size(), columns_.size(), fmt::join(columns_, ","));
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    const std::string cell = row[i].to_csv();
    check(cell.find_first_of("\r\n") == std::string::npos,
          "RunLog {}: the text '{}' in column '{}' holds a line break", path_, cell, columns_[i]);
    line += (i ? "," : "") + cell;
  }
  fmt::print(file_.get(), "{}\n", line);
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
  for (const std::vector<CsvValue>& row : rows_) values.push_back(row[index].number());
  return values;
}

// --------------------------------------------------------------------------- reading back

size_t CsvTable::column_index(const std::string& name) const {
  const auto found = std::find(columns.begin(), columns.end(), name);
  check(found != columns.end(), "{}: no column '{}' (columns: {})", path, name,
        fmt::join(columns, ","));
  return static_cast<size_t>(found - columns.begin());
}

std::vector<std::string> CsvTable::texts(const std::string& column) const {
  const size_t index = column_index(column);
  std::vector<std::string> values;
  for (const auto& row : rows) values.push_back(row[index]);
  return values;
}

std::vector<double> CsvTable::numbers(const std::string& column) const {
  const size_t index = column_index(column);
  std::vector<double> values;
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::string& text = rows[r][index];
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    check(error == std::errc() && end == text.data() + text.size() && !text.empty(),
          "{}: row {} of column '{}' is '{}', not a number", path, r + 1, column, text);
    values.push_back(value);
  }
  return values;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path);
  check(static_cast<bool>(in), "read_csv: cannot open {}", path);
  CsvTable table{.path = path, .columns = {}, .rows = {}};
  std::string line;
  check(static_cast<bool>(std::getline(in, line)), "read_csv: {} is empty (no header line)", path);
  const auto header = split_line(line);
  check(header.has_value(), "read_csv: {} line 1 has an unterminated quote", path);
  table.columns = *header;
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::optional<std::vector<std::string>> parsed = split_line(line);
    check(parsed.has_value(), "read_csv: {} line {} has an unterminated quote", path, line_number);
    std::vector<std::string> cells = std::move(*parsed);
    check(cells.size() == table.columns.size(), "read_csv: {} line {} has {} cells for {} columns",
          path, line_number, cells.size(), table.columns.size());
    table.rows.push_back(std::move(cells));
  }
  return table;
}

}  // namespace dg::train
