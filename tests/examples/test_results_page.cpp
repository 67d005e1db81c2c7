// The experiment programs' results file: the table layout, the claim lines, the page's order
// (title, command, scale, table, figures, claims, notes), and a row of the wrong width.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "../datasets/data_test_util.h"
#include "engine/error.h"
#include "examples/common/results_page.h"

using namespace dg;
using namespace dg::experiment;

TEST_CASE("MarkdownTable: header, alignment row and cells", "[examples][results_page]") {
  MarkdownTable table{.header = {"Method", "Top-1 %"}, .right_aligned = {false, true}, .rows = {}};
  table.add({"IMP", "81.20"});
  CHECK(table.str() == "| Method | Top-1 % |\n|---|---:|\n| IMP | 81.20 |\n");
  CHECK_THROWS_WITH(table.add({"only one"}), Catch::Contains("a row of 1 cells for 2 columns"));
}

TEST_CASE("results page: every part in its place", "[examples][results_page]") {
  CHECK(claim_line({"IMP above MP", true, true}) == "- IMP above MP: matches the paper.");
  CHECK(claim_line({"IMP above MP", false, false}) ==
        "- IMP above MP: does NOT match the paper, but within the noise (not resolved).");
  const ResultsPage page{.title = "Figure 4",
                         .program = "padnet_partition",
                         .command_line = "--smoke",
                         .scale = "Tiny.",
                         .table = "| a |\n|---|\n| 1 |\n",
                         .figures = {{"seeds", "p.png"}, {"diffs", "q.png"}},
                         .claims = {{"IMP above MP", true, true}},
                         .notes = {"A note."}};
  test::TempDir dir;
  write_results_page(dir.file("sub/page.md"), page);
  std::ifstream in(dir.file("sub/page.md"));
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() ==
        "# Figure 4 (examples/padnet_partition.cpp)\n\n"
        "Command: `build/examples/padnet_partition --smoke`\n\n"
        "Tiny.\n\n"
        "| a |\n|---|\n| 1 |\n"
        "\n![seeds](p.png) ![diffs](q.png)\n"
        "\n## Where this has the paper's shape and where not\n\n"
        "- IMP above MP: matches the paper.\n"
        "\nA note.\n");
}
