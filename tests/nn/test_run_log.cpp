// Tests of the CSV run log: the header and rows on disk (readable while the run goes on, values
// exact), column access, the errors for a wrong row width or bad column names, and that its plot
// is a PNG file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../datasets/data_test_util.h"
#include "engine/error.h"
#include "nn/run_log.h"

using namespace dg;
using namespace dg::nn;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("RunLog: header once, each row on disk as soon as it is added", "[nn][run_log]") {
  test::TempDir dir;
  const std::string path = dir.file("sub/folder/run.csv");  // the folders are made
  RunLog log(path, {"epoch", "loss", "acc"});
  CHECK(read_text(path) == "epoch,loss,acc\n");
  log.add({1, 0.5, 0.25});
  CHECK(read_text(path) == "epoch,loss,acc\n1,0.5,0.25\n");  // flushed, the log still open
  log.add({2, 0.1 + 0.2, 1.0 / 3.0});
  // Shortest round-trip form: reading the text back gives the same doubles.
  std::istringstream lines(read_text(path));
  std::string line;
  std::getline(lines, line);
  std::getline(lines, line);
  std::getline(lines, line);
  CHECK(line == "2,0.30000000000000004,0.3333333333333333");
  CHECK(std::stod(line.substr(line.rfind(',') + 1)) == 1.0 / 3.0);

  CHECK(log.rows().size() == 2);
  CHECK(log.column("acc") == std::vector<double>{0.25, 1.0 / 3.0});
  CHECK_THROWS_WITH(log.column("nope"), Catch::Contains("no column 'nope'"));
}

TEST_CASE("RunLog: a row of the wrong width is an error naming the columns", "[nn][run_log]") {
  test::TempDir dir;
  RunLog log(dir.file("run.csv"), {"a", "b"});
  CHECK_THROWS_AS(log.add({1.0}), Error);
  CHECK_THROWS_WITH(log.add({1.0, 2.0, 3.0}), Catch::Contains("a row of 3 values for 2 columns (a,b)"));
  CHECK(log.rows().empty());
  CHECK(read_text(dir.file("run.csv")) == "a,b\n");  // nothing half-written
}

TEST_CASE("RunLog: column names are checked", "[nn][run_log]") {
  test::TempDir dir;
  CHECK_THROWS_AS(RunLog(dir.file("a.csv"), {}), Error);
  CHECK_THROWS_WITH(RunLog(dir.file("b.csv"), {"x", "x"}), Catch::Contains("'x' appears twice"));
  CHECK_THROWS_AS(RunLog(dir.file("c.csv"), {"x,y"}), Error);
  CHECK_THROWS_AS(RunLog(dir.file("d.csv"), {""}), Error);
}

TEST_CASE("RunLog: write_plot writes a PNG of the chosen columns", "[nn][run_log]") {
  test::TempDir dir;
  RunLog log(dir.file("run.csv"), {"epoch", "train", "test"});
  for (int e = 1; e <= 5; ++e) log.add({double(e), 1.0 / e, 1.5 / e});
  const std::string png = dir.file("run.png");
  log.write_plot(png, "epoch", {"train", "test"}, "loss");
  const std::string bytes = read_text(png);
  REQUIRE(bytes.size() > 8);
  CHECK(bytes.substr(1, 3) == "PNG");
  CHECK_THROWS_WITH(log.write_plot(png, "epoch", {"missing"}, "t"),
                    Catch::Contains("no column 'missing'"));
}
