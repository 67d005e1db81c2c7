// The experiment programs' figures from their CSV files (see result_figures.h).
#include "examples/common/result_figures.h"

#include <cstdio>
#include <filesystem>

#include "examples/common/plot.h"

namespace dg::experiment {

SeedResults seed_results_from_csv(const train::CsvTable& csv,
                                  const std::vector<std::string>& method_columns,
                                  const std::string& value_column, double scale) {
  const std::vector<double> seeds = csv.numbers("seed");
  const std::vector<double> values = csv.numbers(value_column);
  std::vector<std::vector<std::string>> names;
  for (const std::string& column : method_columns) names.push_back(csv.texts(column));
  SeedResults results;
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    std::string method;
    for (const auto& column : names) method += (method.empty() ? "" : " ") + column[r];
    results.add(method, static_cast<int64_t>(seeds[r]), scale * values[r]);
  }
  return results;
}

std::vector<std::string> draw_seed_figures(const SeedResults& results, const std::string& out_dir,
                                           const std::string& stem, const std::string& title,
                                           const std::string& y_label,
                                           const std::string& reference) {
  plot::SeedChart seeds{
      .title = title + ": every seed, mean and 95% interval", .y_label = y_label, .groups = {}};
  plot::PairedChart paired{.title = title + ": paired by seed against " + reference,
                           .y_label = y_label,
                           .reference = reference,
                           .differences = {}};
  for (const std::string& method : results.methods()) {
    seeds.groups.push_back({method, results.values(method)});
    if (!reference.empty() && method != reference)
      paired.differences.push_back({method, results.paired_differences(method, reference)});
  }
  std::vector<std::string> written = {out_dir + "/" + stem + ".png"};
  plot::write_seed_chart(written.back(), seeds);
  if (!reference.empty()) {
    written.push_back(out_dir + "/" + stem + "_paired.png");
    plot::write_paired_chart(written.back(), paired);
  }
  return written;
}

void print_written(const std::vector<std::string>& paths) {
  std::printf("wrote:\n");
  for (const std::string& path : paths) {
    const std::string extension = std::filesystem::path(path).extension().string();
    const char* kind = extension == ".md"    ? "markdown"
                       : extension == ".csv" ? "CSV"
                       : extension == ".png" ? "figure"
                                             : "file";
    std::printf("  %-8s  %s\n", kind, path.c_str());
    if (extension == ".png" && std::filesystem::exists(plot::csv_path_for(path)))
      std::printf("  %-8s  %s (the figure's data)\n", "CSV", plot::csv_path_for(path).c_str());
  }
}

}  // namespace dg::experiment
