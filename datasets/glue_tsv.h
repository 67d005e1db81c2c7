// Reading GLUE-format TSV files (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, ...): tab-separated fields,
// one example per line, a header row naming the columns. The caller picks the text column(s) and
// the label column by name. GLUE files are not quoted: a field is everything between two tabs,
// quotes included, so no field may contain a tab or newline. A trailing '\r' (CRLF files) is
// dropped. Every data row must have exactly as many fields as the header.
//
// Labels: for classification, label strings become class ids, either in the order given in
// `class_names` (pass the training file's class names when reading its dev file, so ids agree) or,
// when none are given, in sorted order of the labels found. For regression (STS-B) the label is
// parsed as a number, which must be finite (nan and inf are errors). Spaces around a label are
// dropped ("1 " is class "1", not a new class). With no label column (GLUE test files), examples
// get label -1.
//
// Text: the file must be UTF-8 (other bytes are an error naming the line); a UTF-8 byte-order
// mark before the header is dropped.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace dg::data {

struct GlueTsvOptions {
  std::vector<std::string> text_columns;  // one (single sentence) or two (a sentence pair)
  std::string label_column;               // empty: no labels
  bool regression = false;
  std::vector<std::string> class_names;  // fixed label order (classification); empty: sorted
  // For files without a header row (CoLA's train/dev files): the column names to use; the first
  // line is then data.
  std::vector<std::string> column_names;
};

TextDataset read_glue_tsv(const std::string& path, const GlueTsvOptions& options);

}  // namespace dg::data
