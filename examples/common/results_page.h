// The results file of an experiment program (docs/results/<program>.md): what was run (the
// command, the scale), the table, the figures, and each of the paper's claims with whether this
// run has its shape, followed by notes. All five PAD-Net programs write it through this one writer,
// so the files read alike and a reader finds the same things in the same place.
#pragma once

#include <string>
#include <vector>

namespace dg::experiment {

// One row per entry; `right_aligned[i]` for numeric columns.
struct MarkdownTable {
  std::vector<std::string> header;
  std::vector<bool> right_aligned;
  std::vector<std::vector<std::string>> rows;

  void add(std::vector<std::string> row);
  std::string str() const;  // throws dg::Error when a row's width differs from the header's
};

// A claim of the paper checked on this run's numbers: "- <text>: matches the paper." or
// "... does NOT match the paper." (and ", but within the noise (not resolved)" when `resolved` is
// false).
struct Claim {
  std::string text;
  bool holds = false;
  bool resolved = true;
};

// A claim checked by a paired comparison over seeds: "- <text>: <verdict>.", the verdict worded
// from the interval (PairedVerdict::describe, statistics.h).
struct Verdict {
  std::string text;
  std::string verdict;
};

struct Figure {
  std::string alt;   // what it shows, as the image's alternative text
  std::string file;  // relative to the markdown file
};

// Figures by path, linked by their file name (the page sits in the same folder), the file's stem as
// the alternative text.
std::vector<Figure> figures_in(const std::vector<std::string>& png_paths);

struct ResultsPage {
  std::string title;         // e.g. "PAD-Net Figure 4 on Fashion-MNIST"
  std::string program;       // e.g. "padnet_partition": the source is examples/<program>.cpp
  std::string command_line;  // the arguments as given
  std::string scale;         // one paragraph: data, model, epochs, seeds
  std::string table;         // Markdown
  std::vector<Figure> figures;
  std::string claims_heading = "Where this has the paper's shape and where not";
  std::vector<Verdict> verdicts = {};  // listed before the claims, under the same heading
  std::vector<Claim> claims;
  std::vector<std::string> notes;  // paragraphs after the claims
};

std::string claim_line(const Claim& claim);
std::string verdict_line(const Verdict& verdict);
std::string render_results_page(const ResultsPage& page);
// Writes the page to `path` (its folder is made); throws dg::Error when it cannot.
void write_results_page(const std::string& path, const ResultsPage& page);

}  // namespace dg::experiment
