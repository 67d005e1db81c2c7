// One entry point for every text task an experiment can run, so an example program needs no
// per-task code: load_text_task(name) returns the task's description (single sentence or pair,
// classes or regression, the metrics to report) and its train / validation / test TextDatasets.
//
// Names:
//  - "wordnet-supersense", "wordnet-hypernym-pair", "wordnet-path-similarity": the WordNet tasks of
//    wordnet_tasks.h, read from options.wordnet.path.
//  - "glue:DIR:TASK": a GLUE task folder in the layout of the GLUE download (train.tsv and
//    dev.tsv), DIR being the task's folder or the folder above it (DIR/TASK/train.tsv). TASK is one
//    of SST-2, CoLA, MRPC, STS-B, QNLI, RTE, WNLI, which fixes the columns and labels (below).
//    GLUE's test files carry no labels, so the labelled dev.tsv is the test split (as published
//    GLUE dev results are), and the validation split is a seeded glue_validation_fraction of
//    train.tsv (split_indices with options.wordnet.split_seed), the rest being the train split.
//    The max_*_examples caps of options.wordnet apply here too (first examples of each split;
//    train and validation are already in a seeded random order, dev.tsv keeps its file order).
//
// GLUE columns (as the GLUE download writes them):
//   SST-2  sentence                          label 0/1                 accuracy
//   CoLA   (no header) sentence              label 0/1                 matthews, accuracy
//   MRPC   "#1 String", "#2 String"          Quality 0/1               f1, accuracy
//   STS-B  sentence1, sentence2              score (regression)        pearson, spearman
//   QNLI   question, sentence                label (not_)entailment    accuracy
//   RTE    sentence1, sentence2              label (not_)entailment    accuracy
//   WNLI   sentence1, sentence2              label 0/1                 accuracy
// Metric names: "accuracy", "f1" (binary, of class 1), "macro_f1", "matthews", "pearson",
// "spearman" (datasets/metrics.h); the first listed is the task's headline metric.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "datasets/wordnet_tasks.h"

namespace dg::data {

struct TextTask {
  std::string name;                      // as passed to load_text_task
  bool sentence_pair = false;            // two texts per example, else one
  bool regression = false;               // a real target (TextExample::value), else class ids
  std::vector<std::string> class_names;  // class-id order; empty for regression
  std::vector<std::string> metrics;      // headline metric first
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
};

struct TextTaskData {
  TextTask task;
  TextSplits splits;
};

struct TextTaskOptions {
  WordNetTaskOptions wordnet;             // file, seeds, sizes and caps
  double glue_validation_fraction = 0.1;  // of train.tsv, for GLUE folders
};

TextTaskData load_text_task(const std::string& name, const TextTaskOptions& options = {});

// The WordNet task names and the GLUE task names load_text_task knows.
std::vector<std::string> wordnet_task_names();
std::vector<std::string> glue_task_names();

// Every metric of the task, in its order, as (name, value). Classification takes class ids,
// regression predicted values; `truth` is the split the predictions are for.
std::vector<std::pair<std::string, double>> evaluate_text_task(
    const TextTask& task, std::span<const int64_t> predicted_classes, const TextDataset& truth);
std::vector<std::pair<std::string, double>> evaluate_text_task(
    const TextTask& task, std::span<const double> predicted_values, const TextDataset& truth);

}  // namespace dg::data
