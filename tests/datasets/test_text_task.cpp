// load_text_task: the WordNet task names and GLUE folders (SST-2, CoLA, MRPC, STS-B, RTE written
// here in the GLUE download's column layout) give splits and a task description that an example
// can run without per-task code; evaluate_text_task computes the task's metrics (values worked by
// hand); unknown names and malformed GLUE names are clear errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <set>

#include "datasets/text_task.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

// `rows` data lines made by `row(i)`, after `header` (empty: no header line).
std::string tsv(const std::string& header, int rows, const std::function<std::string(int)>& row) {
  std::string text = header.empty() ? "" : header + "\n";
  for (int i = 0; i < rows; ++i) text += row(i) + "\n";
  return text;
}

}  // namespace

TEST_CASE("text_task: GLUE folders by task name, with each task's columns and labels",
          "[datasets][text_task]") {
  test::TempDir dir;
  const std::string root = dir.path().string();
  test::write_text(dir.file("SST-2/train.tsv"), tsv("sentence\tlabel", 20, [](int i) {
                     return fmt::format("sentence {}\t{}", i, i % 2);
                   }));
  test::write_text(dir.file("SST-2/dev.tsv"), tsv("sentence\tlabel", 3, [](int i) {
                     return fmt::format("dev {}\t{}", i, 1 - i % 2);
                   }));
  // DIR is the folder above the task's: DIR/SST-2/train.tsv.
  const TextTaskData sst = load_text_task("glue:" + root + ":SST-2");
  CHECK(sst.task.name == "glue:" + root + ":SST-2");
  CHECK_FALSE(sst.task.sentence_pair);
  CHECK_FALSE(sst.task.regression);
  CHECK(sst.task.class_names == std::vector<std::string>{"0", "1"});
  CHECK(sst.task.metrics == std::vector<std::string>{"accuracy"});
  // 10% of train.tsv, seeded, is the validation split; dev.tsv (file order) the test split.
  CHECK(sst.splits.train.size() == 18);
  CHECK(sst.splits.validation.size() == 2);
  REQUIRE(sst.splits.test.size() == 3);
  CHECK(sst.splits.test.examples[0].texts == std::vector<std::string>{"dev 0"});
  CHECK(sst.splits.test.examples[0].label == 1);
  std::set<std::string> seen;
  for (const TextDataset* part : {&sst.splits.train, &sst.splits.validation})
    for (const TextExample& e : part->examples) {
      seen.insert(e.texts[0]);
      CHECK(e.label == std::stoi(e.texts[0].substr(9)) % 2);
    }
  CHECK(seen.size() == 20);
  TextTaskOptions capped;
  capped.wordnet.max_train_examples = 5;
  capped.glue_validation_fraction = 0.5;
  const TextTaskData small = load_text_task("glue:" + root + ":SST-2", capped);
  CHECK(small.splits.train.size() == 5);
  CHECK(small.splits.validation.size() == 10);

  // MRPC, DIR being the task's own folder.
  test::write_text(
      dir.file("mrpc/train.tsv"),
      "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
      "1\t702876\t702977\tAmrozi accused his brother .\tReferring to him , Amrozi .\n"
      "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's .\n");
  test::write_text(dir.file("mrpc/dev.tsv"),
                   "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                   "1\t1\t2\tHe said .\tHe says .\n");
  const TextTaskData mrpc = load_text_task("glue:" + dir.file("mrpc") + ":MRPC");
  CHECK(mrpc.task.sentence_pair);
  CHECK(mrpc.task.metrics == std::vector<std::string>{"f1", "accuracy"});
  REQUIRE(mrpc.splits.test.size() == 1);
  CHECK(mrpc.splits.test.examples[0].texts == std::vector<std::string>{"He said .", "He says ."});
  CHECK(mrpc.splits.test.examples[0].label == 1);

  // STS-B: regression on the last column.
  const std::string sts_header =
      "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore";
  const auto sts_row = [](int i) {
    return fmt::format("{}\tmain-captions\tMSRvid\t2012test\t{}\tnone\tnone\tA {}\tB {}\t{}.5", i,
                       i, i, i, i % 5);
  };
  test::write_text(dir.file("STS-B/train.tsv"), tsv(sts_header, 10, sts_row));
  test::write_text(dir.file("STS-B/dev.tsv"), tsv(sts_header, 4, sts_row));
  const TextTaskData sts = load_text_task("glue:" + root + ":STS-B");
  CHECK(sts.task.regression);
  CHECK(sts.task.sentence_pair);
  CHECK(sts.task.class_names.empty());
  CHECK(sts.task.metrics == std::vector<std::string>{"pearson", "spearman"});
  REQUIRE(sts.splits.test.size() == 4);
  CHECK(sts.splits.test.examples[3].texts == std::vector<std::string>{"A 3", "B 3"});
  CHECK(sts.splits.test.examples[3].value == 3.5);

  // RTE: text labels in a fixed order, so train and dev ids agree.
  test::write_text(dir.file("RTE/train.tsv"),
                   "index\tsentence1\tsentence2\tlabel\n"
                   "0\tp\th\tnot_entailment\n1\tp2\th2\tentailment\n");
  test::write_text(dir.file("RTE/dev.tsv"),
                   "index\tsentence1\tsentence2\tlabel\n"
                   "0\tq\tr\tnot_entailment\n");
  const TextTaskData rte = load_text_task("glue:" + root + ":RTE");
  CHECK(rte.task.class_names == std::vector<std::string>{"entailment", "not_entailment"});
  CHECK(rte.splits.test.examples[0].label == 1);

  // CoLA: no header row; source, label, the author's mark, sentence.
  test::write_text(dir.file("CoLA/train.tsv"),
                   "gj04\t1\t\tOur friends won't buy this .\n"
                   "gj04\t0\t*\tThey drank the pub .\n");
  test::write_text(dir.file("CoLA/dev.tsv"), "gj04\t0\t*\tThe more we study .\n");
  const TextTaskData cola = load_text_task("glue:" + root + ":CoLA");
  CHECK(cola.task.metrics.front() == "matthews");
  CHECK(cola.splits.test.examples[0].texts == std::vector<std::string>{"The more we study ."});
  CHECK(cola.splits.test.examples[0].label == 0);
  CHECK(cola.splits.train.size() + cola.splits.validation.size() == 2);

  CHECK_THROWS_WITH(load_text_task("glue:" + root + ":QQQ"),
                    Catch::Contains("unknown GLUE task 'QQQ'") && Catch::Contains("STS-B"));
  CHECK_THROWS_WITH(load_text_task("glue:SST-2"), Catch::Contains("not of the form glue:DIR:TASK"));
  CHECK_THROWS_WITH(load_text_task("glue:" + dir.file("nothing") + ":SST-2"),
                    Catch::Contains("train.tsv"));
  CHECK_THROWS_WITH(load_text_task("imdb"), Catch::Contains("unknown task 'imdb'") &&
                                                Catch::Contains("wordnet-hypernym-pair"));
  TextTaskOptions bad;
  bad.glue_validation_fraction = 1.0;
  CHECK_THROWS_WITH(load_text_task("glue:" + root + ":SST-2", bad),
                    Catch::Contains("glue_validation_fraction 1 is not in [0, 1)"));
}

TEST_CASE("text_task: the WordNet tasks by name", "[datasets][text_task]") {
  test::TempDir dir;
  std::string text;
  // Two small hierarchies under one root: 0 <- 1..4 <- 5..24 (each i >= 5 under (i - 5) / 5 + 1).
  for (int i = 0; i < 25; ++i) {
    const int parent = i == 0 ? -1 : i <= 4 ? 0 : (i - 5) / 5 + 1;
    text += parent < 0 ? fmt::format("{:08d} 03 n 01 n{} 0 000 | gloss {}\n", 100 + i, i, i)
                       : fmt::format("{:08d} {:02d} n 01 n{} 0 001 @ {:08d} n 0000 | gloss {}\n",
                                     100 + i, 5 + i % 3, i, 100 + parent, i);
  }
  test::write_text(dir.file("data.noun"), text);
  TextTaskOptions options;
  options.wordnet.path = dir.file("data.noun");
  options.wordnet.train_fraction = 1.0;  // every link in train, so the pair task has pairs
  options.wordnet.validation_fraction = 0.0;
  options.wordnet.similarity_train_pairs = 10;

  const TextTaskData a = load_text_task("wordnet-supersense", options);
  CHECK_FALSE(a.task.sentence_pair);
  CHECK(a.task.num_classes() == 26);
  CHECK(a.task.metrics.front() == "accuracy");
  CHECK(a.splits.train.size() == 25);

  const TextTaskData b = load_text_task("wordnet-hypernym-pair", options);
  CHECK(b.task.sentence_pair);
  CHECK_FALSE(b.task.regression);
  CHECK(b.task.class_names == std::vector<std::string>{"not_hypernym", "hypernym"});
  // 24 links; the 4 under the root have no negative (every synset is the root's descendant), so
  // they are dropped with it: 20 positives and 20 negatives.
  CHECK(b.splits.train.size() == 40);
  CHECK(b.splits.test.size() == 0);

  const TextTaskData c = load_text_task("wordnet-path-similarity", options);
  CHECK(c.task.sentence_pair);
  CHECK(c.task.regression);
  CHECK(c.task.metrics == std::vector<std::string>{"pearson", "spearman"});
  // Distances here are at most 4 (leaf to leaf): bins d = 1, 2, 3..4 fill, 5..9 and >= 10 cannot.
  CHECK(c.splits.train.size() == 6);
  for (const TextExample& e : c.splits.train.examples) CHECK(e.value >= 2.0);

  CHECK(wordnet_task_names().size() == 3);
  CHECK(glue_task_names().size() == 7);
}

TEST_CASE("text_task: evaluate_text_task reports the task's metrics", "[datasets][text_task]") {
  TextTask mrpc{"mrpc", true, false, {"0", "1"}, {"f1", "accuracy"}};
  TextDataset truth;
  for (int64_t y : {1, 1, 1, 0, 0}) truth.examples.push_back({{"a", "b"}, y, 0.0});
  // Predictions 1, 0, 1, 1, 0: TP 2, FN 1, FP 1, TN 1 -> F1 = 4 / (4 + 1 + 1), accuracy 3/5.
  const std::vector<int64_t> predicted = {1, 0, 1, 1, 0};
  const auto scores = evaluate_text_task(mrpc, predicted, truth);
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].first == "f1");
  CHECK(scores[0].second == Approx(4.0 / 6.0));
  CHECK(scores[1].first == "accuracy");
  CHECK(scores[1].second == Approx(0.6));

  TextTask sts{"sts", true, true, {}, {"pearson", "spearman"}};
  TextDataset targets;
  for (double v : {1.0, 2.0, 3.0, 4.0, 5.0}) targets.examples.push_back({{"a", "b"}, -1, v});
  // Predictions 2, 4, 5, 4, 5 against 1..5: Pearson 6 / sqrt(60), Spearman 7 / sqrt(90) (ties
  // averaged; the derivation is in test_metrics.cpp).
  const std::vector<double> values = {2, 4, 5, 4, 5};
  const auto correlations = evaluate_text_task(sts, values, targets);
  CHECK(correlations[0].second == Approx(6.0 / std::sqrt(60.0)));
  CHECK(correlations[1].second == Approx(7.0 / std::sqrt(90.0)));

  CHECK_THROWS_WITH(evaluate_text_task(sts, predicted, truth), Catch::Contains("regression task"));
  CHECK_THROWS_WITH(evaluate_text_task(mrpc, values, targets),
                    Catch::Contains("classification task"));
  mrpc.metrics = {"bleu"};
  CHECK_THROWS_WITH(evaluate_text_task(mrpc, predicted, truth),
                    Catch::Contains("'bleu' is not a classification metric"));
}
