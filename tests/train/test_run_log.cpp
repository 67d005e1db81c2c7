// Tests of the CSV run log: the header and rows on disk (readable while the run goes on, values
// exact), text cells, column access, the errors for a wrong row width or bad column names, and
// reading the file back.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../datasets/data_test_util.h"
#include "engine/error.h"
#include "nn/train/run_log.h"

using namespace dg;
using namespace dg::train;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("RunLog: header once, each row on disk as soon as it is added", "[train][run_log]") {
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

TEST_CASE("RunLog: a row of the wrong width is an error naming the columns", "[train][run_log]") {
  test::TempDir dir;
  RunLog log(dir.file("run.csv"), {"a", "b"});
  CHECK_THROWS_AS(log.add({1.0}), Error);
  CHECK_THROWS_WITH(log.add({1.0, 2.0, 3.0}),
                    Catch::Contains("a row of 3 values for 2 columns (a,b)"));
  CHECK(log.rows().empty());
  CHECK(read_text(dir.file("run.csv")) == "a,b\n");  // nothing half-written
}

TEST_CASE("RunLog: column names are checked", "[train][run_log]") {
  test::TempDir dir;
  CHECK_THROWS_AS(RunLog(dir.file("a.csv"), {}), Error);
  CHECK_THROWS_WITH(RunLog(dir.file("b.csv"), {"x", "x"}), Catch::Contains("'x' appears twice"));
  CHECK_THROWS_AS(RunLog(dir.file("c.csv"), {"x,y"}), Error);
  CHECK_THROWS_AS(RunLog(dir.file("d.csv"), {""}), Error);
}

TEST_CASE("RunLog: text cells name what a row is about, and read back", "[train][run_log]") {
  test::TempDir dir;
  const std::string path = dir.file("sweep.csv");
  RunLog log(path, {"method", "seed", "top1"});
  log.add({"PAD-Net", 0, 0.875});
  log.add({std::string("DY-Conv"), int64_t{1}, 1.0 / 3.0});
  CHECK(read_text(path) == "method,seed,top1\nPAD-Net,0,0.875\nDY-Conv,1,0.3333333333333333\n");
  CHECK_THROWS_WITH(log.column("method"), Catch::Contains("'PAD-Net' is a text"));
  CHECK_THROWS_WITH(log.add({"a\nb", 0, 0.0}), Catch::Contains("holds a line break"));
  log.add({"lambda_s, \"lambda_d\"", 2, 0.5});  // quoted, quotes doubled

  const CsvTable table = read_csv(path);
  CHECK(table.columns == std::vector<std::string>{"method", "seed", "top1"});
  CHECK(read_text(path).find("\"lambda_s, \"\"lambda_d\"\"\",2,0.5\n") != std::string::npos);
  CHECK(table.texts("method") ==
        std::vector<std::string>{"PAD-Net", "DY-Conv", "lambda_s, \"lambda_d\""});
  CHECK(table.numbers("top1") == std::vector<double>{0.875, 1.0 / 3.0, 0.5});  // exact round trip
  CHECK_THROWS_WITH(table.numbers("method"), Catch::Contains("'PAD-Net', not a number"));
  CHECK_THROWS_WITH(table.texts("nope"), Catch::Contains("no column 'nope'"));
}

TEST_CASE("read_csv: a missing file or a ragged row is an error naming the file",
          "[train][run_log]") {
  test::TempDir dir;
  CHECK_THROWS_WITH(read_csv(dir.file("absent.csv")), Catch::Contains("cannot open"));
  std::ofstream(dir.file("ragged.csv")) << "a,b\n1,2\n3\n";
  CHECK_THROWS_WITH(read_csv(dir.file("ragged.csv")),
                    Catch::Contains("line 3 has 1 cells for 2 columns"));
  std::ofstream(dir.file("open.csv")) << "a,b\n\"x,2\n";
  CHECK_THROWS_WITH(read_csv(dir.file("open.csv")),
                    Catch::Contains("line 2 has an unterminated quote"));
}
