// The text-task registry (see text_task.h): WordNet task names to their builders, GLUE folder names
// to the TSV reader with each task's column conventions, and metric names to datasets/metrics.h.
#include "datasets/text_task.h"

#include <filesystem>

#include "datasets/glue_tsv.h"
#include "datasets/metrics.h"
#include "engine/error.h"

namespace dg::data {
namespace {

struct GlueConvention {
  const char* task;
  std::vector<std::string> text_columns;
  std::string label_column;
  bool regression;
  std::vector<std::string> class_names;
  std::vector<std::string> metrics;
  std::vector<std::string> column_names;  // files without a header row (CoLA)
};

const std::vector<GlueConvention>& glue_conventions() {
  static const std::vector<GlueConvention> conventions = {
      {"SST-2", {"sentence"}, "label", false, {"0", "1"}, {"accuracy"}, {}},
      {"CoLA",
       {"sentence"},
       "label",
       false,
       {"0", "1"},
       {"matthews", "accuracy"},
       {"source", "label", "original_label", "sentence"}},
      {"MRPC", {"#1 String", "#2 String"}, "Quality", false, {"0", "1"}, {"f1", "accuracy"}, {}},
      {"STS-B", {"sentence1", "sentence2"}, "score", true, {}, {"pearson", "spearman"}, {}},
      {"QNLI",
       {"question", "sentence"},
       "label",
       false,
       {"entailment", "not_entailment"},
       {"accuracy"},
       {}},
      {"RTE",
       {"sentence1", "sentence2"},
       "label",
       false,
       {"entailment", "not_entailment"},
       {"accuracy"},
       {}},
      {"WNLI", {"sentence1", "sentence2"}, "label", false, {"0", "1"}, {"accuracy"}, {}},
  };
  return conventions;
}

void apply_cap(TextDataset& data, int64_t cap) {
  check(cap >= 0, "load_text_task: max examples per split must be >= 0, got {}", cap);
  if (cap > 0 && data.size() > cap) data.examples.resize(cap);
}

TextTaskData load_glue(const std::string& name, const TextTaskOptions& options) {
  // "glue:DIR:TASK": DIR may itself hold ':', so TASK is what follows the last one.
  const std::string rest = name.substr(5);
  const size_t colon = rest.rfind(':');
  check(colon != std::string::npos && colon > 0 && colon + 1 < rest.size(),
        "load_text_task: '{}' is not of the form glue:DIR:TASK", name);
  const std::string dir = rest.substr(0, colon), task_name = rest.substr(colon + 1);
  const GlueConvention* convention = nullptr;
  for (const GlueConvention& c : glue_conventions())
    if (task_name == c.task) convention = &c;
  if (!convention) {
    std::string known;
    for (const std::string& n : glue_task_names()) known += (known.empty() ? "" : ", ") + n;
    fail("load_text_task: unknown GLUE task '{}' in '{}' (known: {})", task_name, name, known);
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path folder = dir;
  if (!fs::is_regular_file(folder / "train.tsv", ec) &&
      fs::is_regular_file(folder / task_name / "train.tsv", ec))
    folder /= task_name;

  GlueTsvOptions tsv;
  tsv.text_columns = convention->text_columns;
  tsv.label_column = convention->label_column;
  tsv.regression = convention->regression;
  tsv.class_names = convention->class_names;
  tsv.column_names = convention->column_names;
  const TextDataset train_file = read_glue_tsv((folder / "train.tsv").string(), tsv);
  const TextDataset dev_file = read_glue_tsv((folder / "dev.tsv").string(), tsv);

  const double v = options.glue_validation_fraction;
  check(v >= 0 && v < 1, "load_text_task: glue_validation_fraction {} is not in [0, 1)", v);
  const auto parts = split_indices(train_file.size(), {1.0 - v, v}, options.wordnet.split_seed);
  TextTaskData out;
  out.task = {name, convention->text_columns.size() == 2, convention->regression,
              convention->class_names, convention->metrics};
  out.splits = {train_file.subset(parts[0]), train_file.subset(parts[1]), dev_file};
  apply_cap(out.splits.train, options.wordnet.max_train_examples);
  apply_cap(out.splits.validation, options.wordnet.max_validation_examples);
  apply_cap(out.splits.test, options.wordnet.max_test_examples);
  return out;
}

double metric(const std::string& name, std::span<const int64_t> predicted,
              std::span<const int64_t> labels) {
  if (name == "accuracy") return accuracy(predicted, labels);
  if (name == "f1") return binary_f1(predicted, labels);
  if (name == "macro_f1") return macro_f1(predicted, labels);
  if (name == "matthews") return matthews_corrcoef(predicted, labels);
  fail("evaluate_text_task: '{}' is not a classification metric", name);
}

double metric(const std::string& name, std::span<const double> predicted,
              std::span<const double> targets) {
  if (name == "pearson") return pearson(predicted, targets);
  if (name == "spearman") return spearman(predicted, targets);
  fail("evaluate_text_task: '{}' is not a regression metric", name);
}

}  // namespace

std::vector<std::string> wordnet_task_names() {
  return {"wordnet-supersense", "wordnet-hypernym-pair", "wordnet-path-similarity"};
}

std::vector<std::string> glue_task_names() {
  std::vector<std::string> names;
  for (const GlueConvention& c : glue_conventions()) names.emplace_back(c.task);
  return names;
}

TextTaskData load_text_task(const std::string& name, const TextTaskOptions& options) {
  if (name.starts_with("glue:")) return load_glue(name, options);
  const WordNetTaskOptions& o = options.wordnet;
  TextTaskData out;
  if (name == "wordnet-supersense") {
    out.splits = wordnet_supersense_task(o);
    out.task = {name, false, false, out.splits.train.class_names, {"accuracy", "macro_f1"}};
  } else if (name == "wordnet-hypernym-pair") {
    out.splits = wordnet_hypernym_pair_task(o);
    out.task = {name, true, false, out.splits.train.class_names, {"accuracy", "f1"}};
  } else if (name == "wordnet-path-similarity") {
    out.splits = wordnet_path_similarity_task(o);
    out.task = {name, true, true, {}, {"pearson", "spearman"}};
  } else {
    std::string known;
    for (const std::string& n : wordnet_task_names()) known += n + ", ";
    fail("load_text_task: unknown task '{}' (known: {}glue:DIR:TASK)", name, known);
  }
  return out;
}

std::vector<std::pair<std::string, double>> evaluate_text_task(
    const TextTask& task, std::span<const int64_t> predicted_classes, const TextDataset& truth) {
  check(!task.regression,
        "evaluate_text_task: '{}' is a regression task; pass predicted values, not class ids",
        task.name);
  std::vector<int64_t> labels;
  labels.reserve(truth.examples.size());
  for (const TextExample& e : truth.examples) labels.push_back(e.label);
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& m : task.metrics)
    out.emplace_back(m, metric(m, predicted_classes, labels));
  return out;
}

std::vector<std::pair<std::string, double>> evaluate_text_task(
    const TextTask& task, std::span<const double> predicted_values, const TextDataset& truth) {
  check(task.regression,
        "evaluate_text_task: '{}' is a classification task; pass class ids, not values", task.name);
  std::vector<double> targets;
  targets.reserve(truth.examples.size());
  for (const TextExample& e : truth.examples) targets.push_back(e.value);
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& m : task.metrics)
    out.emplace_back(m, metric(m, predicted_values, targets));
  return out;
}

}  // namespace dg::data
