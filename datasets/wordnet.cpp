// Parsing WordNet's data.noun into gloss-classification examples (see wordnet.h). A synset line
// reads "offset lex_filenum ss_type w_cnt word lex_id ... p_cnt pointers ... | gloss"; only the
// lexicographer file number and the gloss are used. The license header lines start with two spaces.
#include "datasets/wordnet.h"

#include <algorithm>
#include <filesystem>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {

const std::array<const char*, 26> kNounSupersenses = {
    "noun.Tops",     "noun.act",        "noun.animal",        "noun.artifact",   "noun.attribute",
    "noun.body",     "noun.cognition",  "noun.communication", "noun.event",      "noun.feeling",
    "noun.food",     "noun.group",      "noun.location",      "noun.motive",     "noun.object",
    "noun.person",   "noun.phenomenon", "noun.plant",         "noun.possession", "noun.process",
    "noun.quantity", "noun.relation",   "noun.shape",         "noun.state",      "noun.substance",
    "noun.time"};

namespace {

constexpr int kFirstNounFile = 3, kLastNounFile = 28;  // noun.Tops .. noun.time

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool wordnet_available(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

TextDataset read_wordnet_glosses(const WordNetOptions& options) {
  const std::vector<uint8_t> bytes =
      read_file_bytes(options.path, "wordnet",
                      "WordNet's data files come from the Debian package wordnet-base (apt-get "
                      "install wordnet-base)");
  const std::string_view text = utf8_text(bytes, "wordnet", options.path);

  TextDataset data;
  const int first_class = options.include_tops ? kFirstNounFile : kFirstNounFile + 1;
  for (int f = first_class; f <= kLastNounFile; ++f)
    data.class_names.emplace_back(kNounSupersenses[f - kFirstNounFile]);

  size_t pos = 0;
  int64_t line_number = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (line.starts_with("  ") || trim(line).empty()) continue;  // license header, blank lines

    // "offset lex_filenum ss_type ...": an 8-digit offset, then a 2-digit decimal file number.
    const size_t gloss_bar = line.find('|');
    const bool well_formed = line.size() >= 14 &&
                             std::all_of(line.begin(), line.begin() + 8, is_digit) &&
                             line[8] == ' ' && is_digit(line[9]) && is_digit(line[10]) &&
                             line[11] == ' ' && gloss_bar != std::string_view::npos;
    check(well_formed,
          "wordnet: '{}' line {}: not a synset line (expected \"offset lex_filenum ss_type ... | "
          "gloss\"): '{}'",
          options.path, line_number, line.substr(0, 60));
    const int lex_file = (line[9] - '0') * 10 + (line[10] - '0');
    check(lex_file >= kFirstNounFile && lex_file <= kLastNounFile,
          "wordnet: '{}' line {}: lexicographer file {:02d} is not a noun file (03-28)",
          options.path, line_number, lex_file);
    if (lex_file < first_class) continue;  // noun.Tops, when excluded

    const std::string_view gloss = trim(line.substr(gloss_bar + 1));
    check(!gloss.empty(), "wordnet: '{}' line {}: empty gloss", options.path, line_number);
    TextExample example;
    example.texts.emplace_back(gloss);
    example.label = lex_file - first_class;
    data.examples.push_back(std::move(example));
  }
  check(!data.examples.empty(), "wordnet: '{}' holds no synsets", options.path);
  return data;
}

TextSplits wordnet_gloss_splits(const WordNetOptions& options) {
  const TextDataset all = read_wordnet_glosses(options);
  const auto parts = split_indices(all.size(),
                                   {options.train_fraction, options.validation_fraction,
                                    1.0 - options.train_fraction - options.validation_fraction},
                                   options.split_seed);
  return {all.subset(parts[0]), all.subset(parts[1]), all.subset(parts[2])};
}

}  // namespace dg::data
