// GLUE-format TSV reading: column choice by name, sentence pairs, class-id mapping (sorted or
// fixed order), regression labels, headerless files, and the errors for missing columns, ragged
// rows and unknown labels.
#include <catch2/catch.hpp>

#include "datasets/glue_tsv.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

TEST_CASE("glue_tsv: classification with text and label columns chosen by name",
          "[datasets][glue]") {
  test::TempDir dir;
  // SST-2 style, CRLF line ends, quotes kept as they are (GLUE files are unquoted).
  test::write_text(dir.file("train.tsv"),
                   "sentence\tlabel\r\n"
                   "a \"gripping\" film\tpositive\r\n"
                   "dull , dull , dull\tnegative\r\n"
                   "it 's fine\tneutral\r\n"
                   "a triumph\tpositive\r\n");
  GlueTsvOptions options;
  options.text_columns = {"sentence"};
  options.label_column = "label";
  const TextDataset data = read_glue_tsv(dir.file("train.tsv"), options);
  REQUIRE(data.size() == 4);
  CHECK(data.class_names == std::vector<std::string>{"negative", "neutral", "positive"});
  CHECK(data.examples[0].texts == std::vector<std::string>{"a \"gripping\" film"});
  CHECK(data.examples[0].label == 2);
  CHECK(data.examples[1].label == 0);
  CHECK(data.examples[2].label == 1);

  // A fixed class order (e.g. the training file's, to read its dev file with the same ids).
  options.class_names = {"positive", "negative", "neutral"};
  const TextDataset fixed = read_glue_tsv(dir.file("train.tsv"), options);
  CHECK(fixed.examples[0].label == 0);
  CHECK(fixed.examples[1].label == 1);
  options.class_names = {"positive", "negative"};
  CHECK_THROWS_WITH(read_glue_tsv(dir.file("train.tsv"), options),
                    Catch::Contains("line 4") && Catch::Contains("'neutral' is not one of the 2"));
}

TEST_CASE("glue_tsv: sentence pairs, regression labels and unlabelled test files",
          "[datasets][glue]") {
  test::TempDir dir;
  // STS-B style: extra columns are ignored, the pair is chosen by name.
  test::write_text(dir.file("sts.tsv"),
                   "index\tgenre\tsentence1\tsentence2\tscore\n"
                   "0\tmain-captions\tA plane is taking off.\tAn air plane is taking off.\t5.000\n"
                   "1\tmain-captions\tA man is playing a flute.\tA man is playing a flute.\t3.8\n"
                   "2\tmain-news\tx\ty\t-0.25e1\n");
  GlueTsvOptions options;
  options.text_columns = {"sentence1", "sentence2"};
  options.label_column = "score";
  options.regression = true;
  const TextDataset data = read_glue_tsv(dir.file("sts.tsv"), options);
  REQUIRE(data.size() == 3);
  CHECK(data.regression);
  CHECK(data.class_names.empty());
  CHECK(data.examples[0].texts ==
        std::vector<std::string>{"A plane is taking off.", "An air plane is taking off."});
  CHECK(data.examples[0].value == 5.0);
  CHECK(data.examples[1].value == 3.8);
  CHECK(data.examples[2].value == -2.5);

  options.label_column = "";  // a GLUE test file has no labels
  const TextDataset unlabelled = read_glue_tsv(dir.file("sts.tsv"), options);
  CHECK(unlabelled.examples[1].label == -1);

  test::write_text(dir.file("bad.tsv"), "s\tscore\nfine\t4.5\nbroken\tfour\n");
  options.text_columns = {"s"};
  options.label_column = "score";
  CHECK_THROWS_WITH(read_glue_tsv(dir.file("bad.tsv"), options),
                    Catch::Contains("line 3") && Catch::Contains("'four' is not a number"));
}

TEST_CASE("glue_tsv: headerless files take column names from the options", "[datasets][glue]") {
  test::TempDir dir;
  // CoLA's train.tsv: source, label, original label, sentence; no header.
  test::write_text(dir.file("cola.tsv"),
                   "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one.\n"
                   "gj04\t0\t*\tOne more pseudo generalization and I'm giving up.\n");
  GlueTsvOptions options;
  options.column_names = {"source", "label", "original", "sentence"};
  options.text_columns = {"sentence"};
  options.label_column = "label";
  const TextDataset data = read_glue_tsv(dir.file("cola.tsv"), options);
  REQUIRE(data.size() == 2);
  CHECK(data.class_names == std::vector<std::string>{"0", "1"});
  CHECK(data.examples[0].label == 1);
  CHECK(data.examples[1].texts[0] == "One more pseudo generalization and I'm giving up.");
}

TEST_CASE("glue_tsv: missing columns, ragged rows and missing files are clear errors",
          "[datasets][glue]") {
  test::TempDir dir;
  test::write_text(dir.file("t.tsv"), "sentence\tlabel\nok\t1\ntoo\tmany\tfields\n");
  GlueTsvOptions options;
  options.text_columns = {"sentence"};
  options.label_column = "labels";
  CHECK_THROWS_WITH(
      read_glue_tsv(dir.file("t.tsv"), options),
      Catch::Contains("no column 'labels'") && Catch::Contains("columns: sentence, label"));
  options.label_column = "label";
  CHECK_THROWS_WITH(read_glue_tsv(dir.file("t.tsv"), options),
                    Catch::Contains("line 3: 3 tab-separated fields, but the header has 2"));
  options.text_columns = {};
  CHECK_THROWS_WITH(read_glue_tsv(dir.file("t.tsv"), options), Catch::Contains("no text columns"));
  options.text_columns = {"sentence"};
  CHECK_THROWS_WITH(read_glue_tsv(dir.file("none.tsv"), options),
                    Catch::Contains("cannot open") && Catch::Contains("none.tsv"));
}
