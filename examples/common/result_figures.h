// The figures of the PAD-Net experiment programs, drawn from the CSV file a run writes (one row per
// run, the method by name), so that a program draws them the same way after its runs and with
// --replot from a CSV it left earlier.
#pragma once

#include <string>
#include <vector>

#include "examples/common/statistics.h"
#include "nn/train/run_log.h"

namespace dg::experiment {

// One value per (method, seed) from the CSV's columns: method_columns joined by " " name the
// method (e.g. {"backbone", "method"} -> "ResNet PAD-Net"), value_column times `scale` the value.
SeedResults seed_results_from_csv(const train::CsvTable& csv,
                                  const std::vector<std::string>& method_columns,
                                  const std::string& value_column, double scale = 1.0);

// DIR/<stem>.png: the per-seed values of every method with mean and 95% interval; and, when
// `reference` is not empty, DIR/<stem>_paired.png: every other method minus the reference, seed
// by seed. Returns the paths written (each with its CSV beside it).
std::vector<std::string> draw_seed_figures(const SeedResults& results, const std::string& out_dir,
                                           const std::string& stem, const std::string& title,
                                           const std::string& y_label,
                                           const std::string& reference);

// Prints where a program's results went, one line per file: "  markdown  docs/results/x.md".
void print_written(const std::vector<std::string>& paths);

}  // namespace dg::experiment
