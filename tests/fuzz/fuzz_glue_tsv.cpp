// Fuzz target: the GLUE TSV reader. The first input byte picks the task shape (classification or
// regression, a sentence or a pair, a header row or given column names, a fixed class order); the
// rest is the file.
#include "datasets/glue_tsv.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string path = dg::fuzz::write_input(data + 1, size - 1, "train.tsv");
  dg::data::GlueTsvOptions options;
  options.text_columns = {"sentence1"};
  if (mode & 1) options.text_columns.push_back("sentence2");
  options.regression = mode & 2;
  options.label_column = (mode & 4) ? "" : "label";
  if (mode & 8) options.column_names = {"sentence1", "sentence2", "label"};
  if ((mode & 16) && !options.regression) options.class_names = {"0", "1", "entailment"};
  try {
    const dg::data::TextDataset set = dg::data::read_glue_tsv(path, options);
    size_t chars = 0;
    for (const dg::data::TextExample& e : set.examples)
      for (const std::string& text : e.texts) chars += text.size();
    static volatile size_t sink;
    sink = chars;  // keeps the reads
  } catch (const dg::Error&) {
  }
  return 0;
}
