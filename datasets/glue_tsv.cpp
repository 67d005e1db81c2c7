// GLUE-format TSV reading (see glue_tsv.h): split lines on tabs, find the chosen columns by name,
// map labels to class ids or parse them as numbers.
#include "datasets/glue_tsv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

size_t column_index(const std::vector<std::string>& header, const std::string& name,
                    const std::string& path) {
  const auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) {
    std::string known;
    for (const std::string& h : header) known += (known.empty() ? "" : ", ") + h;
    fail("glue_tsv: '{}' has no column '{}' (columns: {})", path, name, known);
  }
  return static_cast<size_t>(it - header.begin());
}

// A label without the spaces around it: "1 " and "1" are the same class (see glue_tsv.h).
std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

double parse_number(std::string_view s, const std::string& path, int64_t line_number) {
  // from_chars for double is locale-independent, unlike strtod.
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  check(ec == std::errc() && end == s.data() + s.size() && !s.empty(),
        "glue_tsv: '{}' line {}: regression label '{}' is not a number", path, line_number, s);
  // from_chars accepts "nan" and "inf"; as a target either would poison every loss it enters.
  check(std::isfinite(value), "glue_tsv: '{}' line {}: regression label '{}' is not finite", path,
        line_number, s);
  return value;
}

}  // namespace

TextDataset read_glue_tsv(const std::string& path, const GlueTsvOptions& options) {
  check(!options.text_columns.empty(), "glue_tsv: no text columns chosen for '{}'", path);
  check(!(options.regression && !options.class_names.empty()),
        "glue_tsv: class_names given for a regression task ('{}')", path);
  const std::vector<uint8_t> bytes = read_file_bytes(path, "glue_tsv");
  const std::string_view text = utf8_text(bytes, "glue_tsv", path);  // BOM dropped, UTF-8 checked

  // Lines, without their '\n' or '\r\n'; a final empty line (trailing newline) is dropped.
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }

  std::vector<std::string> header = options.column_names;
  size_t first_data_line = 0;
  if (header.empty()) {
    check(!lines.empty(), "glue_tsv: '{}' is empty (expected a header row)", path);
    for (std::string_view h : split_tabs(lines[0])) header.emplace_back(h);
    first_data_line = 1;
  }
  std::vector<size_t> text_cols;
  for (const std::string& name : options.text_columns)
    text_cols.push_back(column_index(header, name, path));
  const bool labelled = !options.label_column.empty();
  const size_t label_col = labelled ? column_index(header, options.label_column, path) : 0;

  TextDataset data;
  data.regression = options.regression;
  std::vector<std::string> raw_labels;
  std::vector<int64_t> label_lines;  // the line each raw label came from, for errors
  for (size_t l = first_data_line; l < lines.size(); ++l) {
    const int64_t line_number = static_cast<int64_t>(l) + 1;
    if (lines[l].empty()) continue;
    const std::vector<std::string_view> fields = split_tabs(lines[l]);
    check(fields.size() == header.size(),
          "glue_tsv: '{}' line {}: {} tab-separated fields, but the header has {} columns", path,
          line_number, fields.size(), header.size());
    TextExample example;
    for (size_t c : text_cols) example.texts.emplace_back(fields[c]);
    if (labelled) {
      if (options.regression) {
        example.value = parse_number(trim_spaces(fields[label_col]), path, line_number);
      } else {
        const std::string_view label = trim_spaces(fields[label_col]);
        check(!label.empty(), "glue_tsv: '{}' line {}: empty label", path, line_number);
        raw_labels.emplace_back(label);
        label_lines.push_back(line_number);
      }
    }
    data.examples.push_back(std::move(example));
  }

  if (labelled && !options.regression) {
    data.class_names = options.class_names;
    if (data.class_names.empty()) {
      const std::set<std::string> found(raw_labels.begin(), raw_labels.end());
      data.class_names.assign(found.begin(), found.end());
    }
    std::map<std::string, int64_t> ids;
    for (size_t i = 0; i < data.class_names.size(); ++i) {
      const bool fresh = ids.emplace(data.class_names[i], static_cast<int64_t>(i)).second;
      check(fresh, "glue_tsv: class name '{}' given twice", data.class_names[i]);
    }
    for (size_t i = 0; i < data.examples.size(); ++i) {
      const auto it = ids.find(raw_labels[i]);
      check(it != ids.end(),
            "glue_tsv: '{}' line {}: label '{}' is not one of the {} given class names", path,
            label_lines[i], raw_labels[i], data.class_names.size());
      data.examples[i].label = it->second;
    }
  }
  return data;
}

}  // namespace dg::data
