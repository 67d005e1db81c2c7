// The experiment programs' results file (see results_page.h).
#include "examples/common/results_page.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "engine/error.h"

namespace dg::experiment {

void MarkdownTable::add(std::vector<std::string> row) {
  check(row.size() == header.size(), "MarkdownTable: a row of {} cells for {} columns ({})",
        row.size(), header.size(), fmt::join(header, " | "));
  rows.push_back(std::move(row));
}

std::string MarkdownTable::str() const {
  std::string out = "| " + fmt::format("{}", fmt::join(header, " | ")) + " |\n|";
  for (size_t i = 0; i < header.size(); ++i)
    out += i < right_aligned.size() && right_aligned[i] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : rows) out += "| " + fmt::format("{}", fmt::join(row, " | ")) + " |\n";
  return out;
}

std::vector<Figure> figures_in(const std::vector<std::string>& png_paths) {
  std::vector<Figure> figures;
  for (const std::string& path : png_paths) {
    const std::filesystem::path p(path);
    figures.push_back({p.stem().string(), p.filename().string()});
  }
  return figures;
}

std::string claim_line(const Claim& claim) {
  return fmt::format("- {}: {} the paper{}.", claim.text,
                     claim.holds ? "matches" : "does NOT match",
                     claim.resolved ? "" : ", but within the noise (not resolved)");
}

std::string verdict_line(const Verdict& verdict) {
  return fmt::format("- {}: {}.", verdict.text, verdict.verdict);
}

std::string render_results_page(const ResultsPage& page) {
  std::string out = fmt::format("# {} (examples/{}.cpp)\n\n", page.title, page.program);
  out += fmt::format("Command: `build/examples/{}{}{}`\n\n", page.program,
                     page.command_line.empty() ? "" : " ", page.command_line);
  if (!page.scale.empty()) out += page.scale + "\n\n";
  out += page.table;
  if (!page.figures.empty()) {
    out += "\n";
    for (size_t i = 0; i < page.figures.size(); ++i)
      out += fmt::format("{}![{}]({})", i ? " " : "", page.figures[i].alt, page.figures[i].file);
    out += "\n";
  }
  if (!page.claims.empty() || !page.verdicts.empty()) {
    out += fmt::format("\n## {}\n\n", page.claims_heading);
    for (const Verdict& verdict : page.verdicts) out += verdict_line(verdict) + "\n";
    for (const Claim& claim : page.claims) out += claim_line(claim) + "\n";
  }
  for (const std::string& note : page.notes) out += "\n" + note + "\n";
  return out;
}

void write_results_page(const std::string& path, const ResultsPage& page) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder);
  std::ofstream out(path);
  check(static_cast<bool>(out), "write_results_page: cannot open {} for writing", path);
  out << render_results_page(page);
  out.close();
  check(!out.fail(), "write_results_page: writing {} failed", path);
}

}  // namespace dg::experiment
